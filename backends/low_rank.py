"""A Burer–Monteiro primal of the Shor relaxation for ``sdp-fo``, and multipliers recovered from it.

In the Lagrangian's normalised coordinates the Shor relaxation is ``max ρ₀(X)`` over
``X ⪰ 0`` with ``X₀₀ = 1``, ``X_ii <= 1``, ``ρ_j(X) <= 0`` and ``ρ_j(X) = 0``. We factor
``X = V Vᵀ`` with ``V[0] = e₁`` and every other row ``V[i] = Z[i, :r] / ‖Z[i]‖``: the extra
coordinate of ``Z`` is a slack, so ``X_ii <= 1`` holds by construction. The rows ``ρ_j``
enter an augmented Lagrangian (PHR for inequalities) minimised by L-BFGS over ``Z`` —
SDPLR's scheme (Burer & Monteiro 2003) — matrix-free: one evaluation is ``r`` passes
through the network.

The augmented Lagrangian's own multipliers lag behind its primal point, so the dual point
handed to the rigorous check is *recovered* from the factor instead: the least-squares
solution of the stationarity conditions ``(diag κ − M(w)) V = 0`` on the rows active at ``X``
(:func:`recover_multipliers`).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.sparse.linalg import LinearOperator, lsmr

from qcqp.backends.fo_certificate import Multipliers
from qcqp.backends.lagrangian import QuadMap

SIGMA_MAX = 10.0  # cap of the penalty parameter (rows are scaled to unit norm)
ACTIVE = 1e-3  # a row is active at X when its scaled slack is below this
FIT_STEPS = 100  # LSMR iterations per round of the multiplier fit
DAMPING = 1e-6  # Tikhonov damping of the multiplier fit (relative to the unprojected gradients' size):
#                  directions that stationarity cannot see stay where the guess put them


def row_scales(qmap: QuadMap) -> np.ndarray:
    """The norm of each row's coefficients (affine part and factored products); 1 for empty rows."""
    def norms2(B):
        return np.asarray(sp.csr_array(B).multiply(B).sum(axis=1)).ravel()

    squares = norms2(qmap.A) + qmap.a**2
    for t in qmap.terms:
        squares = squares + sp.csr_array(t.S).multiply(t.S) @ ((norms2(t.L) + t.l**2) * (norms2(t.R) + t.r**2))
    scales = np.sqrt(squares)
    return np.where(scales > 0, scales, 1.0)


