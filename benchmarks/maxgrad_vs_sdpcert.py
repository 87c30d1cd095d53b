"""MAXGRAD (RSL18a) versus SDP-CERT (RSL18b) and LP on a one-hidden-layer digits net.

MAXGRAD needs two-layer nets, so this trains one (64-h-10, same recipe and split as the
shipped net) and certifies the first test points at several ε with: MAXGRAD's gradient
bound (sdp), SDP-CERT (sdp), LP, and PGD as the upper limit. Prints a markdown table.
Usage: ``python benchmarks/maxgrad_vs_sdpcert.py [--limit 30] [--eps 0.01 0.02 0.05]``
"""

from __future__ import annotations

import argparse
import time

from qcqp.app.certify import Options, analyse
from qcqp.frontends.maxgrad import maxgrad_certify
from qcqp.frontends.models.train_digits import digits_split, train
from qcqp.frontends.network import Network
from qcqp.frontends.specs import linf_ball, margin_spec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=16, help="hidden width of the 64-h-10 net")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.01, 0.02, 0.05])
    args = parser.parse_args()
    params, _, _ = train(sizes=(64, args.hidden, 10))
    net = Network((params[0], params[2]), (params[1], params[3]), ("relu",))
    _, _, x_test, y_test = digits_split()
    print("| ε | PGD acc. | LP cert. | SDP-CERT cert. | MAXGRAD cert. | MAXGRAD s/inst | SDP-CERT s/inst |")
    print("|---|---|---|---|---|---|---|")
    for eps in args.eps:
        counts = {"pgd": 0, "lp": 0, "sdp": 0, "maxgrad": 0}
        times = {"sdp": 0.0, "maxgrad": 0.0}
        for x, y in zip(x_test[: args.limit], y_test[: args.limit]):
            box = linf_ball(x, eps)
            inst = margin_spec(box, int(y), 10)
            start = time.perf_counter()
            rows = analyse(net, inst, ["pgd", "lp", "sdp"], Options(pgd_steps=50, pgd_restarts=5))
            times["sdp"] += time.perf_counter() - start
            counts["pgd"] += rows["pgd"]["status"] != "falsified"
            counts["lp"] += rows["lp"]["status"] == "certified"
            counts["sdp"] += rows["sdp"]["status"] == "certified"
            start = time.perf_counter()
            if net.forward(x).argmax() == y:
                counts["maxgrad"] += maxgrad_certify(net, box, int(y), eps)[0]
            times["maxgrad"] += time.perf_counter() - start
        n = args.limit
        print(f"| {eps} | {counts['pgd'] / n:.2f} | {counts['lp'] / n:.2f} | {counts['sdp'] / n:.2f} | "
              f"{counts['maxgrad'] / n:.2f} | {times['maxgrad'] / n:.2f} | {times['sdp'] / n:.2f} |", flush=True)


if __name__ == "__main__":
    main()
