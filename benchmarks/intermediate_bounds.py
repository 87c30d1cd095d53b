"""Pre-activation bounds on VNN-COMP mnistfc: CROWN, optimised (α-CROWN style), LP and SDP per neuron.

For each network and property: per hidden layer the number of unstable neurons and the mean
interval width under each method, the time of each, and the best target bound each gives
(optimised slopes on the final layer for the optimised bounds, CROWN's back-substitution
otherwise). The LP bounds start from the optimised ones and stop at ``--lp-seconds``
(remaining neurons keep their optimised bounds); the SDP bounds (Shor relaxation, solver
default) do the same for the first ``--sdp-layers`` hidden layers after the input layer.

Usage::

    python benchmarks/intermediate_bounds.py [--data ../shared/data/mnistfc] [--networks 256x2 256x4 256x6]
        [--props 0 1] [--eps 0.03] [--lp-seconds 120] [--sdp-layers 1] [--sdp-seconds 120]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from qcqp.app.dataset import vnnlib_instances
from qcqp.frontends.bounds import crown_bounds, linear_objective_bound
from qcqp.frontends.encode import lp_bounds, relaxation_bounds
from qcqp.frontends.loaders import load_onnx
from qcqp.frontends.optimized_bounds import alpha_crown_bounds, optimized_lower


def worst_target(net, spec, pre, optimised: bool) -> float:
    """The smallest atom bound over the specification's atoms."""
    atoms = [atom for disjunct in spec.disjuncts for atom in disjunct]
    lo, hi, last = spec.box.lower, spec.box.upper, len(net.weights) - 1
    if optimised:
        values = optimized_lower(net, last, np.array([a for a, _ in atoms]), pre[:last], lo, hi)
        return float(np.min(values + np.array([b for _, b in atoms])))
    return min(linear_objective_bound(net, a, pre, lo, hi) + b for a, b in atoms)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnistfc"))
    parser.add_argument("--networks", nargs="+", default=["256x2", "256x4", "256x6"])
    parser.add_argument("--props", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--eps", nargs="+", default=["0.03"])
    parser.add_argument("--lp-seconds", type=float, default=120.0)
    parser.add_argument("--sdp-layers", type=int, default=0, help="hidden layers after the first with SDP bounds")
    parser.add_argument("--sdp-seconds", type=float, default=120.0)
    args = parser.parse_args()
    data = Path(args.data)
    print(f"machine: {platform.machine()}, {platform.python_version()}")
    print("| network | property | method | time (s) | unstable per layer | mean width per layer | worst target |")
    print("|---|---|---|---|---|---|---|")
    for network in args.networks:
        net = load_onnx(data / f"mnist-net_{network}.onnx")
        for eps in args.eps:
            for i in args.props:
                spec = vnnlib_instances(net, [str(data / f"prop_{i}_{eps}.vnnlib")])[0].only_part()
                lo, hi = spec.box.lower, spec.box.upper
                start = time.perf_counter()
                crown = crown_bounds(net, lo, hi)
                rows = [("CROWN", time.perf_counter() - start, crown, False)]
                start = time.perf_counter()
                optimised = alpha_crown_bounds(net, lo, hi)
                rows.append(("optimised", time.perf_counter() - start, optimised, True))
                start = time.perf_counter()
                lp = lp_bounds(net, lo, hi, deadline=start + args.lp_seconds, start=optimised)
                rows.append(("LP (from optimised)", time.perf_counter() - start, lp, False))
                if args.sdp_layers:
                    start = time.perf_counter()
                    sdp = relaxation_bounds(net, lo, hi, "sdp", layers=args.sdp_layers,
                                            deadline=start + args.sdp_seconds, start=optimised)
                    rows.append((f"SDP to layer {args.sdp_layers} (from optimised)", time.perf_counter() - start,
                                 sdp, False))
                for name, seconds, pre, opt in rows:
                    hidden = pre[:len(net.activations)]
                    unstable = " / ".join(str(int(np.sum((a < 0) & (b > 0)))) for a, b in hidden)
                    width = " / ".join(f"{np.mean(b - a):.3g}" for a, b in hidden)
                    print(f"| {network} | prop_{i}_{eps} | {name} | {seconds:.1f} | {unstable} | {width} | "
                          f"{worst_target(net, spec, pre, opt):+.4g} |", flush=True)


if __name__ == "__main__":
    main()
