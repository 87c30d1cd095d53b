"""VAE/autoencoder reconstruction error: a quadratic objective over a latent ℓ∞ ball.

``max ‖dec(z) − dec(z₀)‖²`` over ``‖z − z₀‖∞ <= ε`` (as in the paper, DDK+20): how far can
a small latent perturbation move the reconstruction? ``sdp``, ``sdp-fo`` and ``lp``
bound it from above; :func:`reconstruction_attack` finds points from below.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from qcqp import InputError
from qcqp.frontends.encode import NetworkEncoding, encode_network
from qcqp.frontends.network import Network
from qcqp.frontends.pgd import steepest_descent_search
from qcqp.frontends.specs import Box, linf_ball


@dataclass(frozen=True)
class Autoencoder:
    encoder: Network
    decoder: Network

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.decoder.forward(self.encoder.forward(x))


def load_autoencoder(path: str | Path | None = None) -> Autoencoder:
    """``enc_W0, enc_b0, …, dec_W0, …`` (ReLU between layers, linear latent and output).

    Without a path: the shipped digits autoencoder (64-16-4 / 4-16-64).
    """
    path = Path(path) if path else Path(str(files("qcqp.frontends.models").joinpath("digits_autoencoder.npz")))
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as error:
        raise InputError(f"{path}: not a readable autoencoder .npz ({error})") from None

    def part(prefix: str) -> Network:
        count = sum(1 for k in data.files if k.startswith(f"{prefix}_W"))
        if count == 0:
            raise InputError(f"{path}: no {prefix}_W0 array")
        return Network(tuple(data[f"{prefix}_W{k}"] for k in range(count)),
                       tuple(data[f"{prefix}_b{k}"] for k in range(count)), ("relu",) * (count - 1),
                       source=f"{path} ({prefix})")

    return Autoencoder(part("enc"), part("dec"))


def latent_ball(z0: np.ndarray, eps: float) -> Box:
    return linf_ball(z0, eps, domain=(-np.inf, np.inf))


def reconstruction_problem(decoder: Network, box: Box) -> NetworkEncoding:
    """Encode ``decoder`` on the latent box and maximise ``‖dec(z) − dec(center)‖²``."""
    enc = encode_network(decoder, box)
    diff = enc.logits - decoder.forward(box.center)
    enc.problem.maximize(diff @ diff)
    return enc


def reconstruction_attack(decoder: Network, box: Box, steps: int = 200, restarts: int = 10,
                          seed: int = 0) -> tuple[float, np.ndarray]:
    """Signed-gradient ascent of ``‖dec(z) − dec(z₀)‖²``; returns the best value and point."""
    y0 = decoder.forward(box.center)

    def value(points):
        return np.sum((decoder.forward(points) - y0) ** 2, axis=1)

    def evaluate(points):
        pres = decoder.pre_activations(points)
        gap = pres[-1] - y0
        return -np.sum(gap ** 2, axis=1), -decoder.gradient(points, 2.0 * gap, pres)

    best, best_z = steepest_descent_search(evaluate, box, 1, steps, restarts, seed)
    k = int(np.argmin(best))
    return float(value(best_z[k:k + 1])[0]), best_z[k]
