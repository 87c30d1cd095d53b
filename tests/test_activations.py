"""Every activation, every backend: bounds never cross sampled or attacked margins."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qcqp
from qcqp.app.certify import Options, analyse
from qcqp.app.cli import main
from qcqp.frontends.activations import ACTIVATIONS
from qcqp.frontends.bounds import crown_bounds, interval_bounds
from qcqp.frontends.encode import encode_network
from qcqp.frontends.loaders import save_npz
from qcqp.frontends.network import Network
from qcqp.frontends.pgd import pgd_minimize
from qcqp.frontends.specs import linf_ball, margin_spec

ACTIVATION_NAMES = ["relu", "leaky_relu:0.1", "hardtanh", "sigmoid", "tanh"]
PIECEWISE = {"relu", "leaky_relu:0.1", "hardtanh"}


def net_with(activation, seed, sizes=(3, 5, 4, 3)):
    rng = np.random.default_rng(seed)
    Ws = tuple(rng.normal(0, 2.0 / np.sqrt(a), (b, a)) for a, b in zip(sizes[:-1], sizes[1:]))
    bs = tuple(rng.normal(0, 0.5, b) for b in sizes[1:])
    return Network(Ws, bs, (activation,) * (len(sizes) - 2))


def best_found_margin(net, box, c):
    rng = np.random.default_rng(0)
    samples = rng.uniform(box.lower, box.upper, (3000, box.lower.size))
    pgd, _ = pgd_minimize(net, box, c[None, :], steps=60, restarts=5)
    return min(float(np.min(net.forward(samples) @ c)), float(pgd[0]))


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), eps=st.floats(0.05, 0.4))
def test_every_backend_bound_is_below_found_margins(activation, seed, eps):
    net = net_with(activation, seed)
    box = linf_ball(np.random.default_rng(seed).random(3), eps)
    c = np.array([1.0, -1.0, 0.0])
    found = best_found_margin(net, box, c)
    enc = encode_network(net, box)
    bounds = {b: enc.linear_objective(c).solve(backend=b, **({"iterations": 150} if b == "sdp-fo" else {})).bound
              for b in ("lp", "sdp", "sdp-fo")}
    if activation in PIECEWISE:
        bounds["exact"] = enc.linear_objective(c).solve(backend="exact").bound
        tol = 2e-5 * (1 + abs(bounds["exact"]))  # the MILP's bound is loosened by 1e-6 relative
        assert bounds["lp"] <= bounds["exact"] + tol and bounds["sdp"] <= bounds["exact"] + tol
    for backend, bound in bounds.items():
        assert bound <= found + 1e-7, (backend, bound, found)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_bound_propagation_and_linear_bounds_are_sound(activation):
    net = net_with(activation, 11)
    act = net.activation(0)
    rng = np.random.default_rng(0)
    lo = rng.normal(0, 2, 50)
    hi = lo + rng.uniform(0, 3, 50)
    a_l, b_l, a_u, b_u = act.linear_bounds(lo, hi)
    x = lo + (hi - lo) * rng.random((200, 50))
    y = act.forward(x)
    assert np.all(a_l * x + b_l <= y) and np.all(y <= a_u * x + b_u)
    box = linf_ball(rng.random(3), 0.3)
    pres = net.pre_activations(rng.uniform(box.lower, box.upper, (500, 3)))
    for bounds in (interval_bounds, crown_bounds):
        for (l, u), pre in zip(bounds(net, box.lower, box.upper), pres):
            assert np.all(pre >= l) and np.all(pre <= u)


def test_exact_refuses_smooth_activations():
    net = net_with("sigmoid", 0)
    enc = encode_network(net, linf_ball(np.full(3, 0.5), 0.1))
    with pytest.raises(qcqp.InputError, match="sector bound on sigmoid"):
        enc.linear_objective(np.array([1.0, -1.0, 0.0])).solve(backend="exact")


def test_leaky_relu_relaxations_against_milp():
    for seed in range(5):
        net = net_with("leaky_relu:0.2", seed, sizes=(4, 6, 6, 3))
        box = linf_ball(np.random.default_rng(seed).random(4), 0.2)
        enc = encode_network(net, box)
        c = np.array([0.0, 1.0, -1.0])
        exact = enc.linear_objective(c).solve(backend="exact")
        assert exact.stats["method"] == "milp"
        assert exact.value is not None and exact.bound <= exact.value + 1e-6
        x = exact.point["x"]
        assert net.forward(x) @ c == pytest.approx(exact.value, abs=1e-5)
        assert enc.linear_objective(c).solve(backend="sdp").bound <= exact.bound + 1e-5


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_cli_certifies_other_activations(tmp_path, activation):
    net = net_with(activation, 2, sizes=(4, 6, 3))
    save_npz(net, tmp_path / "net.npz")
    x = np.random.default_rng(0).random((2, 4))
    np.save(tmp_path / "X.npy", x)
    np.save(tmp_path / "y.npy", net.forward(x).argmax(axis=1))
    for method in ("lp", "sdp", "sdp-fo"):
        out = tmp_path / f"{method}.json"
        assert main(["certify", str(tmp_path / "net.npz"), "--inputs", str(tmp_path / "X.npy"), "--labels",
                     str(tmp_path / "y.npy"), "--eps", "0.05", "--method", method, "--out", str(out), "--quiet"]) == 0
        assert len(json.loads(out.read_text())["instances"]) == 2


@pytest.fixture
def plugin_distribution(tmp_path):
    """Install tests/plugins/clipped_relu_plugin.py as a distribution with entry points."""
    shutil.copy(Path(__file__).parent / "plugins" / "clipped_relu_plugin.py", tmp_path)
    info = tmp_path / "clipped_relu_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: clipped-relu-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[qcqp.activations]\nclipped_relu = clipped_relu_plugin:ClippedReLU\n\n"
        "[qcqp.backends]\ninterval = clipped_relu_plugin:interval_backend\n")
    sys.path.insert(0, str(tmp_path))
    yield
    sys.path.remove(str(tmp_path))
    ACTIVATIONS.unregister("clipped_relu")
    qcqp.BACKENDS.unregister("interval")


def test_out_of_tree_activation_and_backend(plugin_distribution):
    assert "clipped_relu" in ACTIVATIONS.names() and "interval" in qcqp.BACKENDS.names()
    net = net_with("clipped_relu", 4, sizes=(3, 6, 3))
    x0 = np.full(3, 0.5)
    label = int(net.forward(x0).argmax())
    inst = margin_spec(linf_ball(x0, 0.05), label, 3)
    rows = analyse(net, inst, ["lp", "sdp", "sdp-fo", "exact"], Options(pgd_steps=30, pgd_restarts=3))
    assert {r["status"] for r in rows.values()} <= {"certified", "unknown", "falsified"}
    c = np.eye(3)[label] - np.eye(3)[(label + 1) % 3]
    enc = encode_network(net, inst.box)
    exact = enc.linear_objective(c).solve(backend="exact")
    toy = enc.linear_objective(c).solve(backend="interval")
    assert toy.bound <= exact.bound + 1e-9
    assert exact.bound <= best_found_margin(net, inst.box, c) + 1e-7


def test_entry_point_backend_works_in_certify_and_backends_listing(plugin_distribution, tmp_path, capsys):
    from qcqp.app.cli import main
    from qcqp.frontends.loaders import save_npz

    net = net_with("relu", 4, sizes=(3, 6, 3))
    save_npz(net, tmp_path / "net.npz")
    x = np.full((2, 3), 0.5)
    np.save(tmp_path / "X.npy", x)
    np.save(tmp_path / "y.npy", net.forward(x).argmax(axis=1))
    out = tmp_path / "r.json"
    assert main(["certify", str(tmp_path / "net.npz"), "--inputs", str(tmp_path / "X.npy"), "--labels",
                 str(tmp_path / "y.npy"), "--eps", "0.01", "--method", "interval", "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["method"] == "interval"
    assert main(["backends"]) == 0
    assert "interval" in capsys.readouterr().out
