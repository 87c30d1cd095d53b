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
        if sense not in ("min", "max"):
            raise InputError(f"objective sense must be 'min' or 'max', got {sense!r}")
        expr = as_expression(expr)
        scope = self.variables[0].scope if self.variables else None
        if expr.scope is not None and expr.scope is not scope:
            raise InputError(f"the objective uses variable {', '.join(map(repr, expr.variable_names()))} "
                             "of another Problem")
        if expr.size != 1:
            raise InputError(f"the objective must be scalar, got size {expr.size}")
        sign = 1 if sense == "max" else -1
        quad = expr if isinstance(expr, Quadratic) else Quadratic(expr)
        return replace(self, objective=(quad * float(sign)).padded(self.n), sign=sign)
