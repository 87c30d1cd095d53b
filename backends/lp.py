"""``lp``: linear relaxation solved with HiGHS; the bound is rebuilt from the duals."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from qcqp import IR, Result, Status, register_backend
from qcqp.backends.linear import LinearModel, build_linear_model
from qcqp.safe import loosen_upper, lp_upper_bound


@dataclass
class LPSolution:
    """HiGHS's answer with the rigorous bound rebuilt from its multipliers."""

    status: Status
    bound: float
    x: np.ndarray | None = None
    value: float | None = None
    y_ub: np.ndarray | None = None
    y_eq: np.ndarray | None = None


def solve_linear_model(model: LinearModel, time_limit: float | None = None) -> LPSolution:
    """Solve ``model`` with HiGHS (maximisation); the bound holds whatever HiGHS returns."""
    options = {"presolve": True}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = linprog(-model.c, A_ub=model.A_ub if model.A_ub.shape[0] else None,
                  b_ub=model.b_ub if model.A_ub.shape[0] else None,
                  A_eq=model.A_eq if model.A_eq.shape[0] else None,
                  b_eq=model.b_eq if model.A_eq.shape[0] else None,
                  bounds=np.column_stack([model.lower, model.upper]), method="highs", options=options)
    if res.status == 2:
        return LPSolution(Status.INFEASIBLE, -np.inf)
    if res.x is None or not hasattr(res, "ineqlin"):
        return LPSolution(Status.ERROR, np.inf)
    y_ub = -res.ineqlin.marginals if model.A_ub.shape[0] else np.zeros(0)
    y_eq = -res.eqlin.marginals if model.A_eq.shape[0] else np.zeros(0)
    bound = lp_upper_bound(model.c, model.A_ub, model.b_ub, model.A_eq, model.b_eq,
                           model.lower, model.upper, y_ub, y_eq)
    bound = loosen_upper(bound + model.c0)
    status = Status.OPTIMAL if res.status == 0 else Status.BOUND
    return LPSolution(status, bound, res.x, -res.fun + model.c0, y_ub, y_eq)


@register_backend("lp")
def solve_lp(ir: IR, time_limit: float | None = None) -> Result:
    """Linear relaxation (McCormick / secant / tangent / complementarity hulls) via HiGHS.

    Parameters
    ----------
    ir
        The compiled problem; every variable that enters a product needs finite bounds.
    time_limit
        Seconds for HiGHS; on time-out the bound from the current duals is still valid.
    """
    start = time.perf_counter()
    ir.require_bounds("lp")
    model = build_linear_model(ir)
    built = time.perf_counter()
    sol = solve_linear_model(model, time_limit)
    result = _result(ir, "lp", sol.status, sol.bound, sol.x, sol.value)
    result.stats.update(relax_time=built - start, solve_time=time.perf_counter() - built,
                        columns=model.c.size, rows=model.A_ub.shape[0] + model.A_eq.shape[0])
    return result


def _result(ir: IR, backend: str, status: Status, upper: float, x, solver_value) -> Result:
    """Package a maximisation-form upper bound (and a candidate point) in the user's sense."""
    if status == Status.INFEASIBLE:
        return Result(backend, status, ir.user_value(-np.inf), message="relaxation infeasible")
    value = point = None
    if x is not None:
        v = np.clip(x[: ir.n], ir.lower, ir.upper)
        if ir.max_violation(v) <= 1e-9:
            value, point = ir.user_value(ir.objective_value(v)), ir.split(v)
    return Result(backend, status, ir.user_value(upper), value=value, point=point,
                  solver_value=None if solver_value is None else ir.user_value(solver_value))
