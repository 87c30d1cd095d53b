"""Shor SDP on ReLU MLPs: dual LMI straight to Clarabel versus the cvxpy primal (``P ⪰ 0``).

Both run in this invocation on the same margin problems; prints bound, time and ratio.
Usage: ``python benchmarks/sdp_formulations.py [--sizes 64-8-10 64-16-10 ...] [--eps 0.05]``
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from qcqp.app.dataset import digits_instances
from qcqp.frontends.encode import encode_network
from qcqp.frontends.models.train_digits import digits_split
from qcqp.frontends.network import Network


def random_digits_net(sizes: list[int], seed: int = 0) -> Network:
    """A net of the given sizes fitted by least squares on its last layer (quick, deterministic)."""
    rng = np.random.default_rng(seed)
    x, y, _, _ = digits_split()
    Ws = [rng.normal(0, np.sqrt(2.0 / a), (b, a)) for a, b in zip(sizes[:-2], sizes[1:-1])]
    bs = [np.zeros(b) for b in sizes[1:-1]]
    h = x
    for W, b in zip(Ws, bs):
        h = np.maximum(h @ W.T + b, 0)
    features = np.hstack([h, np.ones((len(h), 1))])
    coef = np.linalg.lstsq(features, np.eye(10)[y], rcond=None)[0]
    return Network(tuple(Ws) + (coef[:-1].T,), tuple(bs) + (coef[-1],), ("relu",) * (len(sizes) - 2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["64-8-10", "64-16-10", "64-16-16-10"])
    parser.add_argument("--eps", type=float, default=0.05)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'net':<14} {'N':>4} {'dual bound':>12} {'dual s':>8} {'cvxpy bound':>12} {'cvxpy s':>8} {'ratio':>6}")
    for spec in args.sizes:
        sizes = [int(s) for s in spec.split("-")]
        net = random_digits_net(sizes)
        inst = digits_instances(net, args.eps, 1)[0]
        enc = encode_network(net, inst.box)
        a, b = inst.disjuncts[0][0]
        problem = enc.linear_objective(a, b)
        times, bounds = {}, {}
        for form in ("dual", "cvxpy"):
            start = time.perf_counter()
            bounds[form] = problem.solve("sdp", formulation=form).bound
            times[form] = time.perf_counter() - start
        print(f"{spec:<14} {problem.n:>4} {bounds['dual']:>12.6f} {times['dual']:>8.2f} "
              f"{bounds['cvxpy']:>12.6f} {times['cvxpy']:>8.2f} {times['cvxpy'] / times['dual']:>6.1f}")


if __name__ == "__main__":
    main()
