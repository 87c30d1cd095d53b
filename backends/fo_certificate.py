"""The rigorous side of ``sdp-fo``: a dual point, the bound it proves, and a cheap repair of it.

Every ``λ >= 0``, ``ν`` and ``κ >= 0`` prove ``max ρ₀ <= c + ½ Σ [κ_i − λ⁻_min(diag κ − M)]⁺``
(see :mod:`qcqp.backends.sdp_fo`). :func:`certify_multipliers` evaluates that in floating
point with every rounding error charged; :func:`spread_kappa` raises ``κ`` where the negative
eigenvectors of ``diag κ − M`` live, so the final eigenvalue charge — ``(N + 1)/2`` times
``|λ_min|`` — is paid only where it is needed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.sparse.linalg import lobpcg

from qcqp.backends.lagrangian import QuadMap
from qcqp.safe import EPS, lambda_min_lower, lambda_min_lower_factored, loosen_upper

DENSE_LIMIT = 2000  # up to this size eigenvalues are dense; above, LOBPCG and a verified LDLᵀ
NEGATIVE_PAIRS = (30, 10)  # the lowest eigenpairs spread_kappa looks at (dense, LOBPCG)
ROUNDING = 1e-12  # relative to the largest entry: eigenvalues this close to 0 are rounding, not negative
CERTIFY_WORK = 5e7  # entries of S visited by the certificate's LOBPCG (200–1000 iterations): its residual
# is what the proven σ gives away
REFINE_SECONDS = 1.0  # factorisations spent moving the proven σ toward that estimate


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


def lagrangian_matrix(qmap: QuadMap, w: np.ndarray, absolute: bool = False) -> sp.csr_array:
    """``M = [[0, gᵀ], [g, H]]`` of ``wᵀρ`` (sparse); ``absolute``: the same sums over absolute values."""
    magnitude = np.abs if absolute else (lambda x: x)
    g = (abs(qmap.A) if absolute else qmap.A).T @ magnitude(w)
    for t in qmap.terms:
        om = magnitude(t.S.T @ w)
        L, R = (abs(t.L), abs(t.R)) if absolute else (t.L, t.R)
        g = g + L.T @ (om * magnitude(t.r)) + R.T @ (om * magnitude(t.l))
    M = sp.csr_array(sp.block_array([[None, g[None, :]], [g[:, None], qmap.hessian(w, absolute)]]))
    M.sum_duplicates()  # one stored value per entry: the forming error sums their squares
    return M


def _lowest(S, k: int, dense: bool, maxiter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` lowest eigenpairs of ``S`` (estimates): dense ``eigh`` or LOBPCG."""
    k = min(k, S.shape[0])
    if dense:
        return la.eigh(S.toarray() if sp.issparse(S) else S, subset_by_index=[0, k - 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unconverged pair only loosens the repair
        return lobpcg(S, np.random.default_rng(0).normal(size=(S.shape[0], k)), largest=False, maxiter=maxiter,
                      tol=1e-9)


def certify_multipliers(qmap: QuadMap, mult: Multipliers) -> float:
    """Rigorous upper bound on the problem's maximum from any multipliers (re-verifiable).

    ``λ_min`` of ``diag κ − M`` is bounded below by a dense eigensolver with a backward-error
    margin (:func:`qcqp.safe.lambda_min_lower`) up to ``DENSE_LIMIT`` variables and by a
    verified shifted sparse factorisation above (:func:`qcqp.safe.lambda_min_lower_factored`),
    with the error of forming ``M`` (a sum of at most ``terms`` products per entry) and
    ``c``'s rounding charged explicitly.
    """
    mult = Multipliers(np.maximum(mult.lam, 0), mult.nu, np.maximum(mult.kappa, 0))
    w = mult.weights()
    rho0, rho0_abs = qmap.at_center()
    c = math.fsum(w * rho0)
    c_error = 4.0 * (w.size + 2) * EPS * float(np.abs(w) @ rho0_abs) + 4.0 * EPS * abs(c)
    M, M_abs = lagrangian_matrix(qmap, w), lagrangian_matrix(qmap, w, absolute=True)
    terms = 2.0 * (max(len(qmap.terms), 1) + qmap.rows + 2)
    forming = 2.0 * terms * EPS * float(np.sqrt(np.sum(M_abs.data**2)))
    S = sp.csr_array(sp.diags_array(mult.kappa) - M)
    if S.shape[0] <= DENSE_LIMIT:
        lam = lambda_min_lower(S, forming)
    else:
        # some eigenvalue lies within the residual of the estimate: start below it, then refine
        iterations = int(np.clip(CERTIFY_WORK / max(S.nnz, 1), 200, 1000))
        values, vectors = _lowest(S, 1, dense=False, maxiter=iterations)
        residual = float(np.linalg.norm(S @ vectors[:, 0] - values[0] * vectors[:, 0]))
        lam = lambda_min_lower_factored(S, float(values[0]) - 2.0 * residual, forming, ceiling=float(values[0]),
                                        refine_seconds=REFINE_SECONDS)
    lam_neg = min(lam, 0.0)
    tail = math.fsum(np.maximum(mult.kappa - lam_neg, 0.0))
    bound = c + c_error + 0.5 * tail * (1 + 4 * EPS * (mult.kappa.size + 2))
    return loosen_upper(bound)


def lowest_pair(qmap: QuadMap, mult: Multipliers) -> tuple[float, np.ndarray]:
    """An estimate of ``λ_min(diag κ − M)`` and its eigenvector (steers the optimiser only)."""
    M = lagrangian_matrix(qmap, mult.weights())
    S = sp.csr_array(sp.diags_array(np.maximum(mult.kappa, 0.0)) - M)
    values, vectors = _lowest(S, 1, S.shape[0] <= DENSE_LIMIT)
    return float(values[0]), vectors[:, 0]


def spread_kappa(qmap: QuadMap, mult: Multipliers, rounds: int = 4, floor: float = 0.01) -> Multipliers:
    """Raise ``κ`` until ``diag κ − M`` is (numerically) positive semidefinite, cheaply.

    With ``d`` the diagonal of the negative part of ``diag κ − M`` (plus ``floor`` times its
    maximum) and ``μ = λ_min(D^{-1/2} (diag κ − M) D^{-1/2}) < 0``, adding ``|μ| d`` to ``κ``
    makes the matrix PSD at the cost ``½ |μ| Σ d`` — far less than the uniform
    ``½ (N + 1) |λ_min|`` when the negative eigenvectors are localised (and not applied when
    it is not cheaper). A heuristic: the result is certified by :func:`certify_multipliers`
    like any other point.
    """
    M = lagrangian_matrix(qmap, mult.weights())
    kappa = np.maximum(mult.kappa, 0.0).copy()
    dense = M.shape[0] <= DENSE_LIMIT
    Md = M.toarray() if dense else M
    for _ in range(rounds):
        S = np.diag(kappa) - Md if dense else sp.csr_array(sp.diags_array(kappa) - M)
        values, vectors = _lowest(S, NEGATIVE_PAIRS[0] if dense else NEGATIVE_PAIRS[1], dense, maxiter=60)
        negative = values < -ROUNDING * (1.0 + abs(S).max())  # rounding-level ones would scale by ~1/0
        if not negative.any():
            break
        d = (vectors[:, negative] ** 2) @ (-values[negative])
        d = d + floor * d.max()
        root = 1.0 / np.sqrt(d)
        scaled = S * np.outer(root, root) if dense else sp.csr_array(sp.diags_array(root) @ S @ sp.diags_array(root))
        mu = float(_lowest(scaled, 1, dense, maxiter=60)[0][0])
        if mu >= 0 or -mu * d.sum() >= -values[0] * d.size:  # no cheaper than the uniform charge
            break
        kappa = kappa + (-mu) * (1.0 + 1e-6) * d
    return Multipliers(mult.lam, mult.nu, kappa)
