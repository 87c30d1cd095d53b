"""VAE reconstruction error (quadratic objective) and MAXGRAD gradient bounds."""

import numpy as np
import pytest
from conftest import random_net

from qcqp.frontends.encode import encode_network
from qcqp.frontends.maxgrad import gradient_norm_problem, maxgrad_certify
from qcqp.frontends.models.train_digits import digits_split
from qcqp.frontends.specs import linf_ball
from qcqp.frontends.vae import latent_ball, load_autoencoder, reconstruction_attack, reconstruction_problem


@pytest.mark.parametrize("seed", range(4))
def test_reconstruction_bounds_on_random_decoders(seed):
    decoder = random_net([2, 4, 3], seed)
    box = latent_ball(np.random.default_rng(seed).normal(size=2), 0.3)
    attack, _ = reconstruction_attack(decoder, box)
    grid = np.stack(np.meshgrid(*[np.linspace(lo, hi, 60) for lo, hi in zip(box.lower, box.upper)]), -1)
    sampled = np.max(np.sum((decoder.forward(grid.reshape(-1, 2)) - decoder.forward(box.center)) ** 2, axis=1))
    found = max(attack, sampled)
    enc = reconstruction_problem(decoder, box)
    sdp = enc.problem.solve(backend="sdp")
    fo = enc.problem.solve(backend="sdp-fo", iterations=400)
    lp = enc.problem.solve(backend="lp")
    for r in (sdp, fo, lp):
        assert r.bound >= found - 1e-9
    assert fo.bound >= sdp.solver_value - 1e-6


def test_shipped_autoencoder_reconstruction_bound():
    ae = load_autoencoder()
    _, _, x_test, _ = digits_split()
    z0 = ae.encoder.forward(x_test[0])
    box = latent_ball(z0, 0.1)
    attack, z = reconstruction_attack(ae.decoder, box)
    assert box.contains(z)
    sdp = reconstruction_problem(ae.decoder, box).problem.solve(backend="sdp")
    assert attack <= sdp.bound
    assert np.mean((ae.reconstruct(x_test[:50]) - x_test[:50]) ** 2) < 0.06


@pytest.mark.parametrize("seed", range(3))
def test_maxgrad_bounds_true_gradient_norms(seed):
    net = random_net([3, 5, 3], seed)
    rng = np.random.default_rng(seed)
    box = linf_ball(rng.random(3), 0.2)
    c = np.array([1.0, -1.0, 0.0])
    x = rng.uniform(box.lower, box.upper, (400, 3))
    norms = np.abs(net.gradient(x, np.tile(c, (400, 1)))).sum(axis=1)
    p = gradient_norm_problem(net, c, box)
    for backend in ("sdp", "lp", "exact"):
        assert p.solve(backend=backend).bound >= norms.max() - 1e-9
    certified, worst = maxgrad_certify(net, box, 0, 0.2)
    margins = net.forward(x) @ np.array([1.0, -1.0, 0.0])
    if certified:
        assert margins.min() > 0
    exact_margin = encode_network(net, box).linear_objective(c).solve(backend="exact").bound
    assert worst <= exact_margin + 1e-6
