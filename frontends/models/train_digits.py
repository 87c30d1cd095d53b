"""Train the shipped default network: a ReLU MLP 64-16-16-10 on scikit-learn's digits.

Deterministic (fixed seed, full-batch Adam in numpy float64). Run from the repository
root to regenerate ``digits_relu.npz``::

    python frontends/models/train_digits.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qcqp.optim import Adam

SIZES = (64, 16, 16, 10)
SEED = 0
TEST_FRACTION = 0.25


def digits_split():
    """``(x_train, y_train, x_test, y_test)``, pixels scaled to [0, 1], fixed permutation."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = data.data / 16.0, data.target.astype(int)
    order = np.random.default_rng(SEED).permutation(len(y))
    cut = int(len(y) * (1 - TEST_FRACTION))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def train(epochs: int = 1500, lr: float = 3e-3, sizes: tuple[int, ...] = SIZES):
    """Full-batch Adam on softmax cross-entropy; returns ``(params, x_test, y_test)``."""
    x, y, x_test, y_test = digits_split()
    rng = np.random.default_rng(SEED)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(0, np.sqrt(2.0 / fan_in), (fan_out, fan_in)), np.zeros(fan_out)]
    optimisers = [Adam(p.shape, lr) for p in params]
    onehot = np.eye(10)[y]
    for _ in range(epochs):
        acts = [x]
        for k in range(0, len(params), 2):
            pre = acts[-1] @ params[k].T + params[k + 1]
            acts.append(np.maximum(pre, 0) if k + 2 < len(params) else pre)
        logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
        prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        grad = (prob - onehot) / len(y)
        grads = []
        for k in range(len(params) - 2, -1, -2):
            grads = [grad.T @ acts[k // 2] + 1e-4 * params[k], grad.sum(axis=0)] + grads
            grad = (grad @ params[k]) * (acts[k // 2] > 0)
        for p, g, opt in zip(params, grads, optimisers):
            p -= opt.step(g)
    return params, x_test, y_test


def main() -> None:
    params, x_test, y_test = train()
    h = x_test
    for k in range(0, len(params), 2):
        h = h @ params[k].T + params[k + 1]
        h = np.maximum(h, 0) if k + 2 < len(params) else h
    print(f"test accuracy {np.mean(h.argmax(axis=1) == y_test):.4f}")
    out = Path(__file__).with_name("digits_relu.npz")
    np.savez(out, **{f"{n}{k // 2}": p for k, p in enumerate(params) for n in ["Wb"[k % 2]]})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
