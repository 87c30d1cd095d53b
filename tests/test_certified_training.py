"""Certified training (RSL18a): the MAXGRAD dual bound, its gradient, the trainer and ``qcqp train``."""

from __future__ import annotations

import itertools

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qcqp.app.cli import main
from qcqp.app.dataset import shipped_models
from qcqp.app.train import TrainConfig, Trainer, dual_certified_fraction, train
from qcqp.frontends.loaders import load_network
from qcqp.frontends.maxgrad import DualBounds, class_pairs, gradient_norm_problem, pair_matrices
from qcqp.frontends.models.train_digits import digits_split
from qcqp.frontends.network import Network
from qcqp.frontends.specs import linf_ball


def random_net(seed: int, inputs: int = 4, hidden: int = 5, classes: int = 3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(hidden, inputs)), rng.normal(size=(classes, hidden)), rng


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_dual_bound_is_above_every_gradient_norm(seed):
    """For any multipliers, ``matrix[a, b] >= max_s ‖W0ᵀ (v ⊙ s)‖₁ >= ‖∇(f_a − f_b)‖₁`` (brute force)."""
    W0, W1, rng = random_net(seed)
    C = rng.normal(scale=rng.uniform(0.1, 5), size=(3, 1 + 4 + 5))
    bounds = DualBounds.compute(W0, W1, C).matrix
    for a, b in class_pairs(3):
        v = W1[a] - W1[b]
        exact = max(np.abs(W0.T @ (v * np.array(s))).sum() for s in itertools.product([0, 1], repeat=5))
        assert bounds[a, b] == bounds[b, a] >= exact * (1 - 1e-12)


def test_dual_bound_at_the_optimal_multipliers_is_the_sdp_value():
    """At the SDP dual's optimum ``c*`` the closed form equals ``max ⟨M, P⟩, P ⪰ 0, diag P <= 1``."""
    W0, W1, _ = random_net(3)
    M = pair_matrices(W0, W1)
    optimal = []
    for p in range(len(M)):
        P = cp.Variable(M[p].shape, symmetric=True)
        constraints = [P >> 0, cp.diag(P) <= 1]
        primal = cp.Problem(cp.Maximize(cp.trace(M[p] @ P)), constraints)
        primal.solve(solver=cp.CLARABEL)
        optimal.append((primal.value, constraints[1].dual_value))
    C = np.array([c for _, c in optimal]) + 1e-7  # a hair above c* keeps λ_max(M − diag c) <= 0
    values = DualBounds.compute(W0, W1, C).values
    np.testing.assert_allclose(values, [v for v, _ in optimal], rtol=1e-5)


def test_dual_bound_is_above_the_maxgrad_sdp():
    """The training bound (no neuron stable, any multipliers) is never below MAXGRAD's own SDP."""
    W0, W1, rng = random_net(7)
    net = Network((W0, W1), (rng.normal(size=5), np.zeros(3)), ("relu",))
    bounds = DualBounds.compute(W0, W1, np.zeros((3, 10))).matrix
    box = linf_ball(rng.uniform(0.3, 0.7, 4), 0.2)
    for a, b in class_pairs(3):
        c = np.eye(3)[a] - np.eye(3)[b]
        assert gradient_norm_problem(net, c, box).solve(backend="sdp").bound <= bounds[a, b] + 1e-9


def test_gradient_matches_finite_differences():
    W0, W1, rng = random_net(11)
    C = rng.normal(size=(3, 10))
    weights = rng.normal(size=(3, 3))

    def objective(W0, W1, C):
        return float(np.sum(weights * DualBounds.compute(W0, W1, C).matrix))

    analytic = DualBounds.compute(W0, W1, C).backward(weights)
    for k, (name, X) in enumerate([("W0", W0), ("W1", W1), ("C", C)]):
        numeric = np.zeros_like(X)
        for idx in np.ndindex(X.shape):
            args = {"W0": W0, "W1": W1, "C": C}
            up, down = X.copy(), X.copy()
            up[idx] += 1e-6
            down[idx] -= 1e-6
            numeric[idx] = (objective(**(args | {name: up})) - objective(**(args | {name: down}))) / 2e-6
        np.testing.assert_allclose(analytic[k], numeric, atol=1e-6 * (1 + np.abs(numeric).max()), err_msg=name)


SMALL = TrainConfig(hidden=8, steps=40, eps=0.1)


def small_data(points: int = 200):
    x, y, _, _ = digits_split()
    return x[:points], y[:points]


