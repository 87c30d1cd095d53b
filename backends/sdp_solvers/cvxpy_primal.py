"""The readable primal ``max ⟨C, P⟩``, ``P ⪰ 0`` through cvxpy: a cross-check, not a fast path
(cvxpy canonicalises the dense ``P``). ``settings`` may name the cvxpy solver (``solver="SCS"``)."""

from __future__ import annotations

import numpy as np

from qcqp import Status
from qcqp.backends.sdp_solvers import DualSolution, SdpSolver, register_sdp_solver
from qcqp.lifting import pair_rows_cols


@register_sdp_solver("cvxpy")
class CvxpyPrimal(SdpSolver):
    name, module = "cvxpy", "cvxpy"

    def solve(self, form, time_limit, verbose, settings):
        import cvxpy as cp

        settings = dict(settings)
        solver = settings.pop("solver", "CLARABEL")
        rows, cols = pair_rows_cols(form.dim)
        P = cp.Variable((form.dim, form.dim), PSD=True)
        p = P[rows, cols]
        one, le = P[0, 0] == 1, form.G @ p <= 0
        eq = form.E @ p == 0 if form.E.shape[0] else None
        problem = cp.Problem(cp.Maximize(form.c @ p), [one, le] + ([eq] if eq is not None else []))
        problem.solve(solver=solver, verbose=verbose, **settings)
        status = {cp.OPTIMAL: Status.OPTIMAL, cp.OPTIMAL_INACCURATE: Status.BOUND,
                  cp.INFEASIBLE: Status.INFEASIBLE, cp.INFEASIBLE_INACCURATE: Status.INFEASIBLE}
        y = eq.dual_value if eq is not None and eq.dual_value is not None else np.zeros(form.E.shape[0])
        mu = le.dual_value if le.dual_value is not None else np.zeros(form.G.shape[0])
        t = one.dual_value if one.dual_value is not None else np.inf
        info = {"solver_status": problem.status, "solver_time": problem.solver_stats.solve_time}
        return DualSolution(status.get(problem.status, Status.ERROR), float(t), np.asarray(y, float),
                            np.asarray(mu, float), P.value, info)
