"""ℓ2 and ellipsoidal input sets: one quadratic row in the IR, sound bounds from every backend,
attacks that stay inside the set, and the ``--norm`` option of the CLI."""

import json
import math

import numpy as np
import pytest
from conftest import random_net
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qcqp import InputError
from qcqp.app.cli import main
from qcqp.frontends.encode import encode_network
from qcqp.frontends.loaders import save_npz
from qcqp.frontends.pgd import pgd_minimize
from qcqp.frontends.specs import Box, ellipsoid, l2_ball


def _random_ellipsoid(rng, n, round_ball):
    x0 = rng.uniform(0.2, 0.8, n)
    if round_ball:
        return l2_ball(x0, rng.uniform(0.05, 0.4))
    R = rng.normal(size=(n, n))
    return ellipsoid(x0, R @ R.T / rng.uniform(0.02, 0.2) + np.eye(n))


def _samples(box, rng, count=4000):
    """Points of the set: radial shrinks of random directions, including near the boundary."""
    d = rng.normal(size=(count, box.center.size))
    d /= np.sqrt(box.quadratic(box.center + d))[:, None]
    return box.pull_inside(box.center + d * rng.uniform(0, 1.2, (count, 1)))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), round_ball=st.booleans())
def test_bounds_hold_on_the_ellipsoid_and_sdp_is_at_least_lp(seed, round_ball):
    rng = np.random.default_rng(seed)
    net = random_net([3, 5, 4, 2], seed)
    box = _random_ellipsoid(rng, 3, round_ball)
    enc = encode_network(net, box)
    c = np.array([1.0, -1.0])
    points = _samples(box, rng)
    assert all(box.contains(x) for x in points[:50])
    true_min = float(np.min(net.forward(points) @ c))
    bounds = {b: enc.solve(b, c, **({"iterations": 200} if b == "sdp-fo" else {})).bound
              for b in ("lp", "sdp", "sdp-fo")}
    for backend, bound in bounds.items():
        assert bound <= true_min + 1e-9, (backend, bound, true_min)
    assert bounds["sdp"] >= bounds["lp"] - 1e-6


def test_the_ball_is_a_quadratic_row_and_lp_only_sees_its_bounding_box():
    net = random_net([4, 6, 3], 1)
    ball = l2_ball(np.full(4, 0.5), 0.1)
    enc = encode_network(net, ball)
    ir = enc.problem.compile()
    assert [con.name for con in ir.constraints].count("input ellipsoid") == 1
    np.testing.assert_allclose(ir.upper[:4], 0.6)
    np.testing.assert_allclose(ir.lower[:4], 0.4)
    c = np.array([1.0, -1.0, 0.0])
    box_only = encode_network(net, Box(ball.lower, ball.upper, ball.center))
    assert enc.solve("sdp", c).bound > box_only.solve("sdp", c).bound + 1e-6  # the row is used
    assert enc.solve("lp", c).stats["quadratic_rows_by_mccormick"] == ["input ellipsoid"]
    assert "quadratic_rows_by_mccormick" not in box_only.solve("lp", c).stats


def test_exact_agrees_with_sampling_on_a_tiny_ball():
    rng = np.random.default_rng(3)
    net = random_net([2, 3, 2], 4)
    ball = l2_ball(np.array([0.5, 0.5]), 0.2)
    enc = encode_network(net, ball)
    c = np.array([1.0, -1.0])
    exact = enc.solve("exact", c, time_limit=math.inf)
    sampled = float(np.min(net.forward(_samples(ball, rng, 20000)) @ c))
    assert exact.bound <= sampled + 1e-9
    assert exact.bound >= enc.solve("sdp", c).bound - 1e-7
    assert sampled - exact.bound < 1e-2  # the spatial search closes the gap on two inputs


def test_pgd_stays_inside_the_ellipsoid():
    rng = np.random.default_rng(0)
    net = random_net([5, 8, 3], 2)
    box = _random_ellipsoid(rng, 5, False)
    values, points = pgd_minimize(net, box, np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]]))
    assert all(box.contains(x) for x in points)
    np.testing.assert_allclose(values, np.einsum("bk,bk->b", net.forward(points),
                                                 np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])))


@pytest.mark.parametrize("make, message", [
    (lambda: l2_ball(np.zeros(3), 0.0), "eps must be a finite number > 0"),
    (lambda: ellipsoid(np.zeros(2), -np.eye(2)), "positive definite"),
    (lambda: ellipsoid(np.zeros(2), np.eye(3)), "2 x 2"),
    (lambda: ellipsoid(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]])), "symmetric"),
])
def test_bad_ellipsoids_raise(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_cli_norm_2(tmp_path, capsys):
    net = random_net([4, 6, 3], 5)
    save_npz(net, tmp_path / "net.npz")
    x = np.random.default_rng(0).random((3, 4))
    np.save(tmp_path / "X.npy", x)
    np.save(tmp_path / "y.npy", net.forward(x).argmax(axis=1))
    out = tmp_path / "r.json"
    args = ["certify", str(tmp_path / "net.npz"), "--inputs", str(tmp_path / "X.npy"), "--labels",
            str(tmp_path / "y.npy"), "--eps", "0.1", "--norm", "2", "--method", "lp,sdp", "--out", str(out),
            "--quiet", "--no-plots"]
    assert main(args) == 0
    lp, sdp = (json.loads((tmp_path / f"r.{m}.json").read_text()) for m in ("lp", "sdp"))
    assert lp["norm"] == "2" and lp["instances"][0]["input_set"].endswith("(bounds from its bounding box)")
    assert sdp["instances"][0]["input_set"] == "l2 ball, eps 0.1"
    for a, b in zip(lp["instances"], sdp["instances"]):
        assert b["margin_bound"] >= a["margin_bound"] - 1e-6
    spec = tmp_path / "p.vnnlib"
    spec.write_text("(declare-const X_0 Real)\n(assert (<= X_0 0.5))\n")
    assert main(["certify", str(tmp_path / "net.npz"), "--spec", str(spec), "--norm", "2", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--norm applies to --inputs and --dataset" in err[0]
