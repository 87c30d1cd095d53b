"""``sdp-fo``: the first-order dual of the Shor SDP (SDP-FO, Dathathri et al. 2020).

With the Lagrangian ``c + gᵀs + ½ sᵀHs`` over ``s ∈ [−1, 1]^N`` (multipliers ``λ >= 0``
for ``<=`` rows, free ``ν`` for ``==`` rows) and ``M = [[0, gᵀ], [g, H]]``, every ``κ >= 0``
gives the bound ``f = c + ½ Σ_i [κ_i − λ⁻_min(diag κ − M)]⁺``. We minimise ``f`` by
projected Adam, with ``λ_min`` from a dense ``eigh`` (small ``N``) or warm-started
Lanczos on matrix-vector products (large ``N``). The *reported* bound re-evaluates the
best iterates with a rigorous lower bound on ``λ_min`` (:func:`certify_multipliers`);
a Lanczos value, which lies above ``λ_min``, never enters it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
from qcqp.backends.lagrangian import QuadMap, build_lagrangian
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from qcqp import IR, Result, Status, register_backend
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
    """``λ_min`` and its eigenvector of ``diag κ − M(w)``: dense or warm-started Lanczos."""

    def __init__(self, qmap: QuadMap, dense: bool):
        self.qmap, self.dense, self.vector = qmap, dense, None

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

        op = LinearOperator((kappa.size, kappa.size), matvec=matvec, dtype=float)
        try:
            vals, vecs = eigsh(op, k=1, which="SA", v0=self.vector, tol=1e-6, maxiter=2000)
        except ArpackNoConvergence as error:
            vals, vecs = error.eigenvalues, error.eigenvectors
            if vals.size == 0:
                return -np.inf, np.ones(kappa.size) / math.sqrt(kappa.size)
        self.vector = vecs[:, 0]
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


class _Adam:
    def __init__(self, size: int, lr: float):
        self.m, self.v, self.t, self.lr = np.zeros(size), np.zeros(size), 0, lr

    def step(self, grad: np.ndarray, lr_scale: float) -> np.ndarray:
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * grad
        self.v = 0.999 * self.v + 0.001 * grad**2
        m_hat, v_hat = self.m / (1 - 0.9**self.t), self.v / (1 - 0.999**self.t)
        return self.lr * lr_scale * m_hat / (np.sqrt(v_hat) + 1e-12)


def _initial(qmap: QuadMap, m_le: int, m_eq: int) -> Multipliers:
    """``λ = ν = 0`` and the Gershgorin ``κ`` that makes ``diag κ − M`` diagonally dominant."""
    mult = Multipliers(np.zeros(m_le), np.zeros(m_eq), np.zeros(qmap.n + 1))
    w = mult.weights()
    g, hvp = qmap.gradient_hvp(w)
    kappa = np.abs(np.concatenate([[0.0], g]))
    kappa[0] = np.sum(np.abs(g))
    if qmap.terms:
        M, _ = _dense_M(qmap, w) if qmap.n + 1 <= DENSE_LIMIT else (None, None)
        if M is not None:
            kappa = np.sum(np.abs(M), axis=1)
    mult.kappa = kappa
    return mult


@register_backend("sdp-fo")
def solve_sdp_fo(ir: IR, iterations: int = 1500, time_limit: float | None = 60.0, lr: float = 0.05,
                 patience: int = 300, eig: str = "auto", verbose: bool = False) -> Result:
    """First-order SDP dual with an any-time rigorous bound.

    Parameters
    ----------
    iterations, time_limit, patience
        Stop after this many steps, seconds, or steps without a 1e-6 relative improvement.
    lr
        Adam step relative to the scale of the multipliers.
    eig
        ``"dense"``, ``"lanczos"`` or ``"auto"`` (dense up to 700 variables).
    """
    start = time.perf_counter()
    qmap, m_le, m_eq = build_lagrangian(ir)
    dense = eig == "dense" or (eig == "auto" and qmap.n + 1 <= DENSE_LIMIT)
    eigen = _Eigen(qmap, dense)
    rho0, _ = qmap.at_center()
    mult = _initial(qmap, m_le, m_eq)
    scale = max(float(np.mean(mult.kappa)), 1e-3)
    opt = {"lam": _Adam(m_le, lr * scale), "nu": _Adam(m_eq, lr * scale), "kappa": _Adam(mult.kappa.size, lr * scale)}
    best_value, best, stale, history = np.inf, mult.copy(), 0, []
    step = 0
    for step in range(iterations):
        value, d_lam, d_nu, d_kappa = _value_and_gradient(qmap, rho0, mult, eigen)
        history.append(value)
        if not np.isfinite(best_value) or value < best_value - 1e-6 * (1 + abs(best_value)):
            best_value, best, stale = value, mult.copy(), 0
        else:
            stale += 1
        if stale >= patience or (time_limit is not None and time.perf_counter() - start > time_limit):
            break
        decay = 1.0 - step / iterations
        mult.lam = np.maximum(mult.lam - opt["lam"].step(d_lam, decay), 0.0)
        mult.nu = mult.nu - opt["nu"].step(d_nu, decay)
        mult.kappa = np.maximum(mult.kappa - opt["kappa"].step(d_kappa, decay), 0.0)
        if verbose and step % 100 == 0:
            print(f"sdp-fo step {step}: f ≈ {value:.6g}")
    optimised = time.perf_counter()
    upper = min(certify_multipliers(qmap, best), certify_multipliers(qmap, mult))
    status = Status.BOUND if np.isfinite(upper) else Status.ERROR
    result = Result("sdp-fo", status, ir.user_value(upper), solver_value=ir.user_value(best_value),
                    message=f"{step + 1} steps", certificate=best)
    result.stats.update(iterations=step + 1, solve_time=optimised - start,
                        certify_time=time.perf_counter() - optimised, eig="dense" if dense else "lanczos",
                        history=history)
    return result
