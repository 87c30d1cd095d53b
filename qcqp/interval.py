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
    exact = (abs(A) @ (width > 0).astype(float) == 0) & np.isfinite(lo) & np.isfinite(hi)  # only 0·x terms
    return round_out(lo, hi, magnitude, terms, exact)


def _finite(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, 0.0)


def _touches(M: sp.csr_array, bound: np.ndarray) -> np.ndarray:
    """Rows of ``M`` that put weight on an infinite entry of ``bound``."""
    infinite = np.isinf(bound).astype(float)
    return (abs(M) @ infinite) > 0
