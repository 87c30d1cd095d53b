"""Problem files to :class:`~qcqp.Problem`: BoxQP (``.in``) and QPLIB (``.qplib``).

BoxQP: ``max ½xᵀQx + cᵀx`` s.t. ``0 <= x <= 1``; the file holds whitespace-separated numbers:
``n``, the ``n`` entries of ``c``, then the ``n × n`` entries of ``Q`` row by row.

QPLIB (Furini et al., *Math. Prog. Comp.* 11, 2019): ``min/max ½xᵀQ⁰x + b⁰ᵀx + q⁰`` s.t.
``cˡ_k <= ½xᵀQᵏx + bᵏᵀx <= cᵘ_k``, ``l <= x <= u``, some variables binary or integer; see
:func:`read_qplib`. Malformed files raise :class:`~qcqp.InputError` with one line naming the
file and the line of the fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from qcqp import InputError, Problem
from qcqp.expr import Affine
from qcqp.interval import implied_bounds, product_bounds, round_out


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


class _Lines:
    """The records of a QPLIB file: one per non-blank line, ``#`` comments dropped, with line numbers."""

    def __init__(self, path: Path):
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: cannot read the problem file ({error})") from None
        self.path = path
        self.records = [(number, line.split("#", 1)[0].split()) for number, line in
                        enumerate(text.splitlines(), start=1) if line.split("#", 1)[0].strip()]
        self.at = 0

    def fail(self, message: str, number: int | None = None) -> InputError:
        """The error for ``message`` at line ``number`` (the whole file when ``None``)."""
        return InputError(f"{self.path}:{number}: {message}" if number else f"{self.path}: {message}")

    def next(self, what: str, width: int) -> tuple[int, list[str]]:
        """The next record, which must hold ``width`` fields (``what`` names it in errors)."""
        if self.at >= len(self.records):
            last = self.records[-1][0] if self.records else 1
            raise InputError(f"{self.path}:{last}: file ends where {what} was expected")
        number, fields = self.records[self.at]
        self.at += 1
        if len(fields) < width:
            raise self.fail(f"expected {what} ({width} field{'s' * (width > 1)}), got {' '.join(fields)!r}", number)
        return number, fields

    def text(self, what: str) -> str:
        return " ".join(self.next(what, 1)[1])

    def number(self, what: str, integer: bool = False) -> float:
        number, fields = self.next(what, 1)
        return self._parse(fields[0], what, number, integer)

    def _parse(self, token: str, what: str, number: int, integer: bool) -> float:
        try:
            value = int(token) if integer else float(token)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise self.fail(f"expected {kind} for {what}, got {token!r}", number) from None
        if integer and value < 0:
            raise self.fail(f"{what} must be >= 0, got {value}", number)
        if value != value:
            raise self.fail(f"expected a number for {what}, got {token!r}", number)
        return value

    def count(self, what: str) -> int:
        return int(self.number(f"the number of {what}", integer=True))

    def entries(self, what: str, indices: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """A count, then that many records ``i₁ … i_k value`` with 1-based ``i_a <= indices[a]``:
        the 0-based indices as a ``(count, k)`` array and the values."""
        count = self.count(what)
        index, value = np.zeros((count, len(indices)), dtype=np.int64), np.zeros(count)
        for r in range(count):
            number, fields = self.next(f"an entry of {what}", len(indices) + 1)
            for a, top in enumerate(indices):
                i = self._parse(fields[a], f"an index of {what}", number, integer=True)
                if not 1 <= i <= top:
                    raise self.fail(f"index {i} of {what} is outside 1..{top}", number)
                index[r, a] = i - 1
            value[r] = self._parse(fields[len(indices)], f"a value of {what}", number, integer=False)
        return index, value

    def vector(self, what: str, size: int, infinity: float = np.inf) -> np.ndarray:
        """A default value, then a count of ``i value`` records that override it."""
        values = np.full(size, self.number(f"the default {what}"))
        index, value = self.entries(f"non-default {what}s", (size,))
        values[index[:, 0]] = value
        values[values >= infinity] = np.inf
        values[values <= -infinity] = -np.inf
        return values


OBJECTIVE_TYPES, VARIABLE_TYPES, CONSTRAINT_TYPES = "LDCQ", "CBMIG", "NBLDCQ"
MAX_INTEGER_BITS = 30  # an integer variable's range may span at most 2**30 values (its binary expansion)


def read_qplib(path: Path) -> Problem:
    """A QPLIB instance as a Problem with variable ``x`` (and ``bits`` for general integers).

    The problem type's three letters (objective, variables, constraints) decide which sections
    the file has. A quadratic form is stored as its lower-triangle entries ``i j v`` (``i >= j``,
    1-based) and means ``½ Σ v x_i x_j``: an off-diagonal entry holds ``Q_ij + Q_ji``, not one
    half of it (what QPLIB's published solutions satisfy: ``benchmarks/qplib.py``). Binary
    variables become ``x_i² = x_i``; an integer variable on ``[l, u]`` becomes ``l + Σ_k 2ᵏ b_k``
    over binary ``bits`` (exact, so every relaxation stays a relaxation); an integer variable
    without finite bounds is refused. Values at or beyond the file's infinity are infinite. The
    variables' bounds are tightened by what the constraints imply (:func:`_implied_by_rows`:
    linear rows, and quadratic rows through their quadratic part's interval; rounded outward),
    so a free variable the constraints confine gets the finite bounds every relaxation needs.
    """
    lines = _Lines(path)
    lines.text("the instance name")
    number, fields = lines.next("the problem type", 1)
    kind = fields[0].upper()
    if len(kind) != 3 or kind[0] not in OBJECTIVE_TYPES or kind[1] not in VARIABLE_TYPES \
            or kind[2] not in CONSTRAINT_TYPES:
        raise lines.fail(f"unknown problem type {fields[0]!r} (three letters: objective {OBJECTIVE_TYPES}, "
                         f"variables {VARIABLE_TYPES}, constraints {CONSTRAINT_TYPES})", number)
    number, fields = lines.next("the objective sense", 1)
    if fields[0].lower() not in ("minimize", "maximize"):
        raise lines.fail(f"expected 'minimize' or 'maximize', got {fields[0]!r}", number)
    sense = fields[0].lower()
    n = int(lines.number("the number of variables", integer=True))
    constrained = kind[2] not in "NB"
    m = int(lines.number("the number of constraints", integer=True)) if constrained else 0
    Q0 = lines.entries("quadratic terms in the objective", (n, n)) if kind[0] != "L" else _no_entries(2)
    b0 = lines.vector("linear objective coefficient", n)
    q0 = lines.number("the objective constant")
    Qc = lines.entries("quadratic terms in the constraints", (m, n, n)) if constrained and kind[2] != "L" \
        else _no_entries(3)
    Bc = lines.entries("linear terms in the constraints", (m, n)) if constrained else _no_entries(2)
    infinity = lines.number("the value for infinity")
    if not infinity > 0:
        raise lines.fail(f"the value for infinity must be positive, got {infinity}", lines.records[lines.at - 1][0])
    if constrained:
        cl, cu = (lines.vector(f"constraint {side}-hand side", m, infinity) for side in ("left", "right"))
        bad = np.flatnonzero(cl > cu)
        if bad.size:
            raise lines.fail(f"constraint {bad[0] + 1} has left-hand side {cl[bad[0]]:g} > right-hand side "
                             f"{cu[bad[0]]:g}")
    if kind[1] == "B":
        lower, upper, integer = np.zeros(n), np.ones(n), np.ones(n, bool)
    else:
        lower, upper = (lines.vector(f"variable {side} bound", n, infinity) for side in ("lower", "upper"))
        integer = np.full(n, kind[1] == "I")
        if kind[1] in "MG":
            codes = lines.vector("variable type", n)
            bad = np.flatnonzero((codes != 0) & (codes != 1))
            if bad.size:
                raise lines.fail(f"variable type of x{bad[0] + 1} is {codes[bad[0]]:g} (0 continuous, 1 integer)")
            integer = codes == 1
    lines.vector("variable primal value in starting point", n)
    if constrained:
        lines.vector("constraint dual value in starting point", m)
    lines.vector("variable bound dual value in starting point", n)
    for what in ("variable names", "constraint names"):
        for _ in range(lines.count(f"non-default {what}")):
            lines.next(f"an entry of {what}", 2)
    if lines.at < len(lines.records):
        raise lines.fail("unexpected content after the constraint names (does the problem type match the file?)",
                         lines.records[lines.at][0])
    bad = np.flatnonzero(lower > upper)
    if bad.size:
        raise lines.fail(f"variable x{bad[0] + 1} has lower bound {lower[bad[0]]:g} > upper bound {upper[bad[0]]:g}")
    linear = _sparse(Bc[0][:, 0], Bc[0][:, 1], Bc[1], m, n)
    if constrained:  # bounds the rows imply: what the relaxations need of free variables
        lower, upper = _implied_by_rows(linear, Qc, cl, cu, lower, upper)
        bad = np.flatnonzero(lower > upper)
        if bad.size:
            raise lines.fail(f"the constraints and bounds are infeasible: they imply {lower[bad[0]]:g} <= "
                             f"x{bad[0] + 1} <= {upper[bad[0]]:g}")
    problem = Problem()
    x = problem.variable("x", n, lower=lower, upper=upper)
    objective = _quadratic_form(x, Q0[0], Q0[1], 1) + b0 @ x + q0
    (problem.maximize if sense == "maximize" else problem.minimize)(objective)
    if constrained:
        body = _quadratic_form(x, Qc[0][:, 1:], Qc[1], m, Qc[0][:, 0]) + linear @ x
        _add_ranges(problem, body, cl, cu)
    _add_integrality(problem, x, integer, lines)
    return problem


IMPLIED_ROUNDS = 10  # rounds of bound propagation through the rows' quadratic parts


def _implied_by_rows(linear: sp.csr_array, Qc, cl: np.ndarray, cu: np.ndarray, lower: np.ndarray,
                     upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box tightened by the rows ``cl <= B x + ½ Σ v x_i x_j <= cu``: each row's quadratic
    part is replaced by its interval over the current box (outward rounded; infinite while one
    of its variables is unbounded), leaving linear rows for :func:`implied_bounds`, in rounds
    until the box stops changing."""
    for _ in range(IMPLIED_ROUNDS):
        low, high = _quadratic_ranges(Qc, cl.size, lower, upper)
        with np.errstate(invalid="ignore"):  # −inf − (−inf): a side that says nothing
            row_lo, row_hi = np.nextafter(cl - high, -np.inf), np.nextafter(cu - low, np.inf)
        row_lo, row_hi = np.where(np.isnan(row_lo), -np.inf, row_lo), np.where(np.isnan(row_hi), np.inf, row_hi)
        new_lower, new_upper = implied_bounds(linear, row_lo, row_hi, lower, upper)
        if np.array_equal(new_lower, lower) and np.array_equal(new_upper, upper):
            break
        lower, upper = new_lower, new_upper
    return lower, upper


def _quadratic_ranges(Qc, m: int, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, an interval holding ``½ Σ v x_i x_j`` over the box (outward rounded)."""
    (index, values), low, high = Qc, np.zeros(m), np.zeros(m)
    if not values.size:
        return low, high
    rows, i, j = index[:, 0], index[:, 1], index[:, 2]
    with np.errstate(invalid="ignore"):  # 0 · inf: unbounded either way (masked below)
        least, most = product_bounds(lower[i], upper[i], lower[j], upper[j], i == j)
    finite = np.isfinite(lower[i]) & np.isfinite(upper[i]) & np.isfinite(lower[j]) & np.isfinite(upper[j])
    weight = 0.5 * values
    term_lo = np.where(finite, np.minimum(weight * least, weight * most), 0.0)
    term_hi = np.where(finite, np.maximum(weight * least, weight * most), 0.0)
    low, high = np.bincount(rows, term_lo, minlength=m), np.bincount(rows, term_hi, minlength=m)
    magnitude = np.bincount(rows, np.maximum(np.abs(term_lo), np.abs(term_hi)), minlength=m)
    terms = np.bincount(rows, minlength=m) + 2.0  # the products and the halving: two roundings more
    low, high = round_out(low, high, 2.0 * magnitude, terms)
    unbounded = np.bincount(rows, ~finite, minlength=m) > 0
    return np.where(unbounded, -np.inf, low), np.where(unbounded, np.inf, high)


def _no_entries(width: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, width), dtype=np.int64), np.zeros(0)


def _sparse(rows, cols, values, m: int, n: int) -> sp.csr_array:
    return sp.csr_array((values, (rows, cols)), shape=(m, n))


def _quadratic_form(x, pairs: np.ndarray, values: np.ndarray, m: int, rows: np.ndarray | None = None):
    """Rows ``½ Σ v x_i x_j`` over the stored entries ``(i, j, v)`` (one row when ``rows`` is ``None``)."""
    if not values.size:
        return 0.0 if rows is None else Affine(sp.csr_array((m, x.size)), np.zeros(m), scope=x.scope)
    i, j = pairs[:, 0], pairs[:, 1]
    weight = 0.5 * values
    products = x[i] * x[j]
    if rows is None:
        return products @ weight
    return _sparse(rows, np.arange(values.size), weight, m, values.size) @ products


def _add_ranges(problem: Problem, body, lower: np.ndarray, upper: np.ndarray) -> None:
    """``lower <= body <= upper`` row by row: equalities where they meet, one-sided rows otherwise."""
    equal = np.flatnonzero(np.isfinite(lower) & (lower == upper))
    below = np.flatnonzero(np.isfinite(upper) & (lower != upper))
    above = np.flatnonzero(np.isfinite(lower) & (lower != upper))
    for rows, make, name in ((equal, lambda e, b: e == b, "equal"), (below, lambda e, b: e <= b, "at most"),
                             (above, lambda e, b: e >= b, "at least")):
        if rows.size:
            problem.subject_to(make(body[rows], (upper if name != "at least" else lower)[rows]), name=name)


def _add_integrality(problem: Problem, x, integer: np.ndarray, lines: _Lines) -> None:
    """Binary variables as ``x_i² = x_i``; general integers as a binary expansion over ``bits``."""
    index = np.flatnonzero(integer)
    if not index.size:
        return
    low, high = np.ceil(x.lower[index]), np.floor(x.upper[index])
    unbounded = np.flatnonzero(~(np.isfinite(low) & np.isfinite(high)))
    if unbounded.size:
        raise lines.fail(f"integer variable x{index[unbounded[0]] + 1} has no finite bounds; qcqp represents "
                         f"integers by their binary expansion, which needs both")
    if np.any(low > high):
        raise lines.fail(f"integer variable x{index[np.argmax(low > high)] + 1} has no integer in its bounds")
    span = high - low
    wide = np.flatnonzero(span >= 2.0**MAX_INTEGER_BITS)
    if wide.size:
        raise lines.fail(f"integer variable x{index[wide[0]] + 1} spans {span[wide[0]]:g} values "
                         f"(at most 2**{MAX_INTEGER_BITS})")
    small = span <= 1
    if np.any(small):
        problem.subject_to((x[index[small]] - low[small]) * (x[index[small]] - high[small]) == 0, name="binary")
    if np.all(small):
        return
    general, low, span = index[~small], low[~small], span[~small]
    width = np.floor(np.log2(span)).astype(int) + 1
    total = int(width.sum())
    bits = problem.variable("bits", total, lower=0.0, upper=1.0)
    power = 2.0 ** (np.arange(total) - np.repeat(np.cumsum(width) - width, width))
    expansion = _sparse(np.repeat(np.arange(general.size), width), np.arange(total), power, general.size, total) @ bits
    problem.subject_to(bits * bits == bits, name="bits binary")
    problem.subject_to(x[general] == low + expansion, name="integer expansion")
    problem.subject_to(expansion <= span, name="integer range")


PROBLEM_FORMATS: dict[str, Callable[[Path], Problem]] = {".in": read_boxqp, ".qplib": read_qplib}


def read_problem(path: str | Path) -> Problem:
    """A problem file by its suffix (see :data:`PROBLEM_FORMATS`)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such problem file")
    reader = PROBLEM_FORMATS.get(path.suffix)
    if reader is None:
        raise InputError(f"{path}: unknown problem format {path.suffix!r} (known: {', '.join(PROBLEM_FORMATS)})")
    return reader(path)


__all__ = ["PROBLEM_FORMATS", "read_boxqp", "read_problem", "read_qplib"]
