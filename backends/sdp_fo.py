"""``sdp-fo``: the first-order dual of the Shor SDP (SDP-FO, Dathathri et al. 2020).

With the Lagrangian ``c + gᵀs + ½ sᵀHs`` over ``s ∈ [−1, 1]^N`` (multipliers ``λ >= 0``
for ``<=`` rows, free ``ν`` for ``==`` rows) and ``M = [[0, gᵀ], [g, H]]``, every ``κ >= 0``
gives the bound ``f = c + ½ Σ_i [κ_i − λ⁻_min(diag κ − M)]⁺``. We minimise ``f`` by
projected Adam, with ``λ_min`` from a dense ``eigh`` (small ``N``) or warm-started
LOBPCG on matrix-vector products (large ``N``). The *reported* bound re-evaluates the
best iterates with a rigorous lower bound on ``λ_min`` (:func:`certify_multipliers`);
an iterative eigenvalue, which lies above ``λ_min``, never enters it.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
from scipy.sparse.linalg import LinearOperator, lobpcg

from qcqp import IR, Backend, InputError, Relaxation, Result, Status, register_backend
from qcqp.backend import package
from qcqp.backends.highs import LPSolution, solve_linear_model
from qcqp.backends.lagrangian import QuadMap, build_lagrangian
from qcqp.backends.linear import build_linear_model
from qcqp.optim import Adam
from qcqp.safe import EPS, lambda_min_lower, loosen_upper

DENSE_LIMIT = 700


@dataclass
class Multipliers:
    """A dual point: ``lam >= 0`` (``<=`` rows), ``nu`` (``==`` rows), ``kappa >= 0``."""

    lam: np.ndarray
    nu: np.ndarray
    kappa: np.ndarray

    def weights(self) -> np.ndarray:
        return np.concatenate([[1.0], -self.lam, -self.nu])

    def copy(self) -> Multipliers:
        return Multipliers(self.lam.copy(), self.nu.copy(), self.kappa.copy())


def _dense_M(qmap: QuadMap, w: np.ndarray):
    g, _ = qmap.gradient_hvp(w)
    g_abs = abs(qmap.A).T @ np.abs(w)
    H, H_abs = qmap.dense_hessian(w)
    n = qmap.n
    M, M_abs = np.zeros((n + 1, n + 1)), np.zeros((n + 1, n + 1))
    M[0, 1:] = M[1:, 0] = g
    M[1:, 1:] = H
    for t in qmap.terms:
        om = np.abs(t.S.T @ w)
        g_abs = g_abs + abs(t.L).T @ (om * np.abs(t.r)) + abs(t.R).T @ (om * np.abs(t.l))
    M_abs[0, 1:] = M_abs[1:, 0] = g_abs
    M_abs[1:, 1:] = H_abs
    return M, M_abs


def certify_multipliers(qmap: QuadMap, mult: Multipliers) -> float:
    """Rigorous upper bound on the problem's maximum from any multipliers (re-verifiable).

    ``λ_min`` of ``diag κ − M`` is bounded below by :func:`qcqp.safe.lambda_min_lower`
    with the error of forming ``M`` (a sum of at most ``terms`` products per entry) and
    ``c``'s rounding charged explicitly.
    """
    mult = Multipliers(np.maximum(mult.lam, 0), mult.nu, np.maximum(mult.kappa, 0))
    w = mult.weights()
    rho0, rho0_abs = qmap.at_center()
    c = math.fsum(w * rho0)
    c_error = 4.0 * (w.size + 2) * EPS * float(np.abs(w) @ rho0_abs) + 4.0 * EPS * abs(c)
    M, M_abs = _dense_M(qmap, w)
    terms = 2.0 * (max(len(qmap.terms), 1) + qmap.rows + 2)
    forming = float(np.linalg.norm(2.0 * terms * EPS * M_abs))
    lam = lambda_min_lower(np.diag(mult.kappa) - M, forming)
    lam_neg = min(lam, 0.0)
    tail = math.fsum(np.maximum(mult.kappa - lam_neg, 0.0))
    bound = c + c_error + 0.5 * tail * (1 + 4 * EPS * (mult.kappa.size + 2))
    return loosen_upper(bound)


class _Eigen:
    """``λ_min`` and its eigenvector of ``diag κ − M(w)``: dense, or LOBPCG warm-started from
    the previous step's eigenvector (an estimate: it only steers the optimiser)."""

    def __init__(self, qmap: QuadMap, dense: bool, maxiter: int = 40):
        self.qmap, self.dense, self.vector, self.maxiter = qmap, dense, None, maxiter

    def __call__(self, w: np.ndarray, kappa: np.ndarray) -> tuple[float, np.ndarray]:
        if self.dense:
            M, _ = _dense_M(self.qmap, w)
            vals, vecs = la.eigh(np.diag(kappa) - M, subset_by_index=[0, 0])
            return float(vals[0]), vecs[:, 0]
        g, hvp = self.qmap.gradient_hvp(w)

        def matvec(u):
            u = np.ravel(u)
            out = kappa * u
            out[0] -= g @ u[1:]
            out[1:] -= g * u[0] + hvp(u[1:])
            return out

        op = LinearOperator((kappa.size, kappa.size), matvec=matvec, dtype=float,
                            matmat=lambda U: np.column_stack([matvec(col) for col in U.T]))
        if self.vector is None:
            self.vector = np.random.default_rng(0).normal(size=(kappa.size, 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-convergence only degrades this step's gradient
            vals, vecs = lobpcg(op, self.vector, largest=False, maxiter=self.maxiter, tol=1e-7)
        self.vector = vecs
        return float(vals[0]), vecs[:, 0]


def _value_and_gradient(qmap: QuadMap, rho0: np.ndarray, mult: Multipliers, eigen: _Eigen):
    """Estimated ``f`` and its (sub)gradient in ``(λ, ν, κ)``."""
    w = mult.weights()
    lam_min, u = eigen(w, mult.kappa)
    lam_neg = min(lam_min, 0.0)
    active = (mult.kappa - lam_neg > 0).astype(float)
    value = float(w @ rho0) + 0.5 * float(np.sum(np.maximum(mult.kappa - lam_neg, 0.0)))
    d_w = rho0.copy()
    d_kappa = 0.5 * active
    if lam_min < 0:
        count = active.sum()
        d_w += count * (qmap.homogeneous(u[0], u[1:]) - rho0 * u[0] ** 2)
        d_kappa -= 0.5 * count * u**2
    m_le = mult.lam.size
    return value, -d_w[1:1 + m_le], -d_w[1 + m_le:], d_kappa


def _lp_multipliers(ir: IR, lp: LPSolution, m_le: int, m_eq: int) -> Multipliers | None:
    """The LP relaxation's multipliers, when its rows are exactly our linear rows.

    That holds when every product sits in a complementarity (networks): the LP is then
    the IR's linear rows, the complementarity hulls and the box, in the same order as
    :func:`build_lagrangian`, and the product equalities start at ``ν = 0``.
    """
    if ir.objective.products or not all(con.is_linear for con in ir.constraints):
        return None
    if lp.y_ub is None or lp.y_ub.size != m_le:
        return None
    products = sum(comp.size for comp in ir.complementarities)
    return Multipliers(np.maximum(lp.y_ub, 0.0), np.concatenate([lp.y_eq, np.zeros(products)]),
                       np.zeros(ir.n + 1))


def _initial(qmap: QuadMap, ir: IR, lp: LPSolution | None, m_le: int, m_eq: int) -> Multipliers:
    """Multipliers from the LP (where it applies) or zero, then ``κ`` making ``diag κ − M``
    diagonally dominant (Gershgorin), so the first bound is already valid and, from the LP,
    equal to the LP's."""
    mult = _lp_multipliers(ir, lp, m_le, m_eq) if lp is not None else None
    mult = mult or Multipliers(np.zeros(m_le), np.zeros(m_eq), np.zeros(qmap.n + 1))
    w = mult.weights()
    M, _ = _dense_M(qmap, w)
    off_diagonal = np.sum(np.abs(M), axis=1) - np.abs(np.diag(M))
    mult.kappa = np.maximum(np.diag(M) + off_diagonal, 0.0)
    return mult


@dataclass(frozen=True)
class LagrangianRelaxation(Relaxation):
    """The IR's Lagrangian as matrix-free quadratic maps (row 0 is the objective)."""

    qmap: QuadMap
    m_le: int
    m_eq: int


@register_backend("sdp-fo")
class SDPFO(Backend):
    """First-order SDP dual with an any-time rigorous bound."""

    name = "sdp-fo"

    def relax(self, ir: IR) -> LagrangianRelaxation:
        qmap, m_le, m_eq = build_lagrangian(ir)
        return LagrangianRelaxation(ir, self, qmap, m_le, m_eq)

    def solve(self, relaxation: LagrangianRelaxation, iterations: int = 2000, time_limit: float | None = 60.0,
              lr: float = 0.1, patience: int = 500, eig: str = "auto", init: str = "lp",
              check_every: int | None = None, verbose: bool = False) -> Result:
        """Minimise the dual by projected Adam; report the best rigorously re-verified bound.

        Parameters
        ----------
        iterations, time_limit, patience
            Stop after this many steps, seconds, or steps without a 1e-6 relative improvement
            of the estimated dual value.
        lr
            Adam step relative to the scale of the multipliers.
        eig
            ``"dense"``, ``"iterative"`` (LOBPCG) or ``"auto"`` (dense up to 700 variables).
        init
            ``"lp"``: start from the LP relaxation's multipliers where they apply, so the
            result is never worse than ``lp``, and report ``infeasible`` when the LP relaxation
            is proven empty (its verified Farkas certificate); ``"zero"``: from ``λ = ν = 0``.
        check_every
            Steps between rigorous evaluations (default 25 dense, 100 iterative); the best
            rigorous bound seen is reported.
        """
        if eig not in ("auto", "dense", "iterative") or init not in ("lp", "zero"):
            raise InputError(f"sdp-fo: eig must be auto, dense or iterative and init lp or zero; "
                             f"got eig={eig!r}, init={init!r}")
        ir, qmap, m_le, m_eq = relaxation.ir, relaxation.qmap, relaxation.m_le, relaxation.m_eq
        start = time.perf_counter()
        lp = solve_linear_model(build_linear_model(ir)) if init == "lp" else None
        if lp is not None and lp.status == Status.INFEASIBLE:
            return package(ir, self.name, Status.INFEASIBLE, -np.inf, message=lp.message, certificate=lp.certificate)
        dense = eig == "dense" or (eig == "auto" and qmap.n + 1 <= DENSE_LIMIT)
        check_every = check_every or (25 if dense else 100)
        eigen = _Eigen(qmap, dense)
        rho0, _ = qmap.at_center()
        mult = _initial(qmap, ir, lp, m_le, m_eq)
        best_bound, best = certify_multipliers(qmap, mult), mult.copy()
        scale = max(float(np.mean(mult.kappa)), 1e-3)
        sizes = {"lam": m_le, "nu": m_eq, "kappa": mult.kappa.size}
        opt = {key: Adam(size, lr * scale, eps=1e-12) for key, size in sizes.items()}
        best_estimate, stale, history, checks = np.inf, 0, [], [best_bound]
        step = 0
        for step in range(iterations):
            value, d_lam, d_nu, d_kappa = _value_and_gradient(qmap, rho0, mult, eigen)
            history.append(value)
            if not np.isfinite(best_estimate) or value < best_estimate - 1e-6 * (1 + abs(best_estimate)):
                best_estimate, stale = value, 0
            else:
                stale += 1
            if stale >= patience or (time_limit is not None and time.perf_counter() - start > time_limit):
                break
            decay = 1.0 - step / iterations
            mult.lam = np.maximum(mult.lam - opt["lam"].step(d_lam, decay), 0.0)
            mult.nu = mult.nu - opt["nu"].step(d_nu, decay)
            mult.kappa = np.maximum(mult.kappa - opt["kappa"].step(d_kappa, decay), 0.0)
            if (step + 1) % check_every == 0:
                checks.append(certify_multipliers(qmap, mult))
                if checks[-1] < best_bound:
                    best_bound, best = checks[-1], mult.copy()
            if verbose and step % 100 == 0:
                print(f"sdp-fo step {step}: f ≈ {value:.6g}, best rigorous {best_bound:.6g}")
        optimised = time.perf_counter()
        final = certify_multipliers(qmap, mult)
        if final < best_bound:
            best_bound, best = final, mult
        status = Status.BOUND if np.isfinite(best_bound) else Status.ERROR
        result = package(ir, self.name, status, best_bound, solver_value=best_estimate,
                         message=f"{step + 1} steps", certificate=best)
        result.stats.update(iterations=step + 1, optimise_time=optimised - start,
                            certify_time=time.perf_counter() - optimised, eig="dense" if dense else "iterative",
                            history=history, rigorous_checks=checks)
        return result
