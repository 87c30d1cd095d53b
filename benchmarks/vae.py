"""Reconstruction-error bounds for the shipped digits autoencoder (latent ℓ∞ ball).

For the first test points: ``max ‖dec(z) − dec(z₀)‖²`` over ``‖z − z₀‖∞ <= ε`` bounded by
``lp``, ``sdp`` and ``sdp-fo`` (upper bounds) against the attack (a lower bound).
Usage: ``python benchmarks/vae.py [--limit 5] [--eps 0.1]``
"""

from __future__ import annotations

import argparse
import time

from qcqp.frontends.models.train_digits import digits_split
from qcqp.frontends.vae import latent_ball, load_autoencoder, reconstruction_attack, reconstruction_problem


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--eps", type=float, default=0.1)
    args = parser.parse_args()
    ae = load_autoencoder()
    _, _, x_test, _ = digits_split()
    print("| point | attack (lower) | lp | sdp | sdp-fo | lp s | sdp s | sdp-fo s |")
    print("|---|---|---|---|---|---|---|---|")
    for i, x in enumerate(x_test[: args.limit]):
        box = latent_ball(ae.encoder.forward(x), args.eps)
        attack, _ = reconstruction_attack(ae.decoder, box)
        problem = reconstruction_problem(ae.decoder, box).problem
        cells, times = [], []
        for backend in ("lp", "sdp", "sdp-fo"):
            start = time.perf_counter()
            cells.append(f"{problem.solve(backend=backend).bound:.4f}")
            times.append(f"{time.perf_counter() - start:.2f}")
        print(f"| {i} | {attack:.4f} | " + " | ".join(cells + times) + " |", flush=True)


if __name__ == "__main__":
    main()
