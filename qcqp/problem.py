"""The user-facing :class:`Problem`, compiled to the immutable :class:`~qcqp.ir.IR`."""

from __future__ import annotations

import copy
import time

import numpy as np

from qcqp.constraints import Complementarity, Constraint
from qcqp.errors import InputError
from qcqp.expr import Affine, Expression, Quadratic
from qcqp.interval import affine_bounds
from qcqp.ir import IR, check_scope, scalar_objective, sense_sign
from qcqp.registry import BACKENDS
from qcqp.result import Result
from qcqp.variables import Scope, Variable


class Problem:
    """A nonconvex QCQP written with Python operators.

    Examples
    --------
    >>> import numpy as np, qcqp
    >>> p = qcqp.Problem()
    >>> x = p.variable("x", 2, lower=-1, upper=1)
    >>> p.maximize(x[0] * x[1])
    >>> p.solve(backend="sdp").bound >= 1 - 1e-6
    True
    """

    def __init__(self):
        self.variables: list[Variable] = []
        self.constraints: list[Constraint | Complementarity] = []
        self._objective: Quadratic | None = None
        self._sign = 1
        self._scope = Scope(self.variables)

    def with_objective(self, expr, sense: str = "min") -> Problem:
        """A copy with another objective (``sense`` ``"min"`` or ``"max"``); this problem is unchanged.

        The copy shares the variables (one index space), so either can be solved with them.
        """
        sign = sense_sign(sense)
        other = copy.copy(self)
        other.constraints = list(self.constraints)
        other._set_objective(expr, sign)
        return other

    @property
    def n(self) -> int:
        return sum(var.size for var in self.variables)

    def variable(self, name: str, shape: int | tuple[int, ...] = 1, lower=None, upper=None) -> Variable:
        """Add a named variable block (flattened in C order) with elementwise bounds."""
        if any(var.name == name for var in self.variables):
            raise InputError(f"variable name {name!r} is already used")
        size = int(np.prod(shape)) if isinstance(shape, tuple) else shape
        var = Variable(name, size, self.n, lower, upper, scope=self._scope)
        self.variables.append(var)
        return var

    def minimize(self, expr) -> None:
        self._set_objective(expr, -1)

    def maximize(self, expr) -> None:
        self._set_objective(expr, +1)

    def _set_objective(self, expr, sign: int) -> None:
        self._objective = scalar_objective(expr, self._scope)
        self._sign = sign

    def subject_to(self, *constraints: Constraint | Complementarity, name: str | None = None) -> None:
        """Add constraints; ``name`` (or an automatic ``c<k>``) identifies them in results."""
        for k, con in enumerate(constraints):
            if isinstance(con, (list, tuple)):
                self.subject_to(*con, name=name)
                continue
            if isinstance(con, bool) or not isinstance(con, (Constraint, Complementarity)):
                raise TypeError(
                    f"subject_to expects constraints such as `x <= 1`, got {type(con).__name__}"
                )
            for expr in _expressions(con):
                check_scope(expr, self._scope, f"constraint {con.name or name or f'c{len(self.constraints)}'!r}")
            label = name if name and len(constraints) == 1 else (f"{name}{k}" if name else "")
            self.constraints.append(con.named(con.name or label or f"c{len(self.constraints)}"))

    def compile(self) -> IR:
        """Validate and lower to the :class:`IR` that backends consume."""
        start = time.perf_counter()
        if not self.variables:
            raise InputError("the problem has no variables")
        n = self.n
        objective = self._objective if self._objective is not None else Quadratic(Affine.constant(0.0))
        _check_finite(objective, "objective")
        lower = np.concatenate([var.lower for var in self.variables])
        upper = np.concatenate([var.upper for var in self.variables])
        plain, comps = [], []
        for con in self.constraints:
            for expr in _expressions(con):
                _check_finite(expr, f"constraint {con.name!r}")
            if isinstance(con, Complementarity):
                comps.append(_pad_complementarity(con, n, lower, upper))
            else:
                plain.append(Constraint(con.expr.padded(n), con.sense, con.name, con.approximation))
        return IR(
            variables=tuple(self.variables), lower=lower, upper=upper,
            objective=(objective * float(self._sign)).padded(n), sign=self._sign,
            constraints=tuple(plain), complementarities=tuple(comps),
            stats={"compile_time": time.perf_counter() - start},
        )

    def solve(self, backend: str = "sdp", **options) -> Result:
        """Relax and solve with a registered backend (``"lp"``, ``"sdp"``, ``"sdp-fo"``, ``"exact"``)."""
        chosen = BACKENDS.get(backend)
        ir = self.compile()
        result = chosen.run(ir, **options)  # checks the options before relaxing
        result.stats.setdefault("compile_time", ir.stats["compile_time"])
        return result

    def solve_globally(self, oracle: str = "sdp", time_limit: float = 60.0, gap: float = 1e-4,
                       progress: bool = False, **options) -> Result:
        """The global optimum by branch and bound, ``oracle`` bounding every node
        (:func:`qcqp.branch.branch_and_bound`); at a limit, the best point and a valid bound."""
        from qcqp.branch import branch_and_bound

        return branch_and_bound(self.compile(), oracle, time_limit=time_limit, gap=gap, progress=progress, **options)

    def to_sympy(self):
        """The problem as sympy expressions (small problems only)."""
        from qcqp.symbolic import to_sympy

        return to_sympy(self.compile())

    def __str__(self) -> str:
        from qcqp.symbolic import pretty

        return pretty(self.compile())


def _expressions(con: Constraint | Complementarity) -> tuple[Expression, ...]:
    return (con.f, con.g) if isinstance(con, Complementarity) else (con.expr,)


def _check_finite(expr: Expression, what: str) -> None:
    affines = [expr] if isinstance(expr, Affine) else [expr.affine] + [
        side for term in expr.products for side in (term.left, term.right)
    ]
    mats = [x.A.data for x in affines] + [x.a for x in affines]
    if isinstance(expr, Quadratic):
        mats += [term.S.data for term in expr.products]
    if not all(np.all(np.isfinite(m)) for m in mats):
        raise InputError(f"{what} has NaN or infinite coefficients")


def _pad_complementarity(con: Complementarity, n: int, lower, upper) -> Complementarity:
    f, g = con.f.padded(n), con.g.padded(n)
    bounds = con.diff_bounds
    if bounds is None:
        diff = f - g
        bounds = affine_bounds(diff.A, diff.a, lower, upper)
    return Complementarity(f, g, bounds, con.name)
