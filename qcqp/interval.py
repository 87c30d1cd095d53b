"""Interval bounds of affine maps over a box, rounded outward so they hold in floating point."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from qcqp.safe import EPS


def round_out(lo: np.ndarray, hi: np.ndarray, magnitude: np.ndarray, terms: np.ndarray,
              exact: np.ndarray | bool = False):
    """Widen ``[lo, hi]`` by the worst-case rounding error of a ``terms``-long dot product.

    ``magnitude`` bounds the sum of absolute values of the summands; the classical bound
    ``γ_k = k u / (1 − k u)`` on a k-term dot product is covered by ``2 (k + 2) u`` (plus
    ``tiny`` for underflow). Entries marked ``exact`` were computed without rounding and stay
    as they are (a dead path gives exactly 0, not ``±tiny``: an unstable neuron of no width).
    """
    slack = 2.0 * (terms + 2.0) * EPS * magnitude + np.finfo(float).tiny
    lo_out, hi_out = np.nextafter(lo - slack, -np.inf), np.nextafter(hi + slack, np.inf)
    return np.where(exact, lo, lo_out), np.where(exact, hi, hi_out)


def affine_bounds(A, a: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    """Bounds of ``A x + a`` for ``lower <= x <= upper`` (sparse or dense ``A``), sound in floats."""
    A = sp.csr_array(A)
    pos, neg = A.maximum(0), A.minimum(0)
    with np.errstate(invalid="ignore"):
        lo = pos @ _finite(lower) + neg @ _finite(upper) + a
        hi = pos @ _finite(upper) + neg @ _finite(lower) + a
    lo = np.where(_touches(pos, lower) | _touches(neg, upper), -np.inf, lo)
    hi = np.where(_touches(pos, upper) | _touches(neg, lower), np.inf, hi)
    width = np.maximum(np.abs(_finite(lower)), np.abs(_finite(upper)))
    magnitude = abs(A) @ width + np.abs(a)
    terms = np.diff(A.indptr).astype(float) + 1
    # A side whose every product is 0·x (x's bound there is 0) is the bias, computed exactly:
    # a ReLU's output carried on, whose lower bound 0 must stay 0 (a stable neuron).
    lo_exact = (pos @ (_finite(lower) != 0) - neg @ (_finite(upper) != 0) == 0) & np.isfinite(lo)
    hi_exact = (pos @ (_finite(upper) != 0) - neg @ (_finite(lower) != 0) == 0) & np.isfinite(hi)
    lo_out, _ = round_out(lo, hi, magnitude, terms, lo_exact)
    _, hi_out = round_out(lo, hi, magnitude, terms, hi_exact)
    return lo_out, hi_out


def product_bounds(fl: np.ndarray, fu: np.ndarray, gl: np.ndarray, gu: np.ndarray,
                   square: np.ndarray | bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The interval of ``f g`` for ``f ∈ [fl, fu]``, ``g ∈ [gl, gu]`` (``f = g`` where ``square``:
    at least 0), from the four corners — before rounding, which the caller charges."""
    corners = np.stack([fl * gl, fl * gu, fu * gl, fu * gu])
    least, most = corners.min(axis=0), corners.max(axis=0)
    return np.where(square & (fl <= 0) & (fu >= 0), 0.0, least), most


def _finite(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, 0.0)


def _touches(M: sp.csr_array, bound: np.ndarray) -> np.ndarray:
    """Rows of ``M`` that put weight on an infinite entry of ``bound``."""
    infinite = np.isinf(bound).astype(float)
    return (abs(M) @ infinite) > 0


def implied_bounds(A, lo_rows: np.ndarray, hi_rows: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                   passes: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """The box ``[lower, upper]`` tightened by the rows ``lo_rows <= A x <= hi_rows`` (bound propagation).

    Each row ``a·x <= b`` bounds every ``x_j`` by ``(b − min Σ_{k≠j} a_k x_k) / a_j`` over the
    current box (and ``>=`` rows likewise), repeated for ``passes`` rounds or until nothing
    tightens by more than 1e-9 relative. Every new bound is widened by the rounding error of
    its sum and division, so it holds for every real feasible point: a free variable becomes
    bounded when the rows imply it.
    """
    A = sp.csr_array(A)
    lower, upper = np.array(lower, dtype=float), np.array(upper, dtype=float)
    rows = [(A, np.asarray(hi_rows, dtype=float)), (-A, -np.asarray(lo_rows, dtype=float))]
    for _ in range(passes):
        moved = False
        for M, b in rows:
            new_lo, new_hi = _row_implications(M, b, lower, upper)
            with np.errstate(invalid="ignore"):  # inf − inf: no tightening there
                tighter_hi = new_hi < upper - 1e-9 * (1 + np.abs(new_hi))
                tighter_lo = new_lo > lower + 1e-9 * (1 + np.abs(new_lo))
            upper = np.where(tighter_hi, new_hi, upper)
            lower = np.where(tighter_lo, new_lo, lower)
            moved |= bool(tighter_hi.any() or tighter_lo.any())
        if not moved:
            break
    return lower, upper


def _row_implications(M: sp.csr_array, b: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    """Bounds on every variable from the rows ``M x <= b`` (finite ``b`` only), rounded outward."""
    n = lower.size
    M = M[np.flatnonzero(np.isfinite(b))]
    b = b[np.isfinite(b)]
    coo = M.tocoo()
    r, j, a = coo.row, coo.col, coo.data
    keep = a != 0
    r, j, a = r[keep], j[keep], a[keep]
    least = np.where(a > 0, a * lower[j], a * upper[j])  # min of a_k x_k over the box
    infinite = ~np.isfinite(least)
    least = np.where(infinite, 0.0, least)  # the infinite ones are counted instead
    count = np.bincount(r, weights=infinite.astype(float), minlength=b.size)
    total = np.bincount(r, weights=least, minlength=b.size)
    width = np.maximum(np.abs(_finite(lower)), np.abs(_finite(upper)))
    magnitude = np.bincount(r, weights=np.abs(a) * width[j], minlength=b.size) + np.abs(b)
    terms = np.bincount(r, minlength=b.size).astype(float) + 2
    others = np.where(infinite, np.where(count[r] == 1, total[r], -np.inf),
                      np.where(count[r] == 0, total[r] - least, -np.inf))
    with np.errstate(invalid="ignore", over="ignore"):
        value = (b[r] - others) / a
        slack = (2.0 * (terms[r] + 2.0) * EPS * magnitude[r] + np.finfo(float).tiny) / np.abs(a)
    ok = np.isfinite(others) & np.isfinite(value)
    value = np.where(a > 0, np.nextafter(value + slack, np.inf), np.nextafter(value - slack, -np.inf))
    hi, lo = np.full(n, np.inf), np.full(n, -np.inf)
    up, down = ok & (a > 0), ok & (a < 0)
    np.minimum.at(hi, j[up], value[up])
    np.maximum.at(lo, j[down], value[down])
    return np.maximum(lo, lower), np.minimum(hi, upper)