class AugmentedLagrangian:
    """The low-rank factor and the augmented Lagrangian's state; :meth:`step` is one outer iteration."""

    def __init__(self, qmap: QuadMap, m_le: int, m_eq: int, rank: int, point: np.ndarray | None = None,
                 start: Multipliers | None = None, seed: int = 0):
        self.qmap, self.rank = qmap, rank
        self.le = slice(1, 1 + m_le)
        self.eq = slice(1 + m_le, qmap.rows)
        self.scale = row_scales(qmap)
        rng = np.random.default_rng(seed)
        Z = 0.01 * rng.normal(size=(qmap.n, rank + 1))
        if point is not None:
            Z[:, 0] = np.clip(point, -1.0, 1.0)
        Z[:, rank] += np.sqrt(np.maximum(1.0 - Z[:, 0] ** 2, 0.0))
        self.Z = Z
        relative = self.scale / self.scale[0]  # multipliers of the scaled rows
        self.lam = start.lam * relative[self.le] if start is not None else np.zeros(m_le)
        self.nu = start.nu * relative[self.eq] if start is not None else np.zeros(m_eq)
        self.sigma, self.infeasibility = 1.0, np.inf

    def multipliers(self) -> tuple[np.ndarray, np.ndarray]:
        """The augmented Lagrangian's own ``(λ, ν)`` for the unscaled rows."""
        relative = self.scale[0] / self.scale
        return self.lam * relative[self.le], self.nu * relative[self.eq]

    def escape(self, direction: np.ndarray, size: float = 0.1) -> None:
        """Leave a saddle point: move ``X`` by ``size² ddᵀ`` along a negative eigenvector ``d`` of
        the recovered ``diag κ − M`` (the Riemannian staircase's step), through the direction of
        ``R^r`` the factor uses least so that ``V`` itself stays put."""
        q = np.linalg.svd(self.factor(), full_matrices=True)[2][-1]
        norms = np.linalg.norm(self.Z, axis=1)[:, None]
        self.Z[:, :self.rank] += size * np.outer(direction[1:] / np.linalg.norm(direction), q) * norms

    def factor(self, Z: np.ndarray | None = None) -> np.ndarray:
        """``V`` with ``X = V Vᵀ``: row 0 is ``e₁``, row ``i`` is ``Z[i, :r] / ‖Z[i]‖``."""
        Z = self.Z if Z is None else Z
        head = np.zeros((1, self.rank))
        head[0, 0] = 1.0
        return np.vstack([head, Z[:, :self.rank] / np.linalg.norm(Z, axis=1)[:, None]])

    def _objective(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        Z = z.reshape(self.Z.shape)
        V = self.factor(Z)
        p, factors = self.qmap.lifted(V)
        p = p / self.scale
        le, eq, sigma = p[self.le], p[self.eq], self.sigma
        lam = np.maximum(self.lam + sigma * le, 0.0)
        nu = self.nu + sigma * eq
        value = -p[0] + (lam @ lam - self.lam @ self.lam) / (2 * sigma) + self.nu @ eq + 0.5 * sigma * (eq @ eq)
        d_V = -self.qmap.lifted_gradient(np.concatenate([[1.0], -lam, -nu]) / self.scale, V, factors)
        norms = np.linalg.norm(Z, axis=1)[:, None]
        d_Z = np.zeros_like(Z)
        d_Z[:, :self.rank] = d_V
        unit = Z / norms
        d_Z = (d_Z - np.sum(d_Z * unit, axis=1)[:, None] * unit) / norms
        return float(value), d_Z.ravel()

    def step(self, inner: int = 500, deadline: float | None = None) -> tuple[float, float]:
        """Minimise over ``Z`` (L-BFGS, until ``time.perf_counter()`` passes ``deadline``), update
        the multipliers and the penalty; returns the primal value ``ρ₀(X)`` and the largest
        scaled violation."""
        def stop_at_deadline(_):
            if deadline is not None and time.perf_counter() > deadline:
                raise StopIteration

        result = minimize(self._objective, self.Z.ravel(), jac=True, method="L-BFGS-B", callback=stop_at_deadline,
                          options={"maxiter": inner, "gtol": 1e-10, "ftol": 1e-15})
        self.Z = result.x.reshape(self.Z.shape)
        p = self.qmap.lifted(self.factor())[0] / self.scale
        le, eq = p[self.le], p[self.eq]
        violation = max(float(np.max(le, initial=0.0)), float(np.max(np.abs(eq), initial=0.0)))
        self.lam = np.maximum(self.lam + self.sigma * le, 0.0)
        self.nu = self.nu + self.sigma * eq
        if violation > 0.25 * self.infeasibility:
            self.sigma = min(2.0 * self.sigma, SIGMA_MAX)
        self.infeasibility = violation
        return float(p[0] * self.scale[0]), violation


def recover_multipliers(qmap: QuadMap, m_le: int, m_eq: int, V: np.ndarray,
                        guess: tuple[np.ndarray, np.ndarray] | None = None, scale: np.ndarray | None = None,
                        rounds: int = 3) -> Multipliers:
    """The dual point that best satisfies stationarity at the factor ``V`` (a least-squares fit).

    Stationarity of ``ρ₀ − Σ λ_j ρ_j − Σ ν_j ρ_j − Σ κ̃_i X_ii`` in ``V[1:]`` is linear in the
    multipliers. ``κ̃_i`` is eliminated row by row (the residual's component along ``V[i]``);
    the ``λ`` of rows active at ``X`` and the ``ν`` are then fitted by LSMR on matrix-free
    products, starting from ``guess``, with negative ``λ`` dropped and refitted (``rounds``).
    ``κ̃`` follows in closed form and ``κ₀`` from row 0. ``scale``: :func:`row_scales`, if known.
    """
    p, factors = qmap.lifted(V)
    p = p / (row_scales(qmap) if scale is None else scale)
    norms2 = np.sum(V[1:] ** 2, axis=1)
    on_ball = norms2 > 1.0 - ACTIVE
    unit = np.where(on_ball[:, None], V[1:] / np.sqrt(np.maximum(norms2, 1e-300))[:, None], 0.0)

    def project(Y):  # remove each on-ball row's component along V[i] (that is κ̃_i's job)
        return Y - np.sum(Y * unit, axis=1)[:, None] * unit

    w = np.zeros(qmap.rows)
    w[0] = 1.0
    if guess is not None:
        w[1:1 + m_le], w[1 + m_le:] = -np.maximum(guess[0], 0.0), -guess[1]
    free = np.concatenate([np.nonzero(p[1:1 + m_le] > -ACTIVE)[0] + 1, np.arange(1 + m_le, qmap.rows)])
    w[1:1 + m_le][p[1:1 + m_le] <= -ACTIVE] = 0.0
    for _ in range(rounds):
        def matvec(x, free=free):
            u = np.zeros(qmap.rows)
            u[free] = np.ravel(x)
            return project(qmap.lifted_gradient(u, V, factors)).ravel()

        def rmatvec(y, free=free):
            return qmap.lifted_derivative(V, project(np.reshape(y, (qmap.n, -1))), factors)[free]

        op = LinearOperator((V[1:].size, free.size), matvec=matvec, rmatvec=rmatvec, dtype=float)
        residual = -project(qmap.lifted_gradient(w, V, factors)).ravel()
        probe = np.zeros(qmap.rows)
        probe[free] = np.random.default_rng(0).normal(size=free.size)
        damp = DAMPING * np.linalg.norm(qmap.lifted_gradient(probe, V, factors)) / max(np.linalg.norm(probe), 1e-300)
        w[free] += lsmr(op, residual, damp=damp, atol=1e-10, btol=1e-10, maxiter=FIT_STEPS)[0]
        negative = free[(free <= m_le) & (w[free] > 0)]  # λ_j = −w_j < 0
        if negative.size == 0:
            break
        w[negative] = 0.0
        free = np.setdiff1d(free, negative)
    d_V = qmap.lifted_gradient(w, V, factors)
    kappa_tilde = np.where(on_ball, np.sum(d_V * V[1:], axis=1) / (2.0 * np.maximum(norms2, 1e-300)), 0.0)
    kappa0 = max(float(qmap.gradient_hvp(w)[0] @ V[1:, 0]), 0.0)
    return Multipliers(-w[1:1 + m_le], -w[1 + m_le:], np.concatenate([[kappa0], 2.0 * np.maximum(kappa_tilde, 0.0)]))
