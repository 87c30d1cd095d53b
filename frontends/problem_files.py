"""Problem files to :class:`~qcqp.Problem`: the BoxQP format (``.in``) of the "spar" test bed.

BoxQP: ``max ½xᵀQx + cᵀx`` s.t. ``0 <= x <= 1``; the file holds whitespace-separated numbers:
``n``, the ``n`` entries of ``c``, then the ``n × n`` entries of ``Q`` row by row. Malformed files
raise :class:`~qcqp.InputError` with one line naming the file and the line of the fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qcqp import InputError, Problem


def _numbers(path: Path) -> tuple[list[str], list[int]]:
    """Every whitespace-separated token of the file and the line it is on."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the problem file ({error})") from None
    tokens, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        found = re.findall(r"\S+", line)
        tokens += found
        lines += [number] * len(found)
    return tokens, lines


def read_boxqp(path: Path) -> Problem:
    """A BoxQP instance as a Problem with variable ``x`` in ``[0, 1]^n``."""
    tokens, lines = _numbers(path)
    if not tokens:
        raise InputError(f"{path}: empty file (expected n, then c and Q)")
    values = []
    for token, line in zip(tokens, lines):
        try:
            values.append(float(token))
        except ValueError:
            raise InputError(f"{path}:{line}: expected a number, got {token!r}") from None
        if not np.isfinite(values[-1]):
            raise InputError(f"{path}:{line}: {token!r} is not a finite number")
    n = values[0]
    if n != int(n) or n < 1:
        raise InputError(f"{path}:{lines[0]}: the first number must be the dimension n >= 1, got {tokens[0]!r}")
    n = int(n)
    expected = 1 + n + n * n
    if len(values) != expected:
        where = f"{path}:{lines[expected]}" if len(values) > expected else f"{path}:{lines[-1]}"
        raise InputError(f"{where}: n = {n} needs {expected} numbers (n, c, Q), the file has {len(values)}")
    c = np.array(values[1:1 + n])
    Q = np.array(values[1 + n:]).reshape(n, n)
    problem = Problem()
    x = problem.variable("x", n, lower=0.0, upper=1.0)
    problem.maximize(0.5 * (x @ (0.5 * (Q + Q.T)) @ x) + c @ x)
    return problem


PROBLEM_FORMATS: dict[str, Callable[[Path], Problem]] = {".in": read_boxqp}


def read_problem(path: str | Path) -> Problem:
    """A problem file by its suffix (see :data:`PROBLEM_FORMATS`)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such problem file")
    reader = PROBLEM_FORMATS.get(path.suffix)
    if reader is None:
        raise InputError(f"{path}: unknown problem format {path.suffix!r} (known: {', '.join(PROBLEM_FORMATS)})")
    return reader(path)


__all__ = ["PROBLEM_FORMATS", "read_boxqp", "read_problem"]
