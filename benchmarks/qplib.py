"""QPLIB instances: the reader checked against the published solutions, then root bounds and points.

For every ``*.qplib`` in ``DIR`` (QPLIB's own layout: ``DIR/qplib/*.qplib``, ``DIR/sol/*.sol``,
``DIR/qplib.solu``, or the files side by side): the objective of the published solution as the
reader's problem evaluates it, against ``qplib.solu``'s value, and its largest violation of the
reader's constraints (a misread file shows here); then, for instances whose variables are all
bounded, the ``sdp`` root bound (``--family``), its gap to the published value (relative to
``max(1, |published|)``; a bound on the wrong side is flagged), the best feasible point's
value and worst violation (re-checked on the problem read from the file) and the time. A
``published.json`` beside the files (``../shared/data/qplib/``'s layout: per instance its
``published`` value and ``sense``) is read in place of ``qplib.solu``. QPLIB's instances are
CC-BY 4.0 (qplib.zib.de) and not vendored; ``.sol`` files name variables ``x2 … x(n+1)``
(``x1`` is the objective variable of the model they were written from).

Usage: ``python benchmarks/qplib.py DIR [--time-limit 60] [--family auto] [--polish 10] [--only NAME ...] [--no-solve]``
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from pathlib import Path

import numpy as np

from qcqp import InputError
from qcqp.frontends.problem_files import read_qplib


def published_point(ir, sol: Path) -> np.ndarray:
    """The solution file's values for ``x``, and the binary expansion of its integer variables."""
    v = np.zeros(ir.n)
    for line in sol.read_text().splitlines():
        name, value = line.split()[:2]
        if name != "objvar":
            v[int(re.sub(r"^[a-z]+", "", name)) - 2] = float(value)
    for con in ir.constraints:
        if con.name == "integer expansion":  # rows x_g − l − Σ 2ᵏ b_k: read the bits off x_g − l
            A, a = con.expr.A.tocsr(), con.expr.a
            for r in range(A.shape[0]):
                cols, vals = A.indices[A.indptr[r]:A.indptr[r + 1]], A.data[A.indptr[r]:A.indptr[r + 1]]
                target = int(round(v[cols[vals > 0][0]] + a[r]))
                for col, power in zip(cols[vals < 0], -vals[vals < 0]):
                    v[col] = (target // int(power)) % 2
    return v


def published_values(root: Path) -> dict[str, float]:
    """Best known objective per instance: ``published.json`` or QPLIB's ``*.solu``."""
    if (meta := root / "published.json").exists():
        return {name: entry["published"] for name, entry in json.loads(meta.read_text()).items()}
    solu = next(iter(root.glob("*.solu")), None)
    return {} if solu is None else {f[1]: float(f[2]) for f in (line.split() for line in solu.read_text().splitlines())
                                    if len(f) >= 3}


def root_cells(problem, ir, best: float | None, family: str, time_limit: float, polish: float):
    """Bound, gap to ``best`` (flagged when on the wrong side), feasible value, its violation,
    seconds; and the gap as a number (``inf`` if refused), whether a point was found, whether wrong."""
    start = time.perf_counter()
    try:
        result = problem.solve("sdp", time_limit=time_limit, family=family, polish=polish)
    except InputError as error:  # free variables: sdp needs bounds on every one
        return [str(error).split(";")[-1].split("(")[0].strip(), "—", "—", "—", "—"], np.inf, False, False
    seconds = time.perf_counter() - start
    gap, relative, wrong = "—", np.inf, False
    if best is not None and np.isfinite(result.bound):
        wrong = ir.sign * (result.bound - best) < -1e-9 * max(1.0, abs(best))
        relative = abs(best - result.bound) / max(1.0, abs(best))
        gap = f"{relative:.2%}" + (" **WRONG SIDE**" if wrong else "")
    value, violation = "—", "—"
    if result.point is not None:
        v = np.concatenate([np.atleast_1d(result.point[var.name]).ravel() for var in ir.variables])
        value, violation = f"{result.value:.8g}", f"{ir.max_violation(v):.1e}"
    return [f"{result.bound:.8g}", gap, value, violation, f"{seconds:.1f}"], relative, result.point is not None, wrong


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds for each sdp solve")
    parser.add_argument("--family", default="auto", help="the sdp relaxation family")
    parser.add_argument("--polish", type=float, default=10.0, help="seconds for the feasible-point search")
    parser.add_argument("--only", nargs="*", help="instance names to run (default: all)")
    parser.add_argument("--no-solve", action="store_true", help="only check the reader")
    args = parser.parse_args()
    root = args.directory
    files = sorted(root.glob("qplib/*.qplib")) or sorted(root.glob("*.qplib"))
    files = [f for f in files if not args.only or f.stem in args.only]
    best = published_values(root)
    gaps, points, wrongs = [], 0, 0
    print(f"machine: {platform.machine()}, python {platform.python_version()}; {len(files)} instances in {root}; "
          f"family {args.family}, time limit {args.time_limit:g} s, polish {args.polish:g} s")
    print("| instance | type | n (lifted) | published | reader's value there | max violation | sdp bound | gap | "
          "feasible value | its violation | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in files:
        kind = path.read_text().splitlines()[1].split()[0]
        problem = read_qplib(path)
        ir = problem.compile()
        sol = next(iter(root.glob(f"**/{path.stem}.sol")), None)
        there, violation = "—", "—"
        if sol is not None:
            v = published_point(ir, sol)
            there, violation = f"{ir.user_value(ir.objective_value(v)):.8g}", f"{ir.max_violation(v):.1e}"
        cells = ["—"] * 5
        if not args.no_solve:
            cells, gap, found, wrong = root_cells(problem, ir, best.get(path.stem), args.family, args.time_limit,
                                                  args.polish)
            gaps, points, wrongs = gaps + [gap], points + found, wrongs + wrong
        print(f"| {path.stem} | {kind} | {ir.variables[0].size} ({ir.n}) | {best.get(path.stem, '—')} | {there} | "
              f"{violation} | " + " | ".join(cells) + " |", flush=True)
    if gaps:
        gaps = np.array(gaps)
        bounded = np.isfinite(gaps)
        print(f"\nbounded {bounded.sum()} of {gaps.size}, on the wrong side {wrongs}, median gap {np.median(gaps):.2%} "
              f"(refused as infinite; over the bounded: {np.median(gaps[bounded]):.2%}), "
              f"feasible points {points} of {gaps.size}")


if __name__ == "__main__":
    main()
