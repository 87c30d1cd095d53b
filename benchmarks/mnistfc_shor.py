"""The exact Shor optimum against the LP on VNN-COMP mnistfc: hardest target of every property.

For each property (784-256-256-10 net), the target with the lowest CROWN bound is bounded
by the LP and by the Shor SDP through an interior point (``--solver``, default auto), each
relaxation built once. Prints one row per property and how many properties each method's
bound proves on that target (bound > 0). Needs ``../shared/data/mnistfc``.

Usage: ``python benchmarks/mnistfc_shor.py [--props 0 1 ...] [--eps 0.03 0.05] [--solver sdpa]``
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from qcqp.frontends.bounds import crown_bounds, linear_objective_bound
from qcqp.frontends.encode import encode_network
from qcqp.frontends.loaders import load_onnx
from qcqp.frontends.specs import load_vnnlib

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnistfc"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--props", type=int, nargs="+", default=list(range(15)))
    parser.add_argument("--eps", nargs="+", default=["0.03", "0.05"])
    parser.add_argument("--solver", default="auto")
    args = parser.parse_args()
    net = load_onnx(args.data / "mnist-net_256x2.onnx")
    print(f"machine: {platform.machine()}, python {platform.python_version()}; SDP solver {args.solver}")
    print("| property | N | CROWN | LP | LP s | Shor SDP | SDP s | SDP status |")
    print("|---|---|---|---|---|---|---|---|")
    proven = {"crown": 0, "lp": 0, "sdp": 0}
    for eps in args.eps:
        for i in args.props:
            spec = load_vnnlib(args.data / f"prop_{i}_{eps}.vnnlib", net.input_size, net.output_size)
            box = spec.box
            pre = crown_bounds(net, box.lower, box.upper)
            crown, (a, b) = min(((linear_objective_bound(net, a, pre, box.lower, box.upper) + b, (a, b))
                                 for a, b in spec.atoms), key=lambda pair: pair[0])
            enc = encode_network(net, box, pre)
            start = time.perf_counter()
            lp = enc.solve("lp", a, b)
            middle = time.perf_counter()
            sdp = enc.solve("sdp", a, b, solver=args.solver)
            end = time.perf_counter()
            for name, value in (("crown", crown), ("lp", lp.bound), ("sdp", sdp.bound)):
                proven[name] += value > 0
            print(f"| prop_{i}_{eps} | {sdp.stats['dim']} | {crown:+.4f} | {lp.bound:+.4f} | {middle - start:.1f} | "
                  f"{sdp.bound:+.4f} | {end - middle:.1f} | {sdp.status.value} ({sdp.stats.get('solver')}) |",
                  flush=True)
    print(f"hardest target proven (bound > 0): {proven}")


if __name__ == "__main__":
    main()
