"""Branch and bound on activation splits: decide ``c · f(x) + d > 0`` on an input box.

A domain fixes the phase of some unstable neurons (``ŷ >= 0`` or ``ŷ <= 0``, for activations
with one kink at 0: ReLU, leaky ReLU). Its bound is the optimised bound with a multiplier
per split (β-CROWN style, :func:`~qcqp.frontends.optimized_bounds.optimize`) on the root's
pre-activation bounds clipped at every split — a domain is the root plus its splits, so it
is stored as one small integer array. Domains are split in batches, worst bound first, on
the neuron whose upper-relaxation intercept costs the bound most (the BaBSR score), and both
children of a batch are bounded in one vectorised pass, each search started from its parent's
parameters. A child inherits its parent's bound when that is better (it is a subset), and its
own children then start afresh: such a warm start sits in a local optimum. Each bound's
maximising input is tried as a counterexample; the caller re-checks any it returns.

The driver of :mod:`qcqp.branch` is not used: its nodes are IRs re-solved by a backend,
where these bounds need no model and a thousand nodes cost one batched pass.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass

import numpy as np

from qcqp.errors import InputError
from qcqp.frontends.linear_pieces import clipped, piece_bound
from qcqp.frontends.network import Network
from qcqp.frontends.optimized_bounds import optimize

BATCH = 64  # domains split per round; their 2·BATCH children are bounded together
SEARCH_STEPS = 20  # optimisation steps per batch of domains


@dataclass
class SplitSearch:
    """The outcome: ``bound`` is a valid lower bound on ``min c · f(x) + d`` over the box."""

    status: str  # "certified", "falsified" or "unknown"
    bound: float
    counterexample: np.ndarray | None
    domains: int  # domains bounded
    leaves: int  # domains with nothing left to split that stayed open


def supports(net: Network) -> bool:
    """Whether every activation has one kink at 0 and a slope family (ReLU, leaky ReLU)."""
    return all(a.piecewise_linear and a.lower_slope_range(np.array([-1.0]), np.array([1.0])) is not None
               for a in net.activations)


def split_search(net: Network, c: np.ndarray, d: float, pre, lo: np.ndarray, hi: np.ndarray,
                 deadline: float, batch: int = BATCH, steps: int = SEARCH_STEPS) -> SplitSearch:
    """Search until the margin is proven positive, an input makes it ``<= 0``, or ``deadline``
    (``time.perf_counter`` seconds). ``pre`` are sound pre-activation bounds on the box."""
    if not supports(net):
        raise InputError("split search needs activations with one kink at 0 (relu, leaky_relu)")
    layers = len(net.activations)
    root_lo = [np.asarray(pre[j][0], float) for j in range(layers)]
    root_hi = [np.asarray(pre[j][1], float) for j in range(layers)]
    root = list(zip(root_lo, root_hi))
    sizes = np.cumsum([0] + [lo_j.size for lo_j in root_lo])
    unstable = np.concatenate([(a < 0) & (b > 0) for a, b in zip(root_lo, root_hi)])
    counter = itertools.count()

    def bound(splits: np.ndarray, warm: np.ndarray | None):
        """Bounds, corners, next branching neuron and optimised parameters of the domains
        ``splits`` (rows), their search started from ``warm`` (rows of slopes, then multipliers)."""
        cut = [splits[:, sizes[j]:sizes[j + 1]] for j in range(layers)]
        bounds = clipped(cut, root)
        alpha = beta = None
        if warm is not None:
            alpha = [warm[:, sizes[j]:sizes[j + 1]] for j in range(layers)]
            beta = [warm[:, sizes[-1] + sizes[j]:sizes[-1] + sizes[j + 1]] for j in range(layers)]
        result = optimize(net, layers, np.tile(-c, (len(splits), 1)), bounds, lo, hi, steps,
                          splits=[s.astype(float) for s in cut], deadline=deadline, alpha=alpha, beta=beta)
        scores = np.concatenate([np.maximum(g, 0.0) * r.b_u for g, r in zip(result.coefficients,
                                                                              result.relaxations)], axis=1)
        scores = np.where(unstable & (splits == 0), scores + 1e-12, -1.0)
        params = np.concatenate(result.alpha + [np.zeros_like(a) if b is None else b
                                                for a, b in zip(result.alpha, result.beta)], axis=1)
        return (d - result.upper, result.corner, np.argmax(scores, axis=1), np.max(scores, axis=1) > 0,
                params.astype(np.float32))

    start = np.zeros((1, sizes[-1]), dtype=np.int8)
    heap, leaves, proven, domains, found = [], [], np.inf, 0, None
    chosen = [(-np.inf, 0, start[0], -1, None)]  # the root, as a batch of one that is not split
    while chosen:
        parents = np.array([value for value, *_ in chosen])
        children = np.array([splits for _, _, splits, _, _ in chosen])
        warm = None if chosen[0][4] is None else np.array([params for *_, params in chosen])
        if chosen[0][3] >= 0:
            children, parents, warm = (np.repeat(a, 2, axis=0) for a in (children, parents, warm))
            children[np.arange(len(children)), np.repeat([neuron for *_, neuron, _ in chosen], 2)] = \
                np.tile([1, -1], len(chosen))
        values, corners, choice, splittable, params = bound(children, warm)
        worse = values < parents  # keep the parent's bound; the warm start failed: restart from CROWN's
        values = np.where(worse, parents, values)
        params[worse] = np.nan
        domains += len(children)
        found = _counterexample(net, c, d, corners)
        proven = min(proven, np.min(values[values > 0], initial=np.inf))
        for k in np.flatnonzero(values <= 0):
            if splittable[k]:
                heapq.heappush(heap, (float(values[k]), next(counter), children[k], int(choice[k]), params[k]))
                continue
            cut = [children[k, sizes[j]:sizes[j + 1]] for j in range(layers)]
            value, point = piece_bound(net, c, d, cut, root, lo, hi)
            found = found if found is not None or point is None else _counterexample(net, c, d, point[None, :])
            if value > 0:
                proven = min(proven, value)
            else:
                leaves.append(max(value, float(values[k])))
        if found is not None or time.perf_counter() >= deadline:
            break
        chosen = [heapq.heappop(heap) for _ in range(min(batch, len(heap)))]
    open_bounds = [v for v, *_ in heap] + leaves
    if found is not None:
        return SplitSearch("falsified", min(open_bounds + [0.0]), found, domains, len(leaves))
    if not open_bounds:
        return SplitSearch("certified", float(proven), None, domains, 0)
    return SplitSearch("unknown", min(open_bounds), None, domains, len(leaves))


def _counterexample(net: Network, c: np.ndarray, d: float, points: np.ndarray) -> np.ndarray | None:
    """The first of ``points`` with ``c · f(x) + d <= 0`` (float check; the caller re-checks)."""
    margins = net.forward(points) @ c + d
    hits = np.flatnonzero(margins <= 0)
    return points[hits[0]] if hits.size else None
