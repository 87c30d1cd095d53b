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


class Pace:
    """Whether the next step of a loop fits before ``deadline``, judged by the time per unit of
    cost of the step before: a step is only checked before it starts, and on very wide layers
    one back-substitution chunk takes seconds."""

    def __init__(self, deadline: float | None):
        self.deadline, self.rate, self._began, self._cost = deadline, 0.0, 0.0, 0.0

    def fits(self, cost: float) -> bool:
        """Start timing a step of ``cost`` units: ``False`` if it is predicted to end past the deadline."""
        self._began, self._cost = time.perf_counter(), cost
        return self.deadline is None or self._began + self.rate * cost < self.deadline

    def done(self) -> None:
        """The step started by :meth:`fits` has ended: its time per unit prices the next."""
        self.rate = (time.perf_counter() - self._began) / max(self._cost, 1.0)


def backsub_cost(net: Network, k: int) -> int:
    """Entries touched per row (and box) when back-substituting from layer ``k`` to the input."""
    return sum(W.shape[0] * W.shape[1] if isinstance(W, np.ndarray) else W.nnz + W.shape[0]
               for W in net.weights[:k + 1])


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


def refined_bounds(net: Network, lo: np.ndarray, hi: np.ndarray, refine, deadline: float | None = None,
                   start: list | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Layer by layer: interval bounds from the previous layer's (intersected with ``start``'s
    where given), then ``refine(k, rows, out)`` — lower and upper bounds of layer ``k``'s
    ``rows`` given the earlier layers' bounds ``out`` — on the rows that need it, in chunks of
    at most ``CHUNK_ENTRIES`` back-substitution entries, intersected in; no chunk is started that
    would end past ``deadline`` at the pace of the one before."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    inputs, pace = (lo, hi), Pace(deadline)
    for k, (W, b) in enumerate(zip(net.weights, net.biases)):
        lower, upper = affine_bounds(W, b, *inputs)
        if start is not None:
            lower, upper = np.maximum(lower, start[k][0]), np.minimum(upper, start[k][1])
        rows = np.flatnonzero(_needs_refining(net, k, lower, upper)) if k else np.zeros(0, int)  # layer 0: exact
        chunk = max(1, CHUNK_ENTRIES // max(net.layer_sizes[:k + 2]))
        for first in range(0, rows.size, chunk):
            part = rows[first:first + chunk]
            if not pace.fits(part.size * backsub_cost(net, k)):
                break
            low, up = refine(k, part, out)
            pace.done()
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

    The coefficients are carried transposed (neurons × rows), so a sparse layer multiplies
    a contiguous block. The rounding error of every step is bounded by the sum of the
    absolute values of its summands; that sum is linear in ``|C|``, so it is computed once
    per layer by a forward recursion over the network (:func:`_magnitudes`) rather than per
    row. Rows that are structurally zero (every product has a zero factor) are exact, so a
    dead path gives the bound 0 rather than ``+tiny``.
    """
    lower_slopes = lower_slopes or [None] * k
    split_terms = split_terms or [None] * k
    C = np.atleast_2d(np.asarray(C, float))
    LT = net.transposed_weights[k] @ C.T  # coefficients on the input of layer k, neurons x rows
    const = C @ net.biases[k]
    for j in range(k - 1, -1, -1):
        a_l, b_l, a_u, b_u = (_t(v) for v in net.activation(j).linear_bounds(*pre_bounds[j]))
        if lower_slopes[j] is not None:
            a_l = _t(lower_slopes[j])
        pos, neg = np.maximum(LT, 0.0), np.minimum(LT, 0.0)
        const = const + _column_dot(pos, b_u) + _column_dot(neg, b_l)
        LT = pos * a_u + neg * a_l
        if split_terms[j] is not None:
            LT = LT + _t(split_terms[j])
        const = const + _column_dot(LT, net.biases[j][:, None])
        LT = net.transposed_weights[j] @ LT
    value = const + _column_dot(np.maximum(LT, 0.0), _t(hi)) + _column_dot(np.minimum(LT, 0.0), _t(lo))
    magnitude, live = _magnitudes(net, k, C, pre_bounds, lo, hi, lower_slopes, split_terms)
    terms = float(net.weights[k].shape[1]) + sum(1.0 for t in split_terms if t is not None)
    terms += sum(2.0 * net.weights[j].shape[0] + net.weights[j].shape[1] for j in range(k))
    # The activations' linear bounds carry rounding of their own slopes: charge 1e-12 relative.
    return round_out(value, value, magnitude, np.full(value.shape, terms), live == 0)[1] + 1e-12 * magnitude


def _magnitudes(net: Network, k: int, C: np.ndarray, pre_bounds, lo, hi, lower_slopes, split_terms):
    """Per row of ``C``: the sum of absolute values of every summand :func:`backsub_upper`
    adds (bounding its rounding error), and the number of nonzero ones (0: exact).

    Going forward, ``g_j`` is what a unit of ``|coefficient|`` on layer ``j``'s pre-activation
    contributes, ``|b_j| + |W_j| (|b_u| + |b_l| + s ⊙ g_{j−1})`` with ``s`` the largest slope
    magnitude (of the lower slope family where slopes are chosen; over rows where bounds differ
    per row), and ``|lo|, |hi|`` at the input; a row's
    sum is ``|C| g_k`` plus ``|split terms| g_j``. ``p_j`` counts nonzero products likewise.
    """
    g = np.max(np.broadcast_to(np.maximum(np.abs(lo), np.abs(hi)), np.shape(np.atleast_2d(lo))), axis=0)
    p = _live(g)
    per_layer = []
    for j in range(k + 1):
        W = net.weights[j]
        g_pre = np.abs(net.biases[j]) + abs(W) @ g
        p_pre = _live(_live(np.abs(net.biases[j]) + _live(W) @ p))
        per_layer.append((g_pre, p_pre))
        if j == k:
            break
        activation = net.activation(j)
        a_l, b_l, a_u, b_u = (np.abs(v) for v in activation.linear_bounds(*pre_bounds[j]))
        family = () if lower_slopes[j] is None else activation.lower_slope_range(*pre_bounds[j]) or \
            (np.max(np.atleast_2d(lower_slopes[j]), axis=0), np.min(np.atleast_2d(lower_slopes[j]), axis=0))
        slopes = [a_l, a_u] + [np.abs(v) for v in family]  # any chosen lower slope lies in the family
        slope = np.max(np.vstack([np.atleast_2d(s) for s in slopes]), axis=0)
        offset = np.max(np.atleast_2d(b_u + b_l), axis=0)
        g = offset + slope * g_pre
        p = _live(offset + _live(slope) * p_pre)
    absC = np.abs(C)
    magnitude, live = absC @ per_layer[k][0], _live(C) @ per_layer[k][1]
    for j, terms in enumerate(split_terms):
        if terms is not None:
            magnitude = magnitude + np.abs(np.atleast_2d(terms)) @ per_layer[j][0]
            live = live + _live(np.atleast_2d(terms)) @ per_layer[j][1]
    return magnitude, live


def _t(v: np.ndarray) -> np.ndarray:
    """A per-neuron vector as a column, a (rows, n) array transposed to (n, rows)."""
    v = np.asarray(v, float)
    return v[:, None] if v.ndim == 1 else v.T


def _column_dot(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Column-wise ``v · M[:, r]`` where ``v`` is one column for all or one per column. By
    einsum, not BLAS: a threaded BLAS may split the sum differently from one run to the next."""
    return np.einsum("n,nr->r", v[:, 0], M) if v.shape[1] == 1 else np.einsum("nr,nr->r", M, v)


def _dot(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise ``M · v`` where ``v`` is one vector for all rows or one per row."""
    return M @ v if v.ndim == 1 else np.einsum("rn,rn->r", M, v)


def _live(M: np.ndarray) -> np.ndarray:
    """1.0 where ``M`` is nonzero (a pattern; products of patterns count exactly)."""
    return (M != 0).astype(float)
