"""Exact bounds on the linear pieces of a box: where every unstable neuron's phase is fixed.

On a box with few unstable neurons (ReLU-like: one kink at 0) the network is affine on each
*piece* — the part of the box where each unstable neuron has a chosen sign — so the least
value of a disjunct (the largest of its atoms) over a piece is a small LP over the input.
HiGHS is trusted only for its multipliers: the bound is rebuilt from them by rigorous
back-substitution (:func:`~qcqp.frontends.bounds.backsub_upper`, the split rows entering as
``β · s ŷ``). Near a property's tightest point the minimum of a piecewise-linear network sits
on a kink: bound propagation cannot close a box around it however small the box gets (an
ACAS Xu minimum at margin 0.003 keeps two unstable neurons in a box 1/500 of the property's
width), the pieces close it at once.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.optimize import linprog

from qcqp.frontends.bounds import backsub_upper
from qcqp.frontends.network import Network

PIECE_NEURONS = 4  # boxes with at most this many unstable neurons are decided piece by piece
WEIGHT_BITS = 12  # a conjunction's LP multipliers are rounded to this many bits (exact combinations)


@dataclass
class Pieces:
    """Per disjunct, a rigorous lower bound on its largest atom over the box (``bounds``), and
    the first point where a piece's LP found a disjunct ``<= 0`` (``None`` if none did)."""

    bounds: np.ndarray
    point: np.ndarray | None


def unstable_neurons(net: Network, pre) -> list[np.ndarray]:
    """Per hidden layer, the neurons whose pre-activation interval strictly contains 0."""
    return [np.flatnonzero((low < 0) & (high > 0)) for low, high in pre[:len(net.activations)]]


def piece_bounds(net: Network, disjuncts, pre, lo: np.ndarray, hi: np.ndarray,
                 deadline: float = math.inf) -> Pieces:
    """Bound every disjunct (atoms ``(a, b)``: ``a · f(x) + b``) over each piece of the box
    ``lo <= x <= hi`` whose sound pre-activation bounds are ``pre``: ``2^u`` LPs per disjunct
    for ``u`` unstable neurons (an empty piece is proven empty by its phase-one multipliers).
    Past ``deadline`` (``time.perf_counter`` seconds) the pieces left are not bounded and
    every bound is ``-inf``."""
    unstable = unstable_neurons(net, pre)
    layers = [(j, i) for j, idx in enumerate(unstable) for i in idx]
    bounds, found = np.full(len(disjuncts), np.inf), None
    for phases in itertools.product((1, -1), repeat=len(layers)):
        if time.perf_counter() >= deadline:
            return Pieces(np.full(len(disjuncts), -np.inf), found)
        splits = [np.zeros(low.size) for low, _ in pre[:len(net.activations)]]
        for (j, i), phase in zip(layers, phases):
            splits[j][i] = phase
        for k, atoms in enumerate(disjuncts):
            value, point = disjunct_bound(net, atoms, splits, pre, lo, hi)
            bounds[k] = min(bounds[k], value)
            found = point if found is None and value <= 0 else found
    return Pieces(bounds, found)


def disjunct_bound(net: Network, atoms, splits, pre, lo, hi) -> tuple[float, np.ndarray | None]:
    """A rigorous lower bound on ``max_j a_j · f(x) + b_j`` over one piece, and the LP's minimiser.

    A conjunction's least maximum is an LP whose multipliers ``λ`` on the atoms prove
    ``max_j atom_j >= Σ λ_j atom_j / Σ λ_j``; ``λ`` is rounded to ``WEIGHT_BITS`` bits and used
    only if the combined row is then exact in floating point (as for the ±1 atoms of "class i
    is the minimum"); otherwise the atoms are bounded one by one."""
    if len(atoms) > 1:
        weights, point = _minmax_weights(net, atoms, splits, pre, lo, hi)
        if weights is not None and (combined := exact_combination(weights, atoms)) is not None:
            value, _ = piece_bound(net, *combined, splits, pre, lo, hi)
            return float(np.nextafter(value / weights.sum(), -np.inf)), point
    best, where = -np.inf, None
    for a, b in atoms:
        value, point = piece_bound(net, np.asarray(a, float), float(b), splits, pre, lo, hi)
        if value > best:
            best, where = value, point
    return best, where


def exact_combination(weights: np.ndarray, atoms) -> tuple[np.ndarray, float] | None:
    """``(Σ w_j a_j, Σ w_j b_j)`` if floating point computes it without rounding, else ``None``."""
    a = np.sum([w * np.asarray(atom[0], float) for w, atom in zip(weights, atoms)], axis=0)
    b = float(sum(w * float(atom[1]) for w, atom in zip(weights, atoms)))
    exact = [sum(Fraction(float(w)) * Fraction(float(atom[0][j])) for w, atom in zip(weights, atoms))
             for j in range(a.size)]
    exact_b = sum(Fraction(float(w)) * Fraction(float(atom[1])) for w, atom in zip(weights, atoms))
    if all(Fraction(float(v)) == e for v, e in zip(a, exact)) and Fraction(b) == exact_b:
        return a, b
    return None


