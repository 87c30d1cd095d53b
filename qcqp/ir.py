"""The compiled, immutable problem that backends consume."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from qcqp.constraints import Complementarity, Constraint
from qcqp.errors import InputError
from qcqp.expr import Expression, Quadratic, as_expression
from qcqp.variables import Variable


@dataclass(frozen=True)
class IR:
    """What backends consume: every expression padded to ``n`` columns.

    The objective is stored in maximisation form: ``objective = sign * user_objective``
    with ``sign = +1`` for ``maximize`` and ``-1`` for ``minimize``. Constraints are
    ``expr <= 0`` or ``expr == 0``; complementarities carry bounds on ``f − g``.
    """

    variables: tuple[Variable, ...]
    lower: np.ndarray
    upper: np.ndarray
    objective: Quadratic
    sign: int
    constraints: tuple[Constraint, ...]
    complementarities: tuple[Complementarity, ...]
    stats: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.lower.size

    def require_bounds(self, backend: str) -> None:
        """Raise a clear error naming the first unbounded variable."""
        for var in self.variables:
            bad = np.flatnonzero(~(np.isfinite(var.lower) & np.isfinite(var.upper)))
            if bad.size:
                raise InputError(
                    f"backend {backend!r} needs finite bounds on every variable; "
                    f"{var.name!r}[{bad[0]}] is unbounded (pass lower=/upper= to Problem.variable)"
                )

    def user_value(self, value: float) -> float:
        """Map a maximisation-form objective value back to the user's sense."""
        return self.sign * value

    def objective_value(self, v: np.ndarray) -> float:
        return float(self.objective.evaluate(v)[0])

    def max_violation(self, v: np.ndarray) -> float:
        """Largest constraint or bound violation of the point ``v``."""
        worst = max(np.max(self.lower - v, initial=0.0), np.max(v - self.upper, initial=0.0))
        for con in (*self.constraints, *self.complementarities):
            worst = max(worst, float(np.max(con.violation(v), initial=0.0)))
        return worst

    def split(self, v: np.ndarray) -> dict[str, np.ndarray]:
        """Values of each named variable block in ``v``."""
        return {var.name: v[var.indices].copy() for var in self.variables}

    def with_objective(self, expr: Expression, sense: str = "min") -> IR:
        """The same feasible set with another scalar objective (``sense`` ``"min"`` or ``"max"``)."""
        sign = sense_sign(sense)
        quad = scalar_objective(expr, self.variables[0].scope if self.variables else None)
        return replace(self, objective=(quad * float(sign)).padded(self.n), sign=sign)


def sense_sign(sense: str) -> int:
    """``+1`` for ``"max"``, ``−1`` for ``"min"`` (the sign of the maximisation form)."""
    if sense not in ("min", "max"):
        raise InputError(f"objective sense must be 'min' or 'max', got {sense!r}")
    return 1 if sense == "max" else -1


def check_scope(expr: Expression, scope, what: str) -> None:
    """Raise if ``expr`` uses variables of another Problem than the one owning ``scope``."""
    if expr.scope is not None and expr.scope is not scope:
        names = ", ".join(map(repr, expr.variable_names()))
        raise InputError(f"{what} uses variable {names} of another Problem; create it with this "
                         "Problem's .variable()")


def scalar_objective(expr, scope) -> Quadratic:
    """``expr`` as a scalar :class:`Quadratic` of the variables in ``scope``, or a clear error."""
    expr = as_expression(expr)
    check_scope(expr, scope, "the objective")
    if expr.size != 1:
        raise InputError(f"the objective must be scalar, got size {expr.size}")
    return expr if isinstance(expr, Quadratic) else Quadratic(expr)
