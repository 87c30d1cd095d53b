"""Certified training (RSL18a) on digits: three 64-32-10 nets — normally, PGD- and SDP-trained.

For every shipped net and ε: nominal accuracy, PGD accuracy (an upper limit on any
certificate), and the certified accuracy of MAXGRAD (RSL18a's data-independent gradient
bounds: one Shor SDP per class pair, rigorous), LP, SDP-CERT (the ``sdp`` backend) and the
exact MILP, on the digits test split (the split the nets were trained on). Prints markdown
tables; ``--figure`` draws accuracy against ε per net.
Usage: ``python benchmarks/certified_training.py [--limit 450] [--eps 0.02 0.05 0.1] [--figure F]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from qcqp.app.certify import Options
from qcqp.app.dataset import digits_instances, run, shipped_models
from qcqp.frontends.loaders import load_network
from qcqp.frontends.maxgrad import certified_by_gradient_bounds, gradient_bounds
from qcqp.frontends.models.train_digits import digits_split

NETS = {"normal": "digits_2layer.npz", "PGD-trained": "digits_pgd_trained.npz",
        "SDP-trained": "digits_sdp_trained.npz"}
METHODS = ["pgd", "lp", "sdp", "exact"]
COLUMNS = ["nominal", "PGD", "MAXGRAD", "LP", "SDP-CERT", "exact"]


def evaluate(net, x, y, eps: float, G: np.ndarray) -> tuple[dict[str, float], float]:
    """Accuracies (fractions of the points) and seconds per point for the pipeline's methods."""
    start = time.perf_counter()
    rows = run(net, digits_instances(net, eps, len(y)), METHODS, Options(), quiet=True)
    seconds = (time.perf_counter() - start) / len(y)
    nominal = net.forward(x).argmax(axis=1) == y
    figures = {"nominal": nominal.mean(),
               "PGD": np.mean([nominal[i] and r["status"] != "falsified" for i, r in enumerate(rows["pgd"])]),
               "MAXGRAD": np.mean(nominal & certified_by_gradient_bounds(net, x, y, eps, G))}
    for method, column in zip(METHODS[1:], COLUMNS[3:]):
        figures[column] = np.mean([r["status"] == "certified" for r in rows[method]])
    return figures, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=450, help="test points (default all 450)")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    parser.add_argument("--figure", help="write accuracy against ε per net to this PNG")
    args = parser.parse_args()
    _, _, x_test, y_test = digits_split()
    x, y = x_test[: args.limit], y_test[: args.limit]
    results = {}
    for title, name in NETS.items():
        net = load_network(shipped_models()[name])
        start = time.perf_counter()
        G = gradient_bounds(net, family="shor", polish=0)
        print(f"\n### {title} net ({name}); MAXGRAD bounds: {time.perf_counter() - start:.1f} s, "
              f"mean G {G[np.triu_indices(10, 1)].mean():.2f}\n")
        print("| ε | " + " | ".join(COLUMNS) + " | s/point |")
        print("|---" * (len(COLUMNS) + 2) + "|")
        for eps in args.eps:
            figures, seconds = evaluate(net, x, y, eps, G)
            results[title, eps] = figures
            print(f"| {eps} | " + " | ".join(f"{figures[c]:.3f}" for c in COLUMNS) + f" | {seconds:.2f} |",
                  flush=True)
    if args.figure:
        plot(results, args.eps, args.figure)
        print(f"\nwrote {args.figure}")


def plot(results: dict, eps: list[float], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(NETS), figsize=(4 * len(NETS), 3.4), sharey=True)
    for ax, title in zip(axes, NETS):
        for column in COLUMNS:
            ax.plot(eps, [results[title, e][column] for e in eps], marker="o", label=column)
        ax.set_title(f"{title} 64-32-10")
        ax.set_xlabel("ε (ℓ∞)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy on the digits test split")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
