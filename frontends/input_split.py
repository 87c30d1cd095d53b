"""Branch and bound on the input box: decide a specification on networks with few inputs.

A sub-box is closed once every unsafe disjunct has an atom whose CROWN lower bound on that
box is positive; an open box is split in half along the input that matters most (its width
times the gradient of the disjunct's most promising atom at the box's centre, ReluVal's
"smear"), and its centre is tried as a counterexample. Boxes are bounded in batches: every
layer's bounds for a batch are one back-substitution over stacked rows (each row its own box).
The halves of a box share their midpoint, so the closed boxes cover the input box exactly and
the proof is as rigorous as each box's bound. With few inputs (ACAS Xu has five) this beats
activation splits: a box shrinks in every direction that matters.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from qcqp.frontends.network import Network, dense
from qcqp.frontends.specs import Specification
from qcqp.interval import round_out

BATCH = 256  # boxes bounded together


@dataclass
class InputSplit:
    """The outcome: ``bound`` is a valid lower bound on the worst margin over the box
    (the least, over unsafe disjuncts, of the best atom's value)."""

    status: str  # "certified", "falsified" or "unknown"
    bound: float
    counterexample: np.ndarray | None
    boxes: int  # boxes bounded


def boxes_upper(net: Network, k: int, C: np.ndarray, pre, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Rigorous upper bounds on ``C ŷ_k`` over each box (see :func:`linear_upper`)."""
    return linear_upper(net, k, C, pre, lo, hi)[0]


def linear_upper(net: Network, k: int, C: np.ndarray, pre, lo: np.ndarray,
                 hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigorous upper bounds on ``C ŷ_k`` (rows of ``C``: shape ``(m, n_k)``) over each box
    ``lo[r] <= x <= hi[r]``, with ``pre[j]`` that box's bounds of layer ``j``: shape ``(boxes, m)``.

    The arithmetic of :func:`~qcqp.frontends.bounds.backsub_upper` (CROWN's relaxation, a
    parallel pass of absolute values that bounds every rounding error) laid out as
    ``(boxes, m, n)`` arrays, so each box's activation bounds are computed once rather than
    once per row: several times faster for many small boxes. Also returns the linear upper
    bound's coefficients on the input, shape ``(boxes, m, n_0)``.
    """
    W = [dense(w) for w in net.weights]
    boxes = lo.shape[0]
    Lam = np.broadcast_to(C @ W[k], (boxes,) + (C.shape[0], W[k].shape[1]))
    const = np.broadcast_to(C @ net.biases[k], (boxes, C.shape[0]))
    # Absolute values for the rounding bound, shared by all boxes: each layer's slopes are
    # bounded by their largest magnitude over the batch (a little looser, far cheaper).
    mag_lam = np.abs(C) @ np.abs(W[k])
    mag_const = np.broadcast_to(np.abs(C) @ np.abs(net.biases[k]), (boxes, C.shape[0]))
    terms = float(W[k].shape[1])
    for j in range(k - 1, -1, -1):
        a_l, b_l, a_u, b_u = net.activation(j).linear_bounds(*pre[j])
        upper_side = Lam >= 0
        const = const + np.einsum("bmn,bmn->bm", Lam, np.where(upper_side, b_u[:, None, :], b_l[:, None, :]))
        Lam = Lam * np.where(upper_side, a_u[:, None, :], a_l[:, None, :])
        mag_const = mag_const + (np.abs(b_u) + np.abs(b_l)) @ mag_lam.T
        mag_lam = mag_lam * float(np.max(np.maximum(np.abs(a_u), np.abs(a_l)), initial=0.0))
        const = const + Lam @ net.biases[j]
        mag_const = mag_const + mag_lam @ np.abs(net.biases[j])
        Lam, mag_lam = Lam @ W[j], mag_lam @ np.abs(W[j])
        terms += 2.0 * W[j].shape[0] + W[j].shape[1]
    value = const + np.einsum("bmn,bn->bm", np.maximum(Lam, 0.0), hi) \
        + np.einsum("bmn,bn->bm", np.minimum(Lam, 0.0), lo)
    magnitude = mag_const + np.maximum(np.abs(lo), np.abs(hi)) @ mag_lam.T
    return round_out(value, value, magnitude, np.full(value.shape, terms))[1] + 1e-12 * magnitude, Lam


def layer_bounds(net: Network, lo: np.ndarray, hi: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bounds ``(l_k, u_k)`` of every hidden layer's pre-activation, shape ``(boxes, n_k)``, for
    each box ``lo[r] <= x <= hi[r]``: interval arithmetic's, tightened by CROWN for the neurons
    that are unstable in some box (ReLU and its kin are exact where stable; CROWN would only
    repeat the interval)."""
    out, low, up = [], lo, hi
    for k in range(len(net.activations)):
        ibp_lo, ibp_hi = _interval(net, k, low, up)
        rows = np.flatnonzero(((ibp_lo < 0) & (ibp_hi > 0)).any(axis=0))  # stable everywhere: intervals do
        eye = np.eye(ibp_lo.shape[1])[rows]
        bounds = boxes_upper(net, k, np.concatenate([eye, -eye]), out, lo, hi)
        ibp_lo[:, rows] = np.maximum(-bounds[:, rows.size:], ibp_lo[:, rows])
        ibp_hi[:, rows] = np.minimum(bounds[:, :rows.size], ibp_hi[:, rows])
        out.append((ibp_lo, ibp_hi))
        low, up = net.activation(k).interval(*out[-1])
    return out


def _interval(net: Network, k: int, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds of layer ``k``'s affine map over each box (rows), rounded outward."""
    W = dense(net.weights[k])
    pos, neg = np.maximum(W, 0.0), np.minimum(W, 0.0)
    low = lo @ pos.T + hi @ neg.T + net.biases[k]
    up = hi @ pos.T + lo @ neg.T + net.biases[k]
    magnitude = np.maximum(np.abs(lo), np.abs(hi)) @ np.abs(W).T + np.abs(net.biases[k])
    return round_out(low, up, magnitude, np.full(low.shape, W.shape[1] + 1.0))


def atom_bounds(net: Network, A: np.ndarray, b: np.ndarray, lo: np.ndarray,
                hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigorous lower bounds on ``A f(x) + b`` over each box, shape ``(boxes, atoms)``, and the
    coefficients on the input of the linear lower bounds they come from, ``(boxes, atoms, n_0)``."""
    upper, coefficients = linear_upper(net, len(net.weights) - 1, -A, layer_bounds(net, lo, hi), lo, hi)
    return b - upper, -coefficients


def input_split_search(net: Network, spec: Specification, deadline: float, batch: int = BATCH) -> InputSplit:
    """Split ``spec``'s input box until every part is closed, a counterexample turns up (checked
    with :meth:`Specification.counterexample`), or ``deadline`` (``time.perf_counter`` seconds)."""
    owner, A, b = _rows(spec)
    stack_lo, stack_hi, stack_margin = spec.box.lower[None, :], spec.box.upper[None, :], np.array([-np.inf])
    closed_bound, open_bound, boxes = np.inf, np.inf, 0
    while stack_lo.shape[0]:
        if time.perf_counter() >= deadline:
            break
        lo, hi = stack_lo[-batch:], stack_hi[-batch:]
        stack_lo, stack_hi, stack_margin = stack_lo[:-batch], stack_hi[:-batch], stack_margin[:-batch]
        values, slopes = atom_bounds(net, A, b, lo, hi)
        boxes += lo.shape[0]
        best = np.stack([values[:, owner == k].max(axis=1) for k in range(len(spec.disjuncts))], axis=1)
        margin = best.min(axis=1)
        closed = margin > 0
        if closed.any():
            closed_bound = min(closed_bound, float(margin[closed].min()))
        lo, hi, values, best, margin = lo[~closed], hi[~closed], values[~closed], best[~closed], margin[~closed]
        slopes = slopes[~closed]
        if not lo.shape[0]:
            continue
        centers = 0.5 * (lo + hi)
        found = _counterexample(net, spec, centers, A, b, owner)
        if found is not None:
            return InputSplit("falsified", float(margin.min()), found, boxes)
        worst = best.argmin(axis=1)  # each box's worst disjunct, and that disjunct's best atom
        target = np.where(owner[None, :] == worst[:, None], values, -np.inf).argmax(axis=1)
        smear = np.abs(slopes[np.arange(lo.shape[0]), target]) * (hi - lo)
        flat = smear.max(axis=1) == 0  # the bound does not depend on the input: the widest one
        smear[flat] = (hi - lo)[flat]
        splittable = smear.max(axis=1) > 0
        if not splittable.all():  # a point that stays open: bounds cannot close it
            open_bound = min(open_bound, float(margin[~splittable].min()))
            lo, hi, smear, centers = lo[splittable], hi[splittable], smear[splittable], centers[splittable]
            margin = margin[splittable]
        dim = smear.argmax(axis=1)
        rows = np.arange(lo.shape[0])
        mid = centers[rows, dim]
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[rows, dim], right_lo[rows, dim] = mid, mid
        stack_lo = np.concatenate([stack_lo, lo, right_lo])
        stack_hi = np.concatenate([stack_hi, left_hi, hi])
        stack_margin = np.concatenate([stack_margin, margin, margin])  # a half is no worse than its box
    bound = min(closed_bound, open_bound, float(stack_margin.min(initial=np.inf)))
    return InputSplit("certified" if bound > 0 else "unknown", bound, None, boxes)


def _rows(spec: Specification) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows bounded per box and the disjunct each belongs to: every atom, and for a
    conjunction the means of its atoms' pairs and of all of them — if a convex combination of
    the atoms is positive on a box, so is their maximum, and the combination's own relaxation
    is often tighter where the atoms trade places (ACAS Xu's "is the minimum" properties)."""
    owner, rows = [], []
    for k, atoms in enumerate(spec.disjuncts):
        groups = [[i] for i in range(len(atoms))]
        if len(atoms) > 1:
            groups += list(map(list, itertools.combinations(range(len(atoms)), 2)))
            groups += [list(range(len(atoms)))] if len(atoms) > 2 else []
        for group in groups:
            a = np.mean([atoms[i][0] for i in group], axis=0)
            c = float(np.mean([atoms[i][1] for i in group]))
            if len(group) == 1 or _is_mean(a, c, [atoms[i] for i in group]):
                owner.append(k)
                rows.append((a, c))
    return np.array(owner), np.array([a for a, _ in rows]), np.array([c for _, c in rows])


def _is_mean(a: np.ndarray, c: float, atoms) -> bool:
    """Is ``(a, c)`` exactly the mean of ``atoms`` (no rounding in the float mean)?"""
    share = Fraction(1, len(atoms))
    exact = [sum(Fraction(float(atom[0][j])) for atom in atoms) * share for j in range(a.size)]
    return all(Fraction(float(v)) == e for v, e in zip(a, exact)) and \
        Fraction(c) == sum(Fraction(float(atom[1])) for atom in atoms) * share


def _counterexample(net: Network, spec: Specification, points: np.ndarray, A: np.ndarray, b: np.ndarray,
                    owner: np.ndarray) -> np.ndarray | None:
    """The first of ``points`` that reaches the unsafe region (a float screen, then the rigorous check)."""
    values = net.forward(points) @ A.T + b
    reached = np.stack([(values[:, owner == k] <= 0).all(axis=1) for k in range(owner.max() + 1)], axis=1)
    for r in np.flatnonzero(reached.any(axis=1)):
        found = spec.counterexample(net, points[r])
        if found is not None:
            return found
    return None
