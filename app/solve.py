"""``qcqp solve FILE``: a bound, the best feasible point and the gap for a problem file."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from qcqp import BACKENDS, InputError, Result
from qcqp.app.report import write_json
from qcqp.frontends.problem_files import read_problem
from qcqp.registry import backends_taking


def solve_file(path: str, backend: str, solver: str | None, time_limit: float | None,
               global_: bool = False, progress: bool = False, relaxation: str | None = None) -> tuple[Result, float]:
    """Read ``path`` and solve it with ``backend`` (by branch and bound with ``backend`` as the
    bounding oracle if ``global_``); returns the result and the wall time."""
    chosen = BACKENDS.get(backend)  # an unknown name is a one-line error listing the registered ones
    if time_limit is not None and time_limit <= 0:
        raise InputError("--time-limit must be > 0")
    options = {}
    for flag, option, value in (("--solver", "solver", solver), ("--relaxation", "family", relaxation)):
        if value is not None:
            if option not in chosen.option_names():
                raise InputError(f"{flag} applies to --backend {' or '.join(backends_taking(option))} only")
            options[option] = value
    problem = read_problem(path)
    start = time.perf_counter()
    if global_:
        result = problem.solve_globally(backend, time_limit=time_limit or 60.0, progress=progress, **options)
    else:
        if time_limit is not None and "time_limit" in chosen.option_names():
            options["time_limit"] = time_limit
        result = problem.solve(backend, **options)
    return result, time.perf_counter() - start


def summary(result: Result, seconds: float) -> dict:
    """What ``qcqp solve`` prints and writes (JSON-safe)."""
    finite = result.value is not None and np.isfinite(result.bound)
    return {
        "backend": result.backend, "status": result.status.value, "bound": _number(result.bound),
        "value": result.value, "gap": result.gap if finite else None,
        "relative_gap": result.gap / max(1.0, abs(result.value)) if finite else None,
        "point": None if result.point is None else {k: v.tolist() for k, v in result.point.items()},
        "time_s": seconds,
    }


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def format_summary(row: dict) -> str:
    value = "none found" if row["value"] is None else f"{row['value']:.10g}"
    gap = "" if row["gap"] is None else f"\ngap          {row['gap']:.4g} (relative {row['relative_gap']:.2e})"
    bound = "none (infinite)" if row["bound"] is None else f"{row['bound']:.10g}"
    nodes = f"\nnodes        {row['nodes']}" if "nodes" in row else ""
    return (f"backend      {row['backend']} ({row['status']})\nbound        {bound}\nbest value   {value}{gap}"
            f"{nodes}\ntime         {row['time_s']:.2f} s")


def run_solve(args) -> int:
    result, seconds = solve_file(args.file, args.backend, args.solver, args.time_limit, args.global_,
                                 progress=not args.quiet, relaxation=args.relaxation)
    row = summary(result, seconds) | {"file": str(args.file), "global": args.global_}
    if "family" in result.stats:
        row["relaxation"] = result.stats["family"]
    if args.global_:
        row["nodes"] = result.stats["nodes"]
    print(format_summary(row))
    if args.out:
        write_json(Path(args.out), row)
        print(f"wrote {args.out}")
    return 0
