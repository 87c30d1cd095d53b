"""Floating-point-safe building blocks for certified bounds.

Solvers are trusted for their *multipliers* only. Bounds are rebuilt from them here in
float64 with explicit error terms, so that a reported bound holds for the exact problem
data despite rounding (see docs/soundness.md).
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

EPS = np.finfo(float).eps


def down(x: float) -> float:
    """The next float below ``x``."""
    return float(np.nextafter(x, -np.inf))


def dot_lower(y: np.ndarray, b: np.ndarray) -> float:
    """A lower bound on the exact ``yᵀb`` (each product rounds by at most ``u |y_i b_i|``)."""
    products = np.asarray(y, float) * np.asarray(b, float)
    if products.size == 0:
        return 0.0
    total = math.fsum(products)  # correctly rounded sum of the computed products
    error = EPS * (math.fsum(np.abs(products)) + abs(total)) + np.finfo(float).tiny
    return down(total - error)


def box_min_lower(r: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """A lower bound on ``min_{lower <= x <= upper} rᵀx`` (``-inf`` if unbounded below)."""
    r = np.asarray(r, float)
    pick = np.where(r >= 0, lower, upper)
    active = r != 0
    if np.any(np.isinf(pick[active])):
        return -np.inf
    return dot_lower(r[active], pick[active])


def lambda_min_lower(S, forming_error: float = 0.0) -> float:
    """A rigorous lower bound on ``λ_min(S)`` for the exact symmetric matrix ``S``.

    ``forming_error`` bounds ``‖S_exact − S‖₂`` for the computed ``S`` (e.g. from
    accumulating multipliers). LAPACK's symmetric eigensolver is backward stable: its
    eigenvalues are exact for ``S + E`` with ``‖E‖₂ <= p(n) u ‖S‖₂``. We take the
    generous ``p(n) = 8 (n + 4)`` and bound ``‖S‖₂`` by ``‖S‖_F``; by Weyl's theorem each
    computed eigenvalue is then within that margin of an exact one.
    """
    dense = S.toarray() if sp.issparse(S) else np.asarray(S, float)
    n = dense.shape[0]
    if n == 0:
        return math.inf
    if not np.all(np.isfinite(dense)):
        return -math.inf
    lowest = la.eigvalsh(dense, subset_by_index=[0, 0], driver="evr")[0] if n > 1 else dense[0, 0]
    margin = 8.0 * (n + 4) * EPS * np.linalg.norm(dense) + forming_error
    return down(float(lowest) - margin)


def lp_upper_bound(c, A_ub, b_ub, A_eq, b_eq, lower, upper, y_ub, y_eq) -> float:
    """Upper bound on ``max cᵀx`` s.t. ``A_ub x <= b_ub``, ``A_eq x = b_eq``, box, from any multipliers.

    For ``y_ub >= 0`` and free ``y_eq`` (Neumaier & Shcherbina 2004), every feasible ``x``
    has ``cᵀx <= y_ubᵀb_ub + y_eqᵀb_eq + max_box rᵀx`` with ``r = c − A_ubᵀy_ub − A_eqᵀy_eq``.
    ``r`` is computed in floating point, so its rounding error is charged against the box.
    """
    y_ub = np.maximum(np.asarray(y_ub, float), 0.0)
    y_eq = np.asarray(y_eq, float)
    A_ub, A_eq = sp.csr_array(A_ub), sp.csr_array(A_eq)
    r = c - A_ub.T @ y_ub - A_eq.T @ y_eq
    scale = np.abs(c) + abs(A_ub).T @ y_ub + abs(A_eq).T @ np.abs(y_eq)
    terms = np.diff(A_ub.tocsc().indptr) + np.diff(A_eq.tocsc().indptr) + 2.0
    r_error = 2.0 * terms * EPS * scale
    width = np.maximum(np.abs(lower), np.abs(upper))
    if np.any(np.isinf(width[(r != 0) | (r_error != 0)])):
        return math.inf
    box_term = -box_min_lower(-r, lower, upper)
    slack = math.fsum(r_error * width)
    total = -dot_lower(-y_ub, b_ub) - dot_lower(-y_eq, b_eq) + box_term + slack
    return float(np.nextafter(total + EPS * abs(total), np.inf))


SAFETY_ABS = 1e-9
SAFETY_REL = 1e-9


def loosen_upper(bound: float) -> float:
    """Final outward margin on a reported upper bound.

    It absorbs second-order rounding in forming the relaxation itself (products of
    coefficients when factored products are expanded, rescaled envelope rows), which
    is of relative size ``1e-15``; the margin is a million times that.
    """
    return float(np.nextafter(bound + SAFETY_ABS + SAFETY_REL * abs(bound), np.inf))


def gershgorin_lower(S: sp.sparray) -> float:
    """A rigorous lower bound on ``λ_min(S)`` from Gershgorin discs (rounding of the row sums charged)."""
    S = sp.csr_array(S)
    diagonal = S.diagonal()
    absolute = abs(S)
    radius = absolute @ np.ones(S.shape[0]) - np.abs(diagonal)
    count = np.diff(S.indptr) + 2.0
    error = count * EPS * (absolute @ np.ones(S.shape[0]))
    return down(float(np.min(diagonal - radius - error)))


def lambda_min_lower_factored(S: sp.sparray, estimate: float, forming_error: float = 0.0,
                              tries: int = 16, ceiling: float | None = None, refine_seconds: float = 0.0) -> float:
    """A rigorous lower bound on ``λ_min(S)`` from a shifted sparse ``LDLᵀ`` — no dense matrix.

    If the computed factors of ``A = fl(S − σI)`` (QDLDL, fill-reducing order, no pivoting)
    have ``D > 0``, then ``L D Lᵀ`` is positive semidefinite and equals ``A + ΔA`` with
    ``|ΔA| <= γ_{n+2} |L| D |Lᵀ|`` (Higham, *Accuracy and Stability*, Thm 9.3 with the
    division rounding of ``L = U/D``), so ``‖ΔA‖₂ <= γ_{n+2} Σ_j d_j ‖l_j‖²``: ``λ_min(S) >= σ``
    minus that, the rounding of the shift and ``forming_error``. ``σ`` starts just below
    ``estimate`` and steps down until the factorisation succeeds; Gershgorin's bound is the
    fallback. With a ``ceiling`` (an iterative estimate, near ``λ_min`` on either side), ``σ`` is
    then bisected between the proven value and the ceiling (a failed factorisation lowers the
    ceiling) while ``refine_seconds`` last: a larger proven ``σ`` for a few cheap factorisations.
    """
    S = sp.csc_array(S)
    n = S.shape[0]
    if n == 0:
        return math.inf
    if not np.all(np.isfinite(S.data)):
        return -math.inf
    scale = float(np.max(np.abs(S.diagonal()))) + abs(estimate) + 1e-300
    step = 1e-9 * scale
    for _ in range(tries):
        sigma = estimate - step
        began = time.perf_counter()
        bound = _shifted_ldl_bound(S, sigma, forming_error)
        if bound is not None:
            break
        step *= 4.0
    else:
        return down(gershgorin_lower(S) - forming_error)
    each = time.perf_counter() - began  # one factorisation: refine only while another fits the budget
    spent, high = 0.0, ceiling
    while high is not None and high - sigma > 1e-9 * scale and spent + each <= refine_seconds:
        trial = sigma + 0.75 * (high - sigma)  # the ceiling is usually close: lean toward it
        tighter = _shifted_ldl_bound(S, trial, forming_error)
        spent += each
        if tighter is None:
            high = trial
        else:
            sigma, bound = trial, max(bound, tighter)
    return bound


def _shifted_ldl_bound(S: sp.csc_array, sigma: float, forming_error: float) -> float | None:
    """``λ_min(S) >=`` the returned value if the ``LDLᵀ`` of ``fl(S − σI)`` has ``D > 0``; else ``None``."""
    import qdldl

    n = S.shape[0]
    A = sp.csc_array(S - sigma * sp.identity(n, format="csc"))
    try:
        L, D, _ = qdldl.Solver(sp.triu(A, format="csc")).factors()
    except Exception:  # a zero pivot: σ sits on an eigenvalue of a leading block
        return None
    if not (np.all(D > 0) and np.all(np.isfinite(D))):
        return None
    gamma = (n + 2) * EPS / (1 - (n + 2) * EPS)
    column_norms = 1.0 + np.asarray(sp.csc_array(L).multiply(L).sum(axis=0)).ravel()
    backward = gamma * math.fsum(D * column_norms) * (1 + 2 * (n + 2) * EPS)
    shift_rounding = EPS * float(np.max(np.abs(A.diagonal())))
    return down(sigma - backward - shift_rounding - forming_error)
