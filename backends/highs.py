"""Solve a :class:`~qcqp.backends.linear.LinearModel` with HiGHS; every outcome is re-verified.

HiGHS is trusted for its multipliers only. A bound is rebuilt from them by
:func:`qcqp.safe.lp_upper_bound`; "infeasible" is reported only with a Farkas certificate
``(y_ub >= 0, y_eq)`` for which that same rigorous bound on the *zero* objective is
negative, i.e. ``0 <= yᵀ(Ax − b) < 0`` would have to hold at any feasible point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from qcqp import Status
from qcqp.backend import time_left
from qcqp.backends.linear import LinearModel
from qcqp.backends.process import silenced
from qcqp.safe import loosen_upper, lp_upper_bound

STATUS_MAP = {0: Status.OPTIMAL, 1: Status.BOUND, 2: Status.INFEASIBLE, 3: Status.ERROR, 4: Status.ERROR}


@dataclass
class LPSolution:
    """HiGHS's answer with the rigorous bound rebuilt from its multipliers."""

    status: Status
    bound: float
    x: np.ndarray | None = None
    value: float | None = None
    y_ub: np.ndarray | None = None
    y_eq: np.ndarray | None = None
    message: str = ""
    proof: float | None = None  # infeasible: the verified bound (< 0) on max 0

    @property
    def certificate(self) -> dict:
        """The multipliers and the bound they prove (a Farkas ray and its ``max 0 < 0`` when infeasible)."""
        if self.status == Status.INFEASIBLE:
            return {"farkas": {"y_ub": self.y_ub, "y_eq": self.y_eq}, "max_zero_upper": self.proof}
        return {"multipliers": {"y_ub": self.y_ub, "y_eq": self.y_eq}, "verified_bound": self.bound}


def _linprog(c, model: LinearModel, A_ub, A_eq, lower, upper, time_limit):
    options = {"presolve": True}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    has_ub, has_eq = A_ub.shape[0] > 0, A_eq.shape[0] > 0
    res = linprog(c, A_ub=A_ub if has_ub else None, b_ub=model.b_ub if has_ub else None,
                  A_eq=A_eq if has_eq else None, b_eq=model.b_eq if has_eq else None,
                  bounds=np.column_stack([lower, upper]), method="highs", options=options)
    return res, _multipliers(res, "ineqlin", A_ub.shape[0]), _multipliers(res, "eqlin", A_eq.shape[0])


def _multipliers(res, field: str, size: int) -> np.ndarray | None:
    """HiGHS's marginals of one row block as multipliers of the maximisation (``None`` if absent)."""
    if size == 0:
        return np.zeros(0)
    marginals = getattr(getattr(res, field, None), "marginals", None)
    return None if marginals is None else -np.asarray(marginals, float)


def solve_linear_model(model: LinearModel, time_limit: float | None = None) -> LPSolution:
    """Solve ``model`` (maximisation); the bound holds whatever HiGHS returns."""
    res, y_ub, y_eq = _linprog(-model.c, model, model.A_ub, model.A_eq, model.lower, model.upper, time_limit)
    status = STATUS_MAP.get(res.status, Status.ERROR)
    if status == Status.INFEASIBLE:
        return farkas(model, time_limit)
    if res.x is None or y_ub is None or y_eq is None:
        return LPSolution(Status.ERROR, np.inf, message=res.message)
    bound = lp_upper_bound(model.c, model.A_ub, model.b_ub, model.A_eq, model.b_eq,
                           model.lower, model.upper, y_ub, y_eq)
    return LPSolution(status, loosen_upper(bound + model.c0), res.x, -res.fun + model.c0, y_ub, y_eq,
                      message=res.message)


