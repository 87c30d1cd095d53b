"""Pre-activation bounds: interval arithmetic and linear back-substitution (CROWN/DeepPoly).

Both are rounded outward so the bounds hold for the exact network in real arithmetic.
Every encoder and the MILP's big-M constants rely on them, so they must be sound.
"""

from __future__ import annotations

import time

import numpy as np

from qcqp.frontends.network import Network
from qcqp.interval import affine_bounds, round_out

CHUNK_ENTRIES = 1 << 22  # rows x width of one back-substitution block (32 MB per array)
CHEAP_ENTRIES = 1 << 24  # a layer this small (rows x width) has every row back-substituted


def interval_bounds(net: Network, lo: np.ndarray, hi: np.ndarray,
                    deadline: float | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bounds ``(l_k, u_k)`` of every layer's pre-activation (the last one is the logits).
    One cheap pass: ``deadline`` is taken for the signature every bound method shares."""
    out = []
    for k, (W, b) in enumerate(zip(net.weights, net.biases)):
        pre = affine_bounds(W, b, lo, hi)
        out.append(pre)
        if k < len(net.activations):
            lo, hi = net.activation(k).interval(*pre)
    return out


def crown_bounds(net: Network, lo: np.ndarray, hi: np.ndarray,
                 deadline: float | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Back-substituted linear bounds, intersected with interval bounds, layer by layer.

    Only rows whose activation is not already linear on its interval bounds are
    back-substituted (and every logit): the others gain nothing from tighter bounds. After
    ``deadline`` (``time.perf_counter`` seconds) the remaining rows keep their interval bounds.
    """
    def refine(k, rows, out):
        return crown_rows(net, k, rows, out, lo, hi)

    return refined_bounds(net, lo, hi, refine, deadline)


def refined_bounds(net: Network, lo: np.ndarray, hi: np.ndarray, refine,
                   deadline: float | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Layer by layer: interval bounds from the previous layer's, then ``refine(k, rows, out)``
    — lower and upper bounds of layer ``k``'s ``rows`` given the earlier layers' bounds ``out``
    — on the rows that need it, in chunks of at most ``CHUNK_ENTRIES`` back-substitution
    entries, intersected with the interval bounds."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    inputs = (lo, hi)
    for k, (W, b) in enumerate(zip(net.weights, net.biases)):
        lower, upper = affine_bounds(W, b, *inputs)
        rows = np.flatnonzero(_needs_refining(net, k, lower, upper)) if k else np.zeros(0, int)  # layer 0: exact
        chunk = max(1, CHUNK_ENTRIES // max(net.layer_sizes[:k + 2]))
        for start in range(0, rows.size, chunk):
            if deadline is not None and time.perf_counter() >= deadline:
                break
            part = rows[start:start + chunk]
            low, up = refine(k, part, out)
            lower[part], upper[part] = np.maximum(lower[part], low), np.minimum(upper[part], up)
        out.append((lower, upper))
        if k < len(net.activations):
            inputs = net.activation(k).interval(lower, upper)
    return out


def _needs_refining(net: Network, k: int, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Rows of layer ``k`` worth back-substituting: all of them when that is cheap (at most
    ``CHEAP_ENTRIES`` rows x width) or they are the logits; otherwise the hidden neurons
    whose activation's linear bounds do not coincide on ``[lower, upper]`` (a stable ReLU's
    do: tighter bounds change nothing in its relaxation)."""
    if k == len(net.activations) or lower.size * max(net.layer_sizes[:k + 2]) <= CHEAP_ENTRIES:
        return np.ones(lower.size, bool)
    a_l, b_l, a_u, b_u = net.activation(k).linear_bounds(lower, upper)
    gap = np.maximum((a_u - a_l) * lower + b_u - b_l, (a_u - a_l) * upper + b_u - b_l)
    return ~(gap <= 1e-9 * (1.0 + np.abs(lower) + np.abs(upper)))


def crown_rows(net: Network, k: int, rows: np.ndarray, out, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """CROWN's lower and upper bounds on layer ``k``'s ``rows``."""
    C = np.zeros((rows.size, net.weights[k].shape[0]))
    C[np.arange(rows.size), rows] = 1.0
    bounds = backsub_upper(net, k, np.vstack([C, -C]), out, lo, hi)
    return -bounds[rows.size:], bounds[:rows.size]


def linear_objective_bound(net: Network, c: np.ndarray, pre_bounds, lo, hi) -> float:
    """A rigorous lower bound on ``min c · logits`` over the box, by back-substitution."""
    L = len(net.weights) - 1
    return float(-backsub_upper(net, L, -c[None, :], pre_bounds[:L], lo, hi)[0])


def backsub_upper(net: Network, k: int, C: np.ndarray, pre_bounds, lo, hi,
                  lower_slopes=None, split_terms=None) -> np.ndarray:
    """Rigorous upper bounds on ``C ŷ_k`` (rows of ``C``) with activations relaxed linearly.

    ``pre_bounds[j]`` may hold one interval per neuron or one per row (arrays of shape
    ``(rows, n_j)``: each row its own sub-domain), and so may the input box ``lo``, ``hi``
    (shape ``(rows, n)``). ``lower_slopes[j]``, where given, replaces
    activation ``j``'s lower linear bound by ``slope · ŷ_j`` (valid for slopes in the
    activation's :meth:`~qcqp.frontends.activations.Activation.lower_slope_range`), row by row.
    ``split_terms[j]``, where given, adds ``split_terms[j] · ŷ_j`` to each row — valid when it is
    nonnegative on the domain (``β d`` for a split ``d ŷ_j >= 0`` and ``β >= 0``).

    A parallel pass with absolute values bounds the rounding error of every step, and a pass
    over nonzero patterns finds the rows that are structurally zero (every product has a zero
    factor): those are exact, so a dead path gives the bound 0 rather than ``+tiny``.
    """
    lower_slopes = lower_slopes or [None] * k
    split_terms = split_terms or [None] * k
    Lam = C @ net.weights[k]
    const = C @ net.biases[k]
    mag_lam = np.abs(C) @ np.abs(net.weights[k])
    mag_const = np.abs(C) @ np.abs(net.biases[k])
    live_lam, live_const = _live(_live(C) @ _live(net.weights[k])), _live(_live(C) @ _live(net.biases[k]))
    terms = float(net.weights[k].shape[1])
    for j in range(k - 1, -1, -1):
        a_l, b_l, a_u, b_u = net.activation(j).linear_bounds(*pre_bounds[j])
        if lower_slopes[j] is not None:
            a_l = lower_slopes[j]
        pos, neg = np.maximum(Lam, 0.0), np.minimum(Lam, 0.0)
        const = const + _dot(pos, b_u) + _dot(neg, b_l)
        mag_const = mag_const + _dot(mag_lam, np.abs(b_u) + np.abs(b_l))
        live_const = np.maximum(live_const, _live(_dot(live_lam, _live(np.abs(b_u) + np.abs(b_l)))))
        Lam = pos * a_u + neg * a_l
        mag_lam = mag_lam * np.maximum(np.abs(a_u), np.abs(a_l))
        live_lam = live_lam * _live(np.abs(a_u) + np.abs(a_l))
        if split_terms[j] is not None:
            Lam = Lam + split_terms[j]
            mag_lam = mag_lam + np.abs(split_terms[j])
            live_lam = np.maximum(live_lam, _live(split_terms[j]))
            terms += 1.0
        const = const + Lam @ net.biases[j]
        mag_const = mag_const + mag_lam @ np.abs(net.biases[j])
        live_const = np.maximum(live_const, _live(live_lam @ _live(net.biases[j])))
        Lam = Lam @ net.weights[j]
        mag_lam = mag_lam @ np.abs(net.weights[j])
        live_lam = _live(live_lam @ _live(net.weights[j]))
        terms += 2.0 * net.weights[j].shape[0] + net.weights[j].shape[1]
    value = const + _dot(np.maximum(Lam, 0.0), hi) + _dot(np.minimum(Lam, 0.0), lo)
    magnitude = mag_const + _dot(mag_lam, np.maximum(np.abs(lo), np.abs(hi)))
    exact = np.maximum(live_const, _live(_dot(live_lam, _live(np.abs(lo) + np.abs(hi))))) == 0
    # The activations' linear bounds carry rounding of their own slopes: charge 1e-12 relative.
    return round_out(value, value, magnitude, np.full(value.shape, terms), exact)[1] + 1e-12 * magnitude


def _dot(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise ``M · v`` where ``v`` is one vector for all rows or one per row."""
    return M @ v if v.ndim == 1 else np.einsum("rn,rn->r", M, v)


def _live(M: np.ndarray) -> np.ndarray:
    """1.0 where ``M`` is nonzero (a pattern; products of patterns count exactly)."""
    return (M != 0).astype(float)
