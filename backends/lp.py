"""``lp``: the linear relaxation (McCormick, secant/tangent, complementarity hulls) solved by HiGHS."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from qcqp import IR, Backend, InputError, Relaxation, Result, Status, register_backend
from qcqp.backend import package, time_left
from qcqp.backends.cuts import CUT_FAMILIES, CUTS_PER_ROUND, linear_rows, separate
from qcqp.backends.highs import WarmLP, solve_linear_model
from qcqp.backends.linear import LinearModel, build_linear_model, with_lifted_rows
from qcqp.expr import widen_columns
from qcqp.primal import best_point


@dataclass(frozen=True)
class LPRelaxation(Relaxation):
    """The IR and its linear model; a linear objective is swapped in place."""

    model: LinearModel

    def rebuild_objective(self, ir: IR) -> Relaxation:
        if ir.objective.products:  # new products may need new lifted columns
            return super().rebuild_objective(ir)
        width = self.model.c.size
        c = widen_columns(ir.objective.affine.A, width).toarray().ravel()
        return replace(self, ir=ir, model=replace(self.model, c=c, c0=float(ir.objective.affine.a[0])))

    def bounder(self, deadline: float | None = None):
        """One warm-started HiGHS model for every objective (bounds only: no points, no polish),
        each solve stopped at ``deadline``."""
        warm = WarmLP(self.model)

        def bound_of(relaxation: LPRelaxation) -> float:
            if relaxation.model.c.size != self.model.c.size:  # new product columns: a model of its own
                return relaxation.solve(polish=0.0, time_limit=time_left(deadline)).bound
            return relaxation.ir.user_value(warm.upper_bound(relaxation.model.c, relaxation.model.c0, deadline))

        return bound_of


LIFTED_MAX_VARIABLES = 3000  # above this the LP's lifted matrix (dense, (n+1)²) is not formed


def lifted_matrix(model: LinearModel, x: np.ndarray) -> np.ndarray | None:
    """The LP's solution as a lifted matrix: ``x̃x̃ᵀ`` with every product column the LP models
    (``w_ab ≈ v_a v_b``) in place of ``v_a v_b`` — where it differs, the LP relaxed that product."""
    if model.n > LIFTED_MAX_VARIABLES:
        return None
    tilde = np.concatenate([[1.0], x[:model.n]])
    P = np.outer(tilde, tilde)
    paired = model.entries[:, 0] >= 0
    a, b = model.entries[paired, 0] + 1, model.entries[paired, 1] + 1
    P[a, b] = P[b, a] = x[model.n:][paired]
    return P


@register_backend("lp")
class LP(Backend):
    """Linear relaxation via HiGHS; the bound is rebuilt from the duals (Neumaier–Shcherbina)."""

    name = "lp"
    lifts_products = False

    def relax(self, ir: IR) -> LPRelaxation:
        ir.require_bounds("lp")
        return LPRelaxation(ir, self, build_linear_model(ir))

    def solve(self, relaxation: LPRelaxation, time_limit: float | None = None, polish: float = 10.0,
              family: str = "auto", cut_rounds: int = 10) -> Result:
        """Solve the relaxation.

        Parameters
        ----------
        time_limit
            Seconds for HiGHS; on time-out the bound from the current duals is still valid.
        polish
            Seconds for the local solver that improves the LP's point into a feasible one
            (:func:`~qcqp.primal.best_point`); 0 checks the candidates only.
        family
            ``"auto"`` (McCormick envelopes of the products the problem has), or that plus cuts
            separated from the LP's lifted point (:mod:`qcqp.backends.cuts`, as for ``sdp``):
            ``"rlt"`` (here: the products of linear rows with bounds, and the envelopes of any
            pair they need), ``"triangle"``, ``"rlt+triangle"``.
        cut_rounds
            Rounds of separation for the cut families.
        """
        if family not in FAMILIES:
            raise InputError(f"unknown relaxation family {family!r} for lp; choose from {', '.join(FAMILIES)}")
        if cut_rounds < 0:
            raise InputError("cut_rounds must be >= 0")
        ir, model = relaxation.ir, relaxation.model
        started = time.perf_counter()
        sol = solve_linear_model(model, time_limit)
        best = (model, sol)
        rounds, cuts = 0, 0
        linear = linear_rows(ir) if family in CUT_FAMILIES else None
        while family in CUT_FAMILIES and rounds < cut_rounds and sol.x is not None and sol.status != Status.INFEASIBLE:
            P = lifted_matrix(model, sol.x)
            rows = None if P is None else separate(P, ir.lower, ir.upper, CUT_FAMILIES[family],
                                                   count=CUTS_PER_ROUND * (ir.n + 1), linear=linear)[0]
            if rows is None or (time_limit is not None and time.perf_counter() - started > time_limit):
                break
            model = with_lifted_rows(model, rows)
            sol, rounds, cuts = solve_linear_model(model, time_limit), rounds + 1, cuts + rows.shape[0]
            if sol.bound <= best[1].bound or sol.status == Status.INFEASIBLE:
                best = (model, sol)
        model, sol = best
        solved = sol.x is not None and sol.status != Status.INFEASIBLE  # a proof of emptiness: no point to seek
        point, primal = best_point(ir, point=sol.x, time_budget=polish) if solved else (None, {})
        result = package(ir, self.name, sol.status, sol.bound, point, sol.value,
                         message=sol.message, certificate=sol.certificate,
                         relaxed=sol.x[:model.n] if solved else None,
                         lifted=lifted_matrix(model, sol.x) if solved else None)
        result.stats["primal"] = primal
        result.stats.update(columns=model.c.size, rows=model.A_ub.shape[0] + model.A_eq.shape[0], family=family,
                            cut_rounds=rounds, cuts=cuts)
        enveloped = [c.name or "unnamed" for c in ir.constraints if not c.is_linear]
        if enveloped:  # e.g. an ℓ2 input ball: the LP sees little more than its bounding box
            result.stats["quadratic_rows_by_mccormick"] = enveloped
        return result


FAMILIES = ("auto", *CUT_FAMILIES)
