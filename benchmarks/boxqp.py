"""BoxQP (``max ½xᵀQx + cᵀx``, ``0 <= x <= 1``): root bounds and primal points against proven optima.

Reads the 54 "spar" instances of Vandenbussche & Nemhauser from ``../shared/data/boxqp`` (skipped
when absent). For each: the ``sdp`` bound (Shor with the lifted McCormick rows of the pairs the
objective touches), the best feasible value of its primal heuristic (:mod:`qcqp.primal`), both
relative to the optimum, and the time. Prints a markdown table and the count of instances whose
heuristic value is within 0.1 % of the optimum.

Usage: ``python benchmarks/boxqp.py [--instances spar020-100-1 ...] [--solver auto]``
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from qcqp.frontends.problem_files import read_problem

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "boxqp"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", nargs="*")
    parser.add_argument("--solver", default="auto")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"no BoxQP data at {DATA}")
        return
    optima = {name: float(value) for name, value in
              (line.split("\t")[:2] for line in (DATA / "optimal_values.tsv").read_text().split("\n")[1:] if line)}
    names = args.instances or sorted(optima)
    print(f"machine: {platform.machine()}, python {platform.python_version()}, solver {args.solver}")
    print("| instance | n | optimum | sdp bound (rel. gap) | heuristic value (rel. gap) | seconds |")
    print("|---|---|---|---|---|---|")
    close = 0
    for name in names:
        problem = read_problem(DATA / f"{name}.in")
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


if __name__ == "__main__":
    main()
