"""The exact Shor optimum against the LP on VNN-COMP mnistfc: hardest target of every property.

For each property (784-256-256-10 net), the target with the lowest CROWN bound is bounded
by the LP and by the Shor SDP through an interior point (``--solver``, default auto), each
relaxation built once. Prints one row per property and how many properties each method's
bound proves on that target (bound > 0). Needs ``../shared/data/mnistfc``.

Usage: ``python benchmarks/mnistfc_shor.py [--props 0 1 ...] [--eps 0.03 0.05] [--solver sdpa] [--timeout 600]``
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from child import run_in_child

from qcqp.frontends.bounds import crown_bounds, linear_objective_bound
from qcqp.frontends.encode import encode_network
from qcqp.frontends.loaders import load_onnx
from qcqp.frontends.vnnlib import load_vnnlib

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnistfc"


def measure(data: Path, name: str, solver: str, queue) -> None:
    """LP and Shor bounds of the hardest target of one property (run in a child process)."""
    net = load_onnx(data / "mnist-net_256x2.onnx")
    spec = load_vnnlib(data / f"{name}.vnnlib", net.input_size, net.output_size).only_part()
    box = spec.box
    pre = crown_bounds(net, box.lower, box.upper)
    crown, (a, b) = min(((linear_objective_bound(net, a, pre, box.lower, box.upper) + b, (a, b))
                         for a, b in spec.atoms), key=lambda pair: pair[0])
    enc = encode_network(net, box, pre)
    start = time.perf_counter()
    lp = enc.solve("lp", a, b)
    queue.put({"crown": crown, "lp": lp.bound, "lp_s": time.perf_counter() - start,
               "dim": enc.relaxation("sdp").form.dim})
    start = time.perf_counter()
    sdp = enc.solve("sdp", a, b, solver=solver)
    queue.put({"sdp": sdp.bound, "sdp_s": time.perf_counter() - start,
               "status": f"{sdp.status.value} ({sdp.stats.get('solver')})"})


def run(data: Path, name: str, solver: str, timeout: float) -> dict:
    messages, _ = run_in_child(measure, (data, name, solver), timeout)
    return {key: value for message in messages for key, value in message.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--props", type=int, nargs="+", default=list(range(15)))
    parser.add_argument("--eps", nargs="+", default=["0.03", "0.05"])
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per property (LP + SDP)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}; SDP solver {args.solver}, "
          f"timeout {args.timeout:.0f} s per property")
    print("| property | N | CROWN | LP | LP s | Shor SDP | SDP s | SDP status |")
    print("|---|---|---|---|---|---|---|---|")
    proven = {"crown": 0, "lp": 0, "sdp": 0}
    for eps in args.eps:
        for i in args.props:
            r = run(args.data, f"prop_{i}_{eps}", args.solver, args.timeout)
            for key in proven:
                proven[key] += r.get(key, -1.0) > 0
            sdp = (f"{r['sdp']:+.4f} | {r['sdp_s']:.1f} | {r['status']}" if "sdp" in r
                   else f"– | > {args.timeout:.0f} | stopped")
            print(f"| prop_{i}_{eps} | {r.get('dim', '?')} | {r.get('crown', float('nan')):+.4f} | "
                  f"{r.get('lp', float('nan')):+.4f} | {r.get('lp_s', float('nan')):.1f} | {sdp} |", flush=True)
    print(f"hardest target proven (bound > 0): {proven}")


if __name__ == "__main__":
    main()
