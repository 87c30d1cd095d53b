"""QPLIB instances: the reader checked against the published solutions, then root bounds and points.

For every ``*.qplib`` in ``DIR`` (QPLIB's own layout: ``DIR/qplib/*.qplib``, ``DIR/sol/*.sol``,
``DIR/qplib.solu``, or the files side by side): the objective of the published solution as the
reader's problem evaluates it, against ``qplib.solu``'s value, and its largest violation of the
reader's constraints (a misread file shows here); then, for instances whose variables are all
bounded, the ``sdp`` root bound, the heuristic's value and the time. QPLIB's instances are
CC-BY 4.0 (qplib.zib.de) and not vendored; ``.sol`` files name variables ``x2 … x(n+1)``
(``x1`` is the objective variable of the model they were written from).

Usage: ``python benchmarks/qplib.py DIR [--time-limit 60] [--no-solve]``
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds for each sdp solve")
    parser.add_argument("--no-solve", action="store_true", help="only check the reader")
    args = parser.parse_args()
    root = args.directory
    files = sorted(root.glob("qplib/*.qplib")) or sorted(root.glob("*.qplib"))
    solu = next(iter(root.glob("*.solu")), None)
    best = {} if solu is None else {f[1]: float(f[2]) for f in (line.split() for line in solu.read_text().splitlines())
                                    if len(f) >= 3}
    print(f"machine: {platform.machine()}, python {platform.python_version()}; {len(files)} instances in {root}")
    print("| instance | type | n (lifted) | published | reader's value there | max violation | sdp bound | "
          "heuristic | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in files:
        kind = path.read_text().splitlines()[1].split()[0]
        problem = read_qplib(path)
        ir = problem.compile()
        sol = next(iter(root.glob(f"**/{path.stem}.sol")), None)
        there, violation = "—", "—"
        if sol is not None:
            v = published_point(ir, sol)
            there, violation = f"{ir.user_value(ir.objective_value(v)):.8g}", f"{ir.max_violation(v):.1e}"
        cells = ["—", "—", "—"]
        if not args.no_solve:
            start = time.perf_counter()
            try:
                result = problem.solve("sdp", time_limit=args.time_limit)
                value = "—" if result.value is None else f"{result.value:.8g}"
                cells = [f"{result.bound:.8g}", value, f"{time.perf_counter() - start:.1f}"]
            except InputError as error:  # free variables: sdp needs bounds on every one
                cells = [str(error).split(";")[-1].split("(")[0].strip(), "—", "—"]
        print(f"| {path.stem} | {kind} | {ir.variables[0].size} ({ir.n}) | {best.get(path.stem, '—')} | {there} | "
              f"{violation} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
