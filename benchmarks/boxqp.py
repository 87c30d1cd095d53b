"""BoxQP (``max ½xᵀQx + cᵀx``, ``0 <= x <= 1``): root bounds and primal points against proven optima.

Reads the 54 "spar" instances of Vandenbussche & Nemhauser from ``../shared/data/boxqp`` (skipped
when absent). For each: the ``sdp`` bound (Shor with the lifted McCormick rows of the pairs the
objective touches), the best feasible value of its primal heuristic (:mod:`qcqp.primal`), both
relative to the optimum, and the time. Prints a markdown table and the count of instances whose
heuristic value is within 0.1 % of the optimum. With ``--global``, each instance is solved by
branch and bound with the ``sdp`` oracle (:mod:`qcqp.branch`) to a relative gap of 1e-4.

With ``--families F ...``, the root bound of each relaxation family (``sdp``'s ``family``
option) and its time instead; ``random-N`` names a random instance of size N (density 50 %).

Usage: ``python benchmarks/boxqp.py [--instances spar020-100-1 random-100 ...] [--solver auto]
[--global [--time-limit 60] [--family rlt+triangle] | --families shor auto rlt rlt+triangle]``
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from qcqp.branch import branch_and_bound
from qcqp.frontends.problem_files import read_problem

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "boxqp"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", nargs="*")
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--global", dest="global_", action="store_true", help="branch and bound to gap 1e-4")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per instance with --global")
    parser.add_argument("--families", nargs="*", help="compare the root bounds of these relaxation families")
    parser.add_argument("--family", help="the relaxation family of the --global search's nodes (default: "
                        "the search's own, rlt+triangle)")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"no BoxQP data at {DATA}")
        return
    optima = {name: float(value) for name, value in
              (line.split("\t")[:2] for line in (DATA / "optimal_values.tsv").read_text().split("\n")[1:] if line)}
    names = args.instances or sorted(optima)
    print(f"machine: {platform.machine()}, python {platform.python_version()}, solver {args.solver}")
    if args.global_:
        return solve_globally(names, optima, args.solver, args.time_limit, args.family)
    if args.families:
        return compare_families(names, optima, args.families, args.solver)
    print("| instance | n | optimum | sdp bound (rel. gap) | heuristic value (rel. gap) | seconds |")
    print("|---|---|---|---|---|---|")
    close = 0
    for name in names:
        problem = instance(name)
        start = time.perf_counter()
        result = problem.solve("sdp", solver=args.solver)
        seconds = time.perf_counter() - start
        opt = optima[name]
        value = result.value if result.value is not None else float("nan")
        bound_gap, value_gap = (result.bound - opt) / abs(opt), (opt - value) / abs(opt)
        close += value_gap <= 1e-3
        print(f"| {name} | {problem.compile().n} | {opt:.2f} | {result.bound:.2f} ({bound_gap:.2e}) | "
              f"{value:.2f} ({value_gap:.2e}) | {seconds:.2f} |", flush=True)
    print(f"heuristic within 0.1 % of the optimum on {close} of {len(names)}")


def instance(name: str):
    """A spar instance by name, or ``random-N``: a random BoxQP of size N, half of ``Q`` nonzero."""
    if not name.startswith("random-"):
        return read_problem(DATA / f"{name}.in")
    import numpy as np

    import qcqp

    n = int(name.split("-")[1])
    rng = np.random.default_rng(n)
    Q = np.triu(rng.integers(-50, 51, (n, n)) * (rng.random((n, n)) < 0.5)).astype(float)
    Q = Q + np.triu(Q, 1).T
    p = qcqp.Problem()
    x = p.variable("x", n, lower=0, upper=1)
    p.maximize(0.5 * (x @ Q @ x) + rng.integers(-50, 51, n) @ x)
    return p


def compare_families(names: list[str], optima: dict[str, float], families: list[str], solver: str) -> None:
    print("| instance | n | optimum | " + " | ".join(f"{f} bound (s)" for f in families) + " |")
    print("|---|---|---|" + "---|" * len(families))
    for name in names:
        problem = instance(name)
        cells = []
        for family in families:
            start = time.perf_counter()
            result = problem.solve("sdp", family=family, solver=solver, polish=0)
            cells.append(f"{result.bound:.3f} ({time.perf_counter() - start:.1f})")
        opt = f"{optima[name]:.2f}" if name in optima else "?"
        print(f"| {name} | {problem.compile().n} | {opt} | " + " | ".join(cells) + " |", flush=True)


def solve_globally(names: list[str], optima: dict[str, float], solver: str, time_limit: float,
                   family: str | None = None) -> None:
    print("| instance | optimum | bound | value | rel. gap | nodes | seconds | status |")
    print("|---|---|---|---|---|---|---|---|")
    solved = 0
    for name in names:
        ir = instance(name).compile()
        start = time.perf_counter()
        options = {"family": family} if family else {}
        result = branch_and_bound(ir, "sdp", time_limit=time_limit, gap=1e-4, solver=solver, **options)
        seconds = time.perf_counter() - start
        gap = (result.bound - result.value) / max(1.0, abs(result.value))
        proven = result.status.value == "optimal" and seconds <= time_limit
        solved += proven
        print(f"| {name} | {optima[name]:.2f} | {result.bound:.3f} | {result.value:.3f} | {gap:.1e} | "
              f"{result.stats['nodes']} | {seconds:.1f} | {result.status.value} |", flush=True)
    print(f"proven to a relative gap of 1e-4 within {time_limit:g} s: {solved} of {len(names)}")


if __name__ == "__main__":
    main()
