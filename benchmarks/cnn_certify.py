"""Certification of the shipped digits CNN (``digits_cnn.onnx``) by every method on the first test points.

Each point gets an ℓ∞ ball of radius ε (within [0, 1]); PGD runs first (its counterexamples
decide a point for every method), then CROWN, then each method on the targets CROWN leaves
open. Prints the CLI's summary table, how many points each method decides, and the target
figures: ``exact`` decides every point; ``sdp`` certifies within 5 points of ``exact``.

Usage: ``python benchmarks/cnn_certify.py [--limit 100] [--eps 0.05] [--methods pgd lp sdp sdp-fo exact]``
"""

from __future__ import annotations

import argparse
import platform

from qcqp.app.certify import Options
from qcqp.app.dataset import digits_instances, nominal_correct, run, shipped_models
from qcqp.app.report import format_table, summarise
from qcqp.frontends.loaders import load_network


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--eps", type=float, default=0.05)
    parser.add_argument("--methods", nargs="+", default=["pgd", "lp", "sdp", "sdp-fo", "exact"])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per solve")
    args = parser.parse_args()
    net = load_network(shipped_models()["digits_cnn.onnx"])
    instances = digits_instances(net, args.eps, args.limit)
    print(f"machine: {platform.machine()}, python {platform.python_version()}; shipped digits CNN "
          f"{'-'.join(str(s) for s in net.layer_sizes)}, ε {args.eps} (ℓ∞), first {args.limit} test points")
    runs = run(net, instances, args.methods, Options(time_limit=args.timeout), quiet=True)
    print(format_table(summarise(runs, nominal_correct(net, instances))))
    counts = {m: {s: sum(r["status"] == s for r in rows) for s in ("certified", "falsified", "unknown")}
              for m, rows in runs.items()}
    for method, c in counts.items():
        print(f"{method}: certified {c['certified']}, falsified {c['falsified']}, unknown {c['unknown']}")
    if "exact" in counts and "sdp" in counts:
        gap = counts["exact"]["certified"] - counts["sdp"]["certified"]
        print(f"exact decides {args.limit - counts['exact']['unknown']} of {args.limit}; "
              f"sdp certifies {gap} point(s) fewer than exact")


if __name__ == "__main__":
    main()