def _minmax_weights(net: Network, atoms, splits, pre, lo, hi):
    """The LP ``min t`` s.t. every atom ``<= t`` on the piece: its atoms' multipliers rounded to
    ``WEIGHT_BITS`` bits (``None`` if the LP fails or they round to 0), and its minimiser."""
    M, m, A, offsets = _piece_map(net, splits, pre)
    C = np.array([np.asarray(a, float) for a, _ in atoms])
    d = np.array([float(b) for _, b in atoms])
    n = lo.size
    rows = np.vstack([np.hstack([C @ M, -np.ones((len(atoms), 1))]), np.hstack([A, np.zeros((len(A), 1))])])
    solved = linprog(np.r_[np.zeros(n), 1.0], A_ub=rows, b_ub=np.r_[-(C @ m + d), offsets],
                     bounds=list(zip(lo, hi)) + [(None, None)], method="highs")
    if solved.status != 0:
        return None, None
    weights = np.maximum(-solved.ineqlin.marginals[:len(atoms)], 0.0)
    weights = np.round(weights * 2.0 ** WEIGHT_BITS) / 2.0 ** WEIGHT_BITS
    return (weights if weights.sum() > 0 else None), solved.x[:n]


def _piece_map(net: Network, splits, pre):
    """The affine map ``x ↦ M x + m`` of the logits on a piece, and its split rows ``A x <= offsets``
    (``s z_i(x) >= 0`` for each split neuron ``i`` of phase ``s``)."""
    bounds = clipped(splits, pre)
    n = net.input_size
    M, m, rows, offsets = np.eye(n), np.zeros(n), [], []
    for j, (low, high) in enumerate(bounds):
        M, m = net.weights[j] @ M, net.weights[j] @ m + net.biases[j]
        for i in np.flatnonzero(splits[j]):
            rows.append(-splits[j][i] * M[i])
            offsets.append(splits[j][i] * m[i])
        slope = net.activation(j).lower_slope_range(low, high)[0]  # stable: the phase's slope
        M, m = slope[:, None] * M, slope * m
    M, m = net.weights[-1] @ M, net.weights[-1] @ m + net.biases[-1]
    return M, m, np.array(rows).reshape(len(rows), n), np.array(offsets)


def clipped(splits, pre) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation bounds with each split neuron's interval cut at 0."""
    return [(np.where(s > 0, np.maximum(a, 0.0), a), np.where(s < 0, np.minimum(b, 0.0), b))
            for s, (a, b) in zip(splits, pre)]


def piece_bound(net: Network, c: np.ndarray, d: float, splits, pre, lo, hi) -> tuple[float, np.ndarray | None]:
    """A rigorous lower bound on ``c · f(x) + d`` over one piece (every neuron unstable in
    ``pre`` split), and the LP's minimiser (``None`` if the piece is empty). The constraints'
    multipliers, used as split multipliers, give the bound; an empty piece's phase-one
    multipliers, scaled up, push it towards ``+inf``."""
    M, m, A, offsets = _piece_map(net, splits, pre)
    box = list(zip(lo, hi))
    if not len(A):
        solved = linprog(c @ M, bounds=box, method="highs")
        multipliers, point = np.zeros(0), solved.x
    else:
        solved = linprog(c @ M, A_ub=A, b_ub=offsets, bounds=box, method="highs")
        if solved.status == 0:
            multipliers, point = -solved.ineqlin.marginals, solved.x
        elif solved.status == 2:
            slack = linprog(np.r_[np.zeros(lo.size), np.ones(len(A))], A_ub=np.hstack([A, -np.eye(len(A))]),
                            b_ub=offsets, bounds=box + [(0, None)] * len(A), method="highs")
            if slack.status != 0:
                return -np.inf, None
            multipliers, point = -1e6 * (1 + np.abs(c @ M).sum()) * slack.ineqlin.marginals, None
        else:
            return -np.inf, None
    owners = [(j, i) for j, s in enumerate(splits) for i in np.flatnonzero(s)]
    terms = [np.zeros(np.size(s)) for s in splits]
    for (j, i), beta in zip(owners, multipliers):
        terms[j][i] = max(beta, 0.0) * splits[j][i]
    upper = backsub_upper(net, len(splits), -c[None, :], clipped(splits, pre), lo, hi, split_terms=terms)
    return float(d - upper[0]), point