def farkas(model: LinearModel, time_limit: float | None = None) -> LPSolution:
    """Prove ``model`` infeasible, or say it could not be proven (status ``ERROR``).

    The elastic LP ``min 1ᵀs_ub + 1ᵀ(s⁺ + s⁻)`` s.t. ``A_ub x − s_ub <= b_ub``,
    ``A_eq x − s⁺ + s⁻ = b_eq`` over the box is always feasible; its multipliers, restricted
    to ``x``, are the Farkas ray. They are accepted only if the rigorous upper bound they give
    on ``max 0`` is negative.
    """
    m_ub, m_eq, n = model.A_ub.shape[0], model.A_eq.shape[0], model.c.size
    A_ub = sp.hstack([model.A_ub, -sp.eye_array(m_ub), sp.csr_array((m_ub, 2 * m_eq))], format="csr")
    A_eq = sp.hstack([model.A_eq, sp.csr_array((m_eq, m_ub)), -sp.eye_array(m_eq), sp.eye_array(m_eq)],
                     format="csr")
    slack = m_ub + 2 * m_eq
    c = np.concatenate([np.zeros(n), np.ones(slack)])
    lower = np.concatenate([model.lower, np.zeros(slack)])
    upper = np.concatenate([model.upper, np.full(slack, np.inf)])
    res, y_ub, y_eq = _linprog(c, model, A_ub, A_eq, lower, upper, time_limit)
    if y_ub is None or y_eq is None:
        return LPSolution(Status.ERROR, np.inf, message=f"HiGHS: infeasible, and no Farkas ray ({res.message})")
    proof = lp_upper_bound(np.zeros(n), model.A_ub, model.b_ub, model.A_eq, model.b_eq,
                           model.lower, model.upper, y_ub, y_eq)
    if proof < 0:
        return LPSolution(Status.INFEASIBLE, -np.inf, y_ub=y_ub, y_eq=y_eq, proof=proof,
                          message=f"relaxation infeasible (Farkas certificate verified: max 0 <= {proof:.3g})")
    return LPSolution(Status.ERROR, np.inf, message="HiGHS reports infeasible but the Farkas ray did not verify")


class WarmLP:
    """Many objectives over one :class:`LinearModel`: HiGHS keeps the model and its basis
    between solves (a changed objective re-solves from the last optimum in a few pivots).
    Every bound is rebuilt from the multipliers by :func:`qcqp.safe.lp_upper_bound`."""

    def __init__(self, model: LinearModel):
        import highspy

        self.model, m_ub = model, model.A_ub.shape[0]
        self.solver = highs_model(model.c, model.lower, model.upper, sp.vstack([model.A_ub, model.A_eq], format="csc"),
                                  np.concatenate([np.full(m_ub, -np.inf), model.b_eq]),
                                  np.concatenate([model.b_ub, model.b_eq]))
        self.optimal = highspy.HighsModelStatus.kOptimal

    def upper_bound(self, c: np.ndarray, c0: float = 0.0, deadline: float | None = None) -> float:
        """A rigorous upper bound on ``max cᵀx + c0`` over the model (``inf`` if HiGHS fails or
        ``time.perf_counter()`` passes ``deadline`` first)."""
        model, m_ub = self.model, self.model.A_ub.shape[0]
        left = time_left(deadline)  # HiGHS's limit counts from the model's creation
        self.solver.setOptionValue("time_limit", self.solver.getRunTime() + (np.inf if left is None else left))
        self.solver.changeColsCost(c.size, np.arange(c.size, dtype=np.int32), -np.asarray(c, float))
        self.solver.run()
        if self.solver.getModelStatus() != self.optimal:
            return np.inf
        y = -np.asarray(self.solver.getSolution().row_dual, float)
        bound = lp_upper_bound(c, model.A_ub, model.b_ub, model.A_eq, model.b_eq, model.lower, model.upper,
                               y[:m_ub], y[m_ub:])
        return loosen_upper(bound + c0)


def highs_model(c, col_lo, col_hi, A: sp.csc_array, row_lo, row_hi, integrality=None):
    """A quiet HiGHS instance holding ``max c·x`` (as ``min −c·x``) over rows and bounds;
    ``integrality`` marks integer columns with 1 (a MILP)."""
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(c), A.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = -np.asarray(c, float), col_lo, col_hi
    lp.row_lower_, lp.row_upper_ = row_lo, row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
    if integrality is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if k else highspy.HighsVarType.kContinuous
                           for k in integrality]
    with silenced(False):  # HiGHS prints a banner when the first instance is made
        solver = highspy.Highs()
    solver.setOptionValue("output_flag", False)
    solver.passModel(lp)
    return solver
