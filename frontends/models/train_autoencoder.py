"""Train the shipped tiny autoencoder on scikit-learn's digits: 64-16-4 encoder, 4-16-64 decoder.

ReLU hidden layers, linear latent and output; full-batch Adam on the mean squared
error, seed 0. Regenerate ``digits_autoencoder.npz`` with
``python frontends/models/train_autoencoder.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qcqp.frontends.models.train_digits import digits_split
from qcqp.optim import Adam

SIZES = (64, 16, 4, 16, 64)
LATENT_LAYER = 2  # the encoder is the first two affine layers


def forward(params, x):
    acts = [x]
    for k in range(0, len(params), 2):
        pre = acts[-1] @ params[k].T + params[k + 1]
        last_of_part = k // 2 in (LATENT_LAYER - 1, len(params) // 2 - 1)
        acts.append(pre if last_of_part else np.maximum(pre, 0))
    return acts


def train(epochs: int = 3000, lr: float = 3e-3):
    x, _, x_test, _ = digits_split()
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        params += [rng.normal(0, np.sqrt(2.0 / fan_in), (fan_out, fan_in)), np.zeros(fan_out)]
    optimisers = [Adam(p.shape, lr) for p in params]
    for _ in range(epochs):
        acts = forward(params, x)
        grad = 2.0 * (acts[-1] - x) / x.size
        grads = []
        for k in range(len(params) - 2, -1, -2):
            grads = [grad.T @ acts[k // 2], grad.sum(axis=0)] + grads
            grad = grad @ params[k]
            if k // 2 - 1 != LATENT_LAYER - 1 and k:
                grad = grad * (acts[k // 2] > 0)
        for p, g, opt in zip(params, grads, optimisers):
            p -= opt.step(g)
    error = np.mean((forward(params, x_test)[-1] - x_test) ** 2)
    return params, error


def main() -> None:
    params, error = train()
    print(f"test reconstruction MSE {error:.4f}")
    out = Path(__file__).with_name("digits_autoencoder.npz")
    half = LATENT_LAYER * 2
    arrays = {f"enc_{'Wb'[k % 2]}{k // 2}": p for k, p in enumerate(params[:half])}
    arrays |= {f"dec_{'Wb'[k % 2]}{k // 2}": p for k, p in enumerate(params[half:])}
    np.savez(out, **arrays)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
