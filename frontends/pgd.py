"""Projected gradient descent on linear objectives of the logits (falsification)."""

from __future__ import annotations

import numpy as np

from qcqp.frontends.network import Network
from qcqp.frontends.specs import Box


def pgd_minimize(net: Network, box: Box, C: np.ndarray, d: np.ndarray | None = None, steps: int = 100,
                 restarts: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """For each row ``c_k`` of ``C``, search ``min_x c_k · logits(x) + d_k`` over the box.

    Signed gradient steps (the ℓ∞ steepest descent) from the centre and random starts,
    with a step size that decays linearly. Returns ``(values, points)`` of the best
    points found; each value is recomputed by a fresh forward pass.
    """
    C = np.atleast_2d(np.asarray(C, float))
    d = np.zeros(C.shape[0]) if d is None else np.asarray(d, float)
    rng = np.random.default_rng(seed)
    k, n = C.shape[0], net.input_size
    width = box.upper - box.lower
    starts = [np.broadcast_to(box.center, (k, n))]
    starts += [box.lower + rng.random((k, n)) * width for _ in range(restarts)]
    x = np.concatenate(starts)  # (k * (restarts + 1), n)
    objective = np.tile(C, (restarts + 1, 1))
    best_x, best = x.copy(), _values(net, x, objective)
    for step in range(steps):
        alpha = 0.25 * width * (1.0 - step / steps) + 1e-3 * width
        x = np.clip(x - alpha * np.sign(net.gradient(x, objective)), box.lower, box.upper)
        values = _values(net, x, objective)
        better = values < best
        best_x[better], best[better] = x[better], values[better]
    best = best.reshape(restarts + 1, k)
    pick = np.argmin(best, axis=0)
    points = best_x.reshape(restarts + 1, k, n)[pick, np.arange(k)]
    return _values(net, points, C) + d, points


def _values(net: Network, x: np.ndarray, C: np.ndarray) -> np.ndarray:
    return np.einsum("bk,bk->b", net.forward(x), C)
