"""Every SDP solver adapter on the same Shor relaxations, side by side in one invocation.

Problems: margin SDPs of digits MLPs (random hidden layers, least-squares last layer,
first test point, first target), MaxCut on sparse graphs, BoxQP instances (from
``../shared/data/boxqp`` when present) and the hardest target of a VNN-COMP mnistfc
property (when present). Each measurement runs in a fresh process with a timeout and
reports the total time of ``Problem.solve("sdp", solver=...)`` (relaxation included), the
rigorous bound and the peak RSS. Prints a markdown table.

Usage: ``python benchmarks/sdp_solvers.py [--problems net:64-32-32-10 net:64-50-50-50-10@0.05 maxcut:grid-8
boxqp:spar030-060-1 mnistfc:prop_0_0.03] [--solvers clarabel sdpa scs] [--timeout 600]``
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import networkx as nx
import numpy as np
from child import run_in_child

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEFAULT_PROBLEMS = ["net:64-32-32-10", "net:64-50-50-50-10", "maxcut:cycle-60", "maxcut:grid-8",
                    "boxqp:spar030-060-1", "boxqp:spar040-050-1", "mnistfc:prop_0_0.03"]


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


def maxcut(spec: str):
    """``grid-K``, ``cycle-K`` (unit weights) or ``torus-K``: the K×K toroidal grid with random ±1
    weights (a spin glass, whose Shor bound is not the trivial one of a bipartite graph)."""
    import qcqp

    shape, size = spec.split("-")
    k = int(size)
    graphs = {"grid": lambda: nx.grid_2d_graph(k, k), "cycle": lambda: nx.cycle_graph(k),
              "torus": lambda: nx.grid_2d_graph(k, k, periodic=True)}
    if shape not in graphs:
        raise SystemExit(f"maxcut:{spec}: the shape must be one of {', '.join(graphs)}")
    graph = nx.convert_node_labels_to_integers(graphs[shape]())
    edges = np.array(graph.edges())
    weights = np.random.default_rng(k).choice([-1.0, 1.0], len(edges)) if shape == "torus" else np.ones(len(edges))
    p = qcqp.Problem()
    x = p.variable("x", graph.number_of_nodes(), lower=-1, upper=1)
    p.maximize(0.5 * weights.sum() - 0.5 * ((x[edges[:, 0]] * x[edges[:, 1]]) @ weights))
    p.subject_to(x * x == 1)
    return p


def boxqp(name: str):
    import qcqp

    values = np.array((SHARED / "boxqp" / f"{name}.in").read_text().split(), float)
    n = int(values[0])
    c, Q = values[1:1 + n], values[1 + n:1 + n + n * n].reshape(n, n)
    p = qcqp.Problem()
    x = p.variable("x", n, lower=0, upper=1)
    p.maximize(0.5 * (x @ Q @ x) + c @ x)
    return p


def margin_problem(net, box, a, b):
    from qcqp.frontends.encode import encode_network

    return encode_network(net, box).linear_objective(a, b)


def hardest_target(net, prop):
    """The atom with the lowest CROWN bound (the one a certificate needs most)."""
    from qcqp.frontends.bounds import crown_bounds, linear_objective_bound

    pre = crown_bounds(net, prop.box.lower, prop.box.upper)
    atoms = [atom for atoms in prop.disjuncts for atom in atoms]
    return min(atoms, key=lambda ab: linear_objective_bound(net, ab[0], pre, prop.box.lower, prop.box.upper) + ab[1])


def build(problem: str):
    """``net:SIZES[@EPS]`` (default ε 0.1), ``maxcut:grid-K|cycle-K|torus-K``, ``boxqp:NAME``,
    ``mnistfc:[NET:]PROP``."""
    kind, _, spec = problem.partition(":")
    if kind == "net":
        from qcqp.app.dataset import digits_instances

        sizes, _, eps = spec.partition("@")
        net = digits_net([int(s) for s in sizes.split("-")])
        inst = digits_instances(net, float(eps or 0.1), 1)[0]
        a, b = inst.disjuncts[0][0]
        return margin_problem(net, inst.box, a, b)
    if kind == "maxcut":
        return maxcut(spec)
    if kind == "boxqp":
        return boxqp(spec)
    from qcqp.frontends.loaders import load_network
    from qcqp.frontends.specs import load_vnnlib

    net_name, _, prop_name = spec.rpartition(":")  # mnistfc:PROP (256x2) or mnistfc:NET:PROP
    net = load_network(SHARED / "mnistfc" / f"mnist-net_{net_name or '256x2'}.onnx")
    prop = load_vnnlib(SHARED / "mnistfc" / f"{prop_name}.vnnlib", net.input_size, net.output_size).only_part()
    a, b = hardest_target(net, prop)
    return margin_problem(net, prop.box, a, b)


def measure(problem, solver, settings, queue):
    import qcqp

    p = build(problem)
    start = time.perf_counter()
    try:
        result = p.solve("sdp", solver=solver, **settings)
    except qcqp.InputError as error:
        queue.put({"refused": str(error)})
        return
    queue.put({"bound": result.bound, "total": time.perf_counter() - start, "dim": result.stats["dim"],
               "rows": 1 + result.stats["equalities"] + result.stats["inequalities"],
               "status": result.status.value, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run(problem, solver, settings, timeout):
    messages, finished = run_in_child(measure, (problem, solver, settings), timeout)
    return messages[0] if finished and messages else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", nargs="*", default=DEFAULT_PROBLEMS)
    parser.add_argument("--solvers", nargs="*", default=["clarabel", "sdpa", "scs"])
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement")
    parser.add_argument("--settings", nargs="*", default=[], help="KEY=VALUE solver settings (numbers)")
    args = parser.parse_args()
    settings = {key: float(value) for key, value in (item.split("=") for item in args.settings)}
    print(f"machine: {platform.machine()}, python {platform.python_version()}, timeout {args.timeout:.0f} s, "
          f"settings {settings or 'defaults'}")
    print("| problem | N | rows m | " + " | ".join(f"{s} s (bound, MB)" for s in args.solvers) + " | rel. spread |")
    print("|---|---|---|" + "---|" * len(args.solvers) + "---|")
    for problem in args.problems:
        if problem.split(":")[0] in ("boxqp", "mnistfc") and not SHARED.exists():
            continue
        results = {s: run(problem, s, settings, args.timeout) for s in args.solvers}
        done = [r for r in results.values() if r is not None and "refused" not in r]
        shape = (done[0]["dim"], done[0]["rows"]) if done else ("?", "?")
        cells = [f"> {args.timeout:.0f}" if r is None else "refused (memory)" if "refused" in r
                 else f"{r['total']:.2f} ({r['bound']:.6f}, {r['rss_mb']:.0f})" for r in results.values()]
        bounds = [r["bound"] for r in done]
        spread = (max(bounds) - min(bounds)) / max(1.0, abs(min(bounds))) if bounds else float("nan")
        print(f"| {problem} | {shape[0]} | {shape[1]} | " + " | ".join(cells) + f" | {spread:.1e} |", flush=True)


if __name__ == "__main__":
    main()
