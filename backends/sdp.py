"""``sdp``: the Shor relaxation (SDP-CERT) compiled to an SDP solver of choice.

The relaxation is built once (:class:`~qcqp.backends.shor.ShorForm`, rows over the upper
triangle of ``P``) and handed to an adapter of :data:`~qcqp.backends.sdp_solvers.SDP_SOLVERS`.
Whatever multipliers come back, the bound is rebuilt by
:func:`~qcqp.backends.shor.dual_upper_bound`; "infeasible" is reported only with a verified
certificate (:func:`~qcqp.backends.shor.infeasibility_bound` below zero).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from qcqp import IR, Backend, InputError, Relaxation, Result, Status, register_backend
from qcqp.backend import package
from qcqp.backends.cuts import CUT_FAMILIES, CUTS_PER_ROUND, linear_rows, separate
from qcqp.backends.sdp_solvers import SDP_SOLVERS, DualSolution
from qcqp.backends.sdp_solvers.auto import check_memory, choose_solver
from qcqp.backends.sdp_solvers.clarabel import prove_infeasible
from qcqp.backends.shor import ShorForm, build_shor, dual_upper_bound
from qcqp.lifting import lift
from qcqp.primal import best_point


@dataclass(frozen=True)
class ShorRelaxation(Relaxation):
    """The IR and its Shor form; a linear objective only changes ``c``."""

    form: ShorForm

    def rebuild_objective(self, ir: IR) -> Relaxation:
        if ir.objective.products:  # products may need lifted McCormick rows of their own
            return super().rebuild_objective(ir)
        c = lift(ir.objective, self.form.dim).toarray().ravel()
        return replace(self, ir=ir, form=replace(self.form, c=c))


@register_backend("sdp")
class SDP(Backend):
    """Shor SDP relaxation with a rigorous bound from any solver's multipliers."""

    name = "sdp"

    def relax(self, ir: IR) -> ShorRelaxation:
        return ShorRelaxation(ir, self, build_shor(ir))

    def solve(self, relaxation: ShorRelaxation, solver: str = "auto", time_limit: float | None = None,
              verbose: bool = False, polish: float = 10.0, family: str = "auto", cut_rounds: int = 10,
              **settings) -> Result:
        """Solve the Shor relaxation.

        Parameters
        ----------
        solver
            ``"auto"`` (by problem shape and what is installed; see docs/benchmarks.md), or one of
            ``qcqp backends``' SDP solvers: ``"clarabel"``, ``"sdpa"``, ``"scs"``, ``"cvxpy"``.
        time_limit
            Seconds for the solver where it has a limit; any multipliers still give a valid bound.
        polish
            Seconds for the local solver that improves the feasible points rounded from ``P``
            (:func:`~qcqp.primal.best_point`); 0 checks the candidates only.
        family
            The relaxation: ``"shor"`` (lifted box rows only), ``"auto"`` (plus the McCormick rows
            of every pair the problem multiplies: never looser than ``lp``), or ``"auto"`` plus
            separated cuts (:mod:`qcqp.backends.cuts`): ``"rlt"`` (all pairs; with the products of
            the linear rows, :func:`~qcqp.backends.shor.linear_product_rows`), ``"triangle"``,
            ``"rlt+triangle"``.
        cut_rounds
            Rounds of separation (solve, add the violated cuts, solve again) for the cut families.
        settings
            Solver-specific settings (e.g. Clarabel ``tol_gap_rel=1e-9``, SDPA ``epsilonStar=1e-8``).
        """
        if family not in FAMILIES:
            raise InputError(f"unknown relaxation family {family!r}; choose from {', '.join(FAMILIES)}")
        if cut_rounds < 0:
            raise InputError("cut_rounds must be >= 0")
        ir = relaxation.ir
        # RLT separation finds the McCormick rows of ``auto`` itself, only those that bind
        form = relaxation.form if family in ("auto", "triangle") else \
            build_shor(ir, mccormick=family == "rlt+triangle", linear_products=family != "shor")
        name = choose_solver(form) if solver == "auto" else solver
        adapter = SDP_SOLVERS.get(name)
        if not adapter.available():
            raise InputError(f"SDP solver {name!r} is not installed: pip install 'qcqp-relax[{adapter.extra}]'")
        started = time.perf_counter()
        outcome = self._solve_form(form, adapter, time_limit, verbose, settings)
        rounds, cuts = 0, 0
        linear = linear_rows(ir) if family in CUT_FAMILIES else None
        while family in CUT_FAMILIES and rounds < cut_rounds and outcome.sol.P is not None \
                and outcome.status != Status.INFEASIBLE:
            rows, _ = separate(outcome.sol.P, ir.lower, ir.upper, CUT_FAMILIES[family],
                               count=CUTS_PER_ROUND * form.dim, linear=linear)
            if rows is None or (time_limit is not None and time.perf_counter() - started > time_limit):
                break
            form = replace(form, G=sp.csr_array(sp.vstack([form.G, rows], format="csr")))
            rounds, cuts = rounds + 1, cuts + rows.shape[0]
            tighter = self._solve_form(form, adapter, time_limit, verbose, settings)
            if tighter.upper <= outcome.upper or tighter.status == Status.INFEASIBLE:
                outcome = tighter
        sol, status, upper, certificate, message = outcome
        solved = sol.P is not None and status != Status.INFEASIBLE  # a proof of emptiness: no point to seek
        point, primal = best_point(ir, lifted=sol.P, time_budget=polish) if solved else (None, {})
        result = package(ir, self.name, status, upper, point, sol.t, message=message, certificate=certificate,
                         lifted=sol.P if solved else None, relaxed=sol.P[0, 1:] if solved else None)
        result.stats.update(sol.info, solver=name, dim=form.dim, equalities=form.E.shape[0],
                            inequalities=form.G.shape[0], primal=primal, family=family, cut_rounds=rounds,
                            cuts=cuts)
        return result

    @staticmethod
    def _solve_form(form: ShorForm, adapter, time_limit, verbose, settings) -> Solved:
        """One Shor form by ``adapter``, its bound rebuilt rigorously."""
        check_memory(adapter, form)
        sol = adapter.solve(form, time_limit, verbose, settings)
        finite = np.isfinite(sol.t) and np.all(np.isfinite(sol.y)) and np.all(np.isfinite(sol.mu))
        upper, lam = dual_upper_bound(form, sol.t, sol.y, sol.mu) if finite else (np.inf, -np.inf)
        certificate = {"t": sol.t, "y": sol.y, "mu": sol.mu, "lambda_min_lower": lam}
        status, message = sol.status, f"{adapter.name}: {sol.info.get('solver_status', sol.status.value)}"
        if status == Status.INFEASIBLE or not np.isfinite(upper):
            proof = prove_infeasible(form, time_limit)
            if proof is not None:
                status, certificate, message = Status.INFEASIBLE, proof, "relaxation infeasible (certificate verified)"
            else:  # an unproven claim: keep whatever valid bound the multipliers give
                status = Status.BOUND if np.isfinite(upper) else Status.ERROR
        elif status == Status.ERROR:
            status = Status.BOUND
        return Solved(sol, status, upper, certificate, message)


class Solved(NamedTuple):
    """One solve of a Shor form: the adapter's solution, the status, the rigorous upper bound."""

    sol: DualSolution
    status: Status
    upper: float
    certificate: dict
    message: str


FAMILIES = ("shor", "auto", *CUT_FAMILIES)
