"""ℓ2 certification of the shipped digits MLP: what the SDP buys when the input set is a ball.

For each ε, the first test points get an ℓ2 ball ``‖x − x0‖₂ <= ε`` (within [0, 1]) and are
analysed by PGD (ellipsoid-norm steps), ``lp`` (which only sees the ball's bounding box),
``sdp`` (the ball as one quadratic row of the Shor relaxation) and ``exact`` (spatial branch
and bound, with a time limit per target: an unfinished search leaves the point unknown).
Prints a markdown table of certified accuracy and, with ``--plot``, draws it.

Usage: ``python benchmarks/l2_certify.py [--limit 30] [--eps 0.1 0.2 0.3 0.4] [--exact-limit 20] [--plot PNG]``
"""

from __future__ import annotations

import argparse
import platform
import time

from qcqp.app.certify import Options, analyse
from qcqp.app.dataset import default_model_path, digits_instances
from qcqp.frontends.loaders import load_network

METHODS = ["pgd", "lp", "sdp", "exact"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4])
    parser.add_argument("--exact-limit", type=float, default=20.0, help="exact's seconds per target")
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--plot", help="write the certified-accuracy figure here")
    args = parser.parse_args()
    net = load_network(default_model_path())
    print(f"machine: {platform.machine()}, python {platform.python_version()}; shipped digits net "
          f"{net.input_size}-{'-'.join(str(W.shape[0]) for W in net.weights)}, first {args.limit} test points")
    print("| ε (ℓ2) | PGD falsified | " + " | ".join(f"{m} certified (s/point)" for m in args.methods[1:]) + " |")
    print("|---|---|" + "---|" * (len(args.methods) - 1))
    curves = {m: [] for m in args.methods}
    for eps in args.eps:
        counts, seconds = dict.fromkeys(args.methods, 0), dict.fromkeys(args.methods, 0.0)
        for spec in digits_instances(net, eps, args.limit, norm="2"):
            for method in args.methods:
                start = time.perf_counter()
                options = Options(time_limit=args.exact_limit if method == "exact" else 120.0)
                row = analyse(net, spec, [method], options)[method]
                seconds[method] += time.perf_counter() - start
                counts[method] += row["status"] == ("falsified" if method == "pgd" else "certified")
        n = args.limit
        for method in args.methods:
            curves[method].append(counts[method] / n)
        cells = [f"{counts[m] / n:.2f} ({seconds[m] / n:.1f})" for m in args.methods[1:]]
        print(f"| {eps} | {counts['pgd'] / n:.2f} | " + " | ".join(cells) + " |", flush=True)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for method in args.methods[1:]:
            limit = f" ({args.exact_limit:g} s per target)" if method == "exact" else ""
            ax.plot(args.eps, curves[method], marker="o", label=f"{method} certified{limit}")
        ax.plot(args.eps, [1 - v for v in curves["pgd"]], "k--", label="PGD upper limit (1 − falsified)")
        ax.set_xlabel("ε (ℓ2 radius)")
        ax.set_ylabel(f"fraction of the first {args.limit} test points")
        ax.set_title("ℓ2 certification, shipped digits MLP")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
