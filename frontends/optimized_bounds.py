"""Optimised linear bounds (α-CROWN / β-CROWN style) for networks.

CROWN fixes the lower linear bound of every unstable neuron; any slope in the activation's
:meth:`~qcqp.frontends.activations.Activation.lower_slope_range` is as valid, and the best
one differs per bounded row. Here each row gets its own slopes, and each split constraint
``d ŷ >= 0`` of a branch-and-bound domain its own multiplier ``β >= 0``, chosen by projected
Adam steps on the float bound. The gradient needs no autodiff: the bound is linear in the
coefficient of every pre-activation, whose derivative is that pre-activation at the
maximising input corner pushed forward through the chosen linear relaxations.

The optimisation only picks parameters: the bound returned is recomputed by the rigorous
:func:`~qcqp.frontends.bounds.backsub_upper`; the search starts from CROWN's slopes and keeps
each row's best.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from qcqp.frontends.bounds import _dot, backsub_upper, crown_rows, refined_bounds
from qcqp.frontends.network import Network
from qcqp.optim import Adam

STEPS = 20  # Adam steps per optimised bound
SLOPE_RATE = 0.1  # Adam step on the slope parameter, which lives in [0, 1]
DECAY = 0.98  # the rates shrink by this factor per step (smaller steps near the optimum)
SPLIT_RATE = 0.05  # Adam step on a split multiplier, relative to its row's coefficient scale


def optimized_upper(net: Network, k: int, C: np.ndarray, pre_bounds, lo: np.ndarray, hi: np.ndarray,
                    steps: int = STEPS, splits=None, deadline: float | None = None) -> np.ndarray:
    """Rigorous upper bounds on ``C ŷ_k`` with optimised slopes (and split multipliers).

    ``pre_bounds[j]`` for ``j < k``: per neuron, or per row (shape ``(rows, n_j)``).
    ``splits[j]``, where given: ``+1`` / ``-1`` per neuron (or per row and neuron) for domains
    restricted to ``ŷ_j >= 0`` / ``ŷ_j <= 0`` (``pre_bounds`` already clipped), else 0.
    Stops early at ``deadline`` (``time.perf_counter`` seconds).
    """
    return optimize(net, k, C, pre_bounds, lo, hi, steps, splits, deadline).upper


@dataclass
class Optimized:
    """An optimised bound: the rigorous ``upper`` per row, and from the float pass at the chosen
    parameters each row's maximising input ``corner`` and, per layer ``j``, the coefficients
    on the activations ``σ(ŷ_j)`` (what a branching rule scores neurons by)."""

    upper: np.ndarray
    corner: np.ndarray
    coefficients: list[np.ndarray]
    relaxations: list
    alpha: list[np.ndarray]  # the chosen slope parameters in [0, 1], per layer
    beta: list[np.ndarray | None]  # the chosen split multipliers, per layer (None: no splits there)


def optimize(net: Network, k: int, C: np.ndarray, pre_bounds, lo: np.ndarray, hi: np.ndarray,
             steps: int = STEPS, splits=None, deadline: float | None = None, alpha=None, beta=None) -> Optimized:
    """:func:`optimized_upper` with what the search found along the bound; ``alpha`` and
    ``beta`` (per layer, as in :class:`Optimized`) start the search where given, except in
    rows of NaN, which start afresh (CROWN's slopes, no multipliers)."""
    C = np.atleast_2d(np.asarray(C, float))
    rows = C.shape[0]
    splits = list(splits) if splits is not None else [None] * k
    relax = [_Relaxation(net, j, pre_bounds[j], rows) for j in range(k)]
    alpha = [r.start.copy() if a is None else np.where(np.isnan(a), r.start, a)
             for r, a in zip(relax, alpha or [None] * k)]
    beta = [None if s is None or not np.any(s) else
            np.zeros(np.broadcast_shapes(np.shape(s), (rows, r.start.shape[1]))) if b is None else np.nan_to_num(b)
            for s, r, b in zip(splits, relax, beta or [None] * k)]
    params = [p for p in alpha + beta if p is not None]
    adams = [Adam(p.shape, lr=1.0, eps=1e-12) for p in params]
    best_value = np.full(rows, np.inf)
    best_alpha, best_beta = [a.copy() for a in alpha], [None if b is None else b.copy() for b in beta]
    scales = None
    for step in range(steps + 1):
        now = _bound_and_gradient(net, k, C, relax, alpha, beta, splits, lo, hi)
        better = now.value < best_value
        best_value = np.where(better, now.value, best_value)
        for j in range(k):
            best_alpha[j][better] = alpha[j][better]
            if beta[j] is not None:
                best_beta[j][better] = beta[j][better]
        if step == steps or (deadline is not None and time.perf_counter() >= deadline):
            break
        scales = now.scales if scales is None else scales
        decay = DECAY ** step
        rates = [decay * SLOPE_RATE] * k + [decay * SPLIT_RATE * scales[j][:, None] for j in range(k)
                                             if beta[j] is not None]
        for p, adam, g, rate in zip(params, adams, now.g_alpha + [g for g in now.g_beta if g is not None], rates):
            p -= adam.step(g, rate)
        for a in alpha:
            np.clip(a, 0.0, 1.0, out=a)
        for b in beta:
            if b is not None:
                np.maximum(b, 0.0, out=b)
    best = _bound_and_gradient(net, k, C, relax, best_alpha, best_beta, splits, lo, hi)
    slopes = [r.slope(a) for r, a in zip(relax, best_alpha)]
    terms = [None if b is None else b * s for b, s in zip(best_beta, splits)]
    upper = backsub_upper(net, k, C, pre_bounds, lo, hi, lower_slopes=slopes, split_terms=terms)
    return Optimized(upper, best.corner, best.coefficients, relax, best_alpha, best_beta)


def optimized_lower(net: Network, k: int, C: np.ndarray, pre_bounds, lo, hi, **options) -> np.ndarray:
    """Rigorous lower bounds on ``C ŷ_k`` (see :func:`optimized_upper`)."""
    return -optimized_upper(net, k, -np.atleast_2d(np.asarray(C, float)), pre_bounds, lo, hi, **options)


def alpha_crown_bounds(net: Network, lo: np.ndarray, hi: np.ndarray, steps: int = STEPS,
                       deadline: float | None = None, start: list | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation bounds of every layer: CROWN's (:func:`~qcqp.frontends.bounds.refined_bounds`),
    and each unstable hidden neuron's two sides by :func:`optimized_upper` until ``deadline``
    (then plain CROWN; after it, interval bounds), intersected with ``start`` where given
    (bounds already known: the result is never looser)."""
    def refine(k, rows, out):
        lower, upper = crown_rows(net, k, rows, out, lo, hi)
        open_ = np.flatnonzero((lower < 0) & (upper > 0))
        late = deadline is not None and time.perf_counter() >= deadline
        if 0 < k < len(net.activations) and open_.size and not late:
            C = np.zeros((open_.size, net.weights[k].shape[0]))
            C[np.arange(open_.size), rows[open_]] = 1.0
            tight = optimized_upper(net, k, np.vstack([C, -C]), out, lo, hi, steps=steps, deadline=deadline)
            upper[open_] = np.minimum(upper[open_], tight[:open_.size])
            lower[open_] = np.maximum(lower[open_], -tight[open_.size:])
        return lower, upper

    return refined_bounds(net, lo, hi, refine, deadline, start)


class _Relaxation:
    """Activation ``j``'s linear bounds on its pre-activation bounds, with the slope family."""

    def __init__(self, net: Network, j: int, bounds, rows: int):
        activation = net.activation(j)
        self.a_l, self.b_l, self.a_u, self.b_u = activation.linear_bounds(*bounds)
        family = activation.lower_slope_range(*bounds)
        self.low, self.high = family if family is not None else (self.a_l, self.a_l)
        span = self.high - self.low
        start = np.where(span > 0, (self.a_l - self.low) / np.where(span > 0, span, 1.0), 0.0)
        self.start = np.broadcast_to(np.clip(start, 0.0, 1.0), (rows, np.shape(start)[-1])).copy()
        self.span = span

    def slope(self, alpha: np.ndarray) -> np.ndarray:
        return self.low + alpha * self.span


@dataclass
class _Pass:
    value: np.ndarray
    g_alpha: list
    g_beta: list
    scales: list
    corner: np.ndarray
    coefficients: list


def _bound_and_gradient(net, k, C, relax, alpha, beta, splits, lo, hi) -> _Pass:
    """The float upper bound per row, its gradients in every ``alpha[j]`` and ``beta[j]``, per
    layer the rows' mean coefficient magnitude (the scale of the split multipliers), the
    maximising corner and the coefficients on each layer's activations."""
    Lam, const = C @ net.weights[k], C @ net.biases[k]
    coefficients = [None] * k
    scales = [None] * k
    for j in range(k - 1, -1, -1):
        r = relax[j]
        coefficients[j] = Lam
        scales[j] = np.mean(np.abs(Lam), axis=1) + 1e-12
        pos, neg = np.maximum(Lam, 0.0), np.minimum(Lam, 0.0)
        const = const + _dot(pos, r.b_u) + _dot(neg, r.b_l)
        Lam = pos * r.a_u + neg * r.slope(alpha[j])
        if beta[j] is not None:
            Lam = Lam + beta[j] * splits[j]
        const = const + Lam @ net.biases[j]
        Lam = Lam @ net.weights[j]
    corner = np.where(Lam > 0, hi, lo)
    value = const + np.einsum("rn,rn->r", Lam, corner)
    z = corner @ net.weights[0].T + net.biases[0]
    g_alpha, g_beta = [], [None] * k
    for j in range(k):
        r, g = relax[j], coefficients[j]
        g_alpha.append(np.minimum(g, 0.0) * z * r.span)
        if beta[j] is not None:
            g_beta[j] = splits[j] * z
        h = np.where(g > 0, r.a_u * z + r.b_u, r.slope(alpha[j]) * z + r.b_l)
        z = h @ net.weights[j + 1].T + net.biases[j + 1]
    return _Pass(value, g_alpha, g_beta, scales, corner, coefficients)
