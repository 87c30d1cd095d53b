"""Shor SDP: the dual LMI assembled from the IR and handed to Clarabel, versus the dense
cvxpy primal a user would write (``P ⪰ 0``), on ReLU MLPs and sparse MaxCut instances.

Each measurement runs in a fresh process (peak memory is that process's max RSS); both
formulations of a problem run in the same invocation. Prints a markdown table.
Usage: ``python benchmarks/sdp_formulations.py [--nets 64-16-10 ...] [--graphs grid-6 cycle-60 ...]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import time

import networkx as nx
import numpy as np


def digits_net(sizes: list[int], seed: int = 0):
    """Random hidden layers and a least-squares last layer on digits (quick, deterministic)."""
    from qcqp.frontends.models.train_digits import digits_split
    from qcqp.frontends.network import Network

    rng = np.random.default_rng(seed)
    x, y, _, _ = digits_split()
    Ws = [rng.normal(0, np.sqrt(2.0 / a), (b, a)) for a, b in zip(sizes[:-2], sizes[1:-1])]
    bs = [np.zeros(b) for b in sizes[1:-1]]
    h = x
    for W, b in zip(Ws, bs):
        h = np.maximum(h @ W.T + b, 0)
    coef = np.linalg.lstsq(np.hstack([h, np.ones((len(h), 1))]), np.eye(10)[y], rcond=None)[0]
    return Network(tuple(Ws) + (coef[:-1].T,), tuple(bs) + (coef[-1],), ("relu",) * (len(sizes) - 2))


def build(kind: str, spec: str, eps: float):
    import qcqp

    if kind == "net":
        from qcqp.app.dataset import digits_instances
        from qcqp.frontends.encode import encode_network

        net = digits_net([int(s) for s in spec.split("-")])
        inst = digits_instances(net, eps, 1)[0]
        a, b = inst.disjuncts[0][0]
        return encode_network(net, inst.box).linear_objective(a, b)
    shape, size = spec.split("-")
    graph = nx.grid_2d_graph(int(size), int(size)) if shape == "grid" else nx.cycle_graph(int(size))
    graph = nx.convert_node_labels_to_integers(graph)
    p = qcqp.Problem()
    x = p.variable("x", graph.number_of_nodes(), lower=-1, upper=1)
    p.maximize(sum((1 - x[i] * x[j]) * 0.5 for i, j in graph.edges()))
    p.subject_to(x * x == 1)
    return p


def measure(kind, spec, eps, formulation, queue):
    problem = build(kind, spec, eps)
    start = time.perf_counter()
    result = problem.solve("sdp", formulation=formulation)
    total = time.perf_counter() - start
    queue.put({"bound": result.bound, "total": total, "relax": result.stats["relax_time"],
               "solver": result.stats["solver_time"], "n": problem.n,
               "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run(kind, spec, eps, formulation, timeout):
    queue = mp.Queue()
    proc = mp.Process(target=measure, args=(kind, spec, eps, formulation, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        return None
    return queue.get() if not queue.empty() else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nets", nargs="*", default=["64-8-10", "64-16-10", "64-16-16-10", "64-32-32-10"])
    parser.add_argument("--graphs", nargs="*", default=["cycle-60", "grid-8"])
    parser.add_argument("--eps", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}, timeout {args.timeout:.0f} s")
    print("| problem | N | dual LMI bound | dual total s (relax / solver) | dual MB | cvxpy bound | cvxpy total s "
          "(relax / solver) | cvxpy MB | speed-up | rel. diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    jobs = [("net", s) for s in args.nets] + [("graph", g) for g in args.graphs]
    for kind, spec in jobs:
        dual = run(kind, spec, args.eps, "dual", args.timeout)
        dense = run(kind, spec, args.eps, "cvxpy", args.timeout)

        def cell(r):
            if r is None:
                return "–", f"> {args.timeout:.0f}", "–"
            return f"{r['bound']:.6f}", f"{r['total']:.2f} ({r['relax']:.2f} / {r['solver']:.2f})", f"{r['rss_mb']:.0f}"

        speed = f"{dense['total'] / dual['total']:.1f}×" if dual and dense else "–"
        diff = "–"
        if dual and dense:
            diff = f"{abs(dual['bound'] - dense['bound']) / max(1.0, abs(dense['bound'])):.1e}"
        n = (dual or dense or {"n": "?"})["n"]
        cells = " | ".join(cell(dual)) + " | " + " | ".join(cell(dense))
        print(f"| {spec} | {n} | {cells} | {speed} | {diff} |", flush=True)


if __name__ == "__main__":
    main()
