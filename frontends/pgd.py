"""Projected gradient descent on linear objectives of the logits (falsification)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from qcqp.frontends.network import Network
from qcqp.frontends.specs import Box


def pgd_minimize(net: Network, box: Box, C: np.ndarray, d: np.ndarray | None = None, steps: int = 100,
                 restarts: int = 10, seed: int = 0, deadline: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each row ``c_k`` of ``C``, search ``min_x c_k · logits(x) + d_k`` over the input set
    (:func:`pgd_minimize_max` with one row per objective)."""
    C = np.atleast_2d(np.asarray(C, float))
    d = np.zeros(C.shape[0]) if d is None else np.asarray(d, float)
    return pgd_minimize_max(net, box, C[:, None, :], d[:, None], steps, restarts, seed, deadline)


def pgd_minimize_max(net: Network, box: Box, A: np.ndarray, b: np.ndarray, steps: int = 100, restarts: int = 10,
                     seed: int = 0, deadline: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each ``k``, search ``min_x max_j A[k, j] · logits(x) + b[k, j]`` over the input set:
    a point where the maximum is <= 0 satisfies every row of ``k`` at once (a conjunction).

    Steepest-descent steps in the set's norm (signed for a box) along the gradient of the
    largest row, from the centre and random starts, with a step size that decays linearly,
    until ``deadline`` (``time.perf_counter`` seconds). Returns ``(values, points)`` of the
    best points found; each value is recomputed by a fresh forward pass.
    """
    A, b = np.asarray(A, float), np.asarray(b, float)
    k, n = A.shape[0], net.input_size
    rows, offsets = np.tile(A, (restarts + 1, 1, 1)), np.tile(b, (restarts + 1, 1))

    def evaluate(x):
        pres = net.pre_activations(x)
        values = np.einsum("bjc,bc->bj", rows, pres[-1]) + offsets
        top = np.argmax(values, axis=1)
        objective = rows[np.arange(len(x)), top]
        return values[np.arange(len(x)), top], net.gradient(x, objective, pres)

    best, best_x = steepest_descent_search(evaluate, box, k, steps, restarts, seed, deadline)
    pick = np.argmin(best.reshape(restarts + 1, k), axis=0)
    points = best_x.reshape(restarts + 1, k, n)[pick, np.arange(k)]
    return np.max(np.einsum("kjc,kc->kj", A, net.forward(points)) + b, axis=1), points


def steepest_descent_search(evaluate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], box: Box,
                            copies: int, steps: int, restarts: int, seed: int, deadline: float | None = None):
    """Minimise a value (row-wise on a batch; ``evaluate`` gives it and its gradient from one
    forward pass) by steepest-descent steps in the input set's norm
    (signed steps on a box, ``Q⁻¹g`` steps on an ellipsoid), pulled back into the set.

    The batch holds ``copies`` rows started at the centre, then ``copies`` random starts per
    restart; the step decays linearly from a quarter of the set's size; no step starts after
    ``deadline``. Returns the best value and point seen for every row of the batch.
    """
    rng = np.random.default_rng(seed)
    n = box.center.size
    width = box.upper - box.lower
    starts = [np.broadcast_to(box.center, (copies, n))]
    starts += [box.pull_inside(box.lower + rng.random((copies, n)) * width) for _ in range(restarts)]
    x = np.concatenate(starts)
    best, gradient = evaluate(x)
    best_x = x.copy()
    for step in range(steps):
        if deadline is not None and time.perf_counter() >= deadline:
            break
        x = box.descent_step(x, gradient, 0.25 * (1.0 - step / steps) + 1e-3)
        current, gradient = evaluate(x)
        better = current < best
        best_x[better], best[better] = x[better], current[better]
    return best, best_x