@pytest.mark.parametrize("penalty", ["none", "pgd", "maxgrad"])
def test_training_is_deterministic_and_resumes_exactly(penalty, tmp_path, monkeypatch):
    """An interrupted run resumed from its checkpoint takes only the missing steps and ends
    with the uninterrupted run's weights (a checkpoint ignored would rerun all 30)."""
    x, y = small_data()
    config = TrainConfig(penalty=penalty, hidden=8, steps=30)
    whole = train(x, y, config, classes=10)
    interrupted = Trainer(config, 64, 10)
    for _ in range(17):
        interrupted.train_step(x, y)
    interrupted.save(tmp_path / "state.npz")
    steps = []
    step = Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step", lambda self, *a: steps.append(self.step) or step(self, *a))
    resumed = train(x, y, config, classes=10, checkpoint=tmp_path / "state.npz", resume=True)
    assert steps == list(range(17, 30))
    for a, b in zip(whole.net.params + [whole.multipliers], resumed.net.params + [resumed.multipliers]):
        assert np.array_equal(a, b)


def test_the_maxgrad_penalty_shrinks_the_gradient_bound():
    """Same steps and data: the penalised net's dual bounds are far below the plain net's
    (optimised multipliers for both), and more of the data passes the training bound."""
    x, y = small_data(400)
    plain = train(x, y, TrainConfig(penalty="none", hidden=16, steps=300), classes=10)
    penalised = train(x, y, TrainConfig(penalty="maxgrad", hidden=16, steps=300), classes=10)
    plain.multipliers[...] = penalised.multipliers  # a fair comparison needs multipliers fitted to
    for trainer in (plain, penalised):  # each net: a few hundred steps on the bound alone
        for _ in range(300):
            dual = trainer.dual_bounds()
            _, _, dC = dual.backward(np.ones((10, 10)))
            trainer.multipliers -= trainer.optimisers[-1].step(dC)
    assert penalised.dual_bounds().values.mean() < 0.7 * plain.dual_bounds().values.mean()
    assert dual_certified_fraction(penalised, x, y, 0.05) > dual_certified_fraction(plain, x, y, 0.05)


def test_cli_trains_a_model_that_certify_reads(tmp_path, capsys):
    out = tmp_path / "net.npz"
    assert main(["train", "--penalty", "maxgrad", "--steps", "20", "--hidden", "6", "--out", str(out),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "not a certificate" in text
    assert load_network(out).layer_sizes == [64, 6, 10]
    assert (tmp_path / "net.checkpoint.npz").exists()
    assert main(["certify", str(out), "--dataset", "digits", "--eps", "0.01", "--limit", "2", "--method", "lp",
                 "--no-plots", "--quiet", "--out", str(tmp_path / "r.json")]) == 0


@pytest.mark.parametrize("flags, message", [
    (["--kappa", "1.5"], "--kappa and --ramp"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--eps", "-0.1"], "--eps must be"),
    (["--inputs", "X.npy"], "--labels is required"),
    (["--checkpoint-every", "0"], "--checkpoint-every"),
])
def test_cli_rejects_bad_training_options(flags, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "X.npy", np.zeros((3, 64)))
    assert main(["train", "--out", "m.npz", "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path, capsys):
    out = tmp_path / "m.npz"
    assert main(["train", "--steps", "3", "--hidden", "4", "--out", str(out), "--quiet"]) == 0
    assert main(["train", "--steps", "3", "--hidden", "5", "--out", str(out), "--quiet", "--resume"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_shipped_trained_nets_load_and_classify():
    """The three shipped 64-32-10 nets (training commands in docs/certified-training.md)."""
    _, _, x_test, y_test = digits_split()
    for name in ("digits_2layer.npz", "digits_pgd_trained.npz", "digits_sdp_trained.npz"):
        net = load_network(shipped_models()[name])
        assert net.layer_sizes == [64, 32, 10]
        assert np.mean(net.forward(x_test).argmax(axis=1) == y_test) >= 0.9, name


@pytest.mark.slow
@pytest.mark.parametrize("penalty, name", [("none", "digits_2layer.npz"), ("pgd", "digits_pgd_trained.npz"),
                                           ("maxgrad", "digits_sdp_trained.npz")])
def test_shipped_trained_nets_are_the_commands_output(penalty, name, tmp_path):
    """The documented commands give the shipped weights — to the last bits where training is
    matrix products and elementwise maps; MAXGRAD's penalty differentiates ``eigh``'s top
    eigenvectors, whose last bits depend on the LAPACK build, and 300 steps amplify them (a new
    numpy moved weights by up to 0.05): there the retrained net must classify as the shipped one."""
    assert main(["train", "--penalty", penalty, "--out", str(tmp_path / name), "--quiet"]) == 0
    ours, shipped = load_network(tmp_path / name), load_network(shipped_models()[name])
    if penalty != "maxgrad":
        for a, b in zip(ours.weights + ours.biases, shipped.weights + shipped.biases):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
        return
    _, _, x_test, y_test = digits_split()
    mine, theirs = ours.forward(x_test).argmax(axis=1), shipped.forward(x_test).argmax(axis=1)
    assert np.mean(mine == theirs) >= 0.99
    assert abs(np.mean(mine == y_test) - np.mean(theirs == y_test)) <= 0.01
    for a, b in zip(ours.weights + ours.biases, shipped.weights + shipped.biases):
        np.testing.assert_allclose(a, b, atol=0.2)
