"""Network front end: loaders, bounds, encodings and the ordering of certifiers."""

import math
import time
from dataclasses import replace

import numpy as np
import pytest
from conftest import random_net
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qcqp import InputError
from qcqp.app.certify import Options, analyse, attack
from qcqp.frontends.bounds import crown_bounds, interval_bounds, linear_objective_bound
from qcqp.frontends.encode import encode_network
from qcqp.frontends.loaders import load_npz, load_onnx, save_npz
from qcqp.frontends.network import Network
from qcqp.frontends.pgd import pgd_minimize
from qcqp.frontends.specs import linf_ball, margin_spec


def margin_bounds(net, box, label, target):
    c = np.eye(net.output_size)[label] - np.eye(net.output_size)[target]
    enc = encode_network(net, box)
    out = {}
    for backend in ("lp", "sdp", "exact"):
        out[backend] = enc.linear_objective(c).solve(backend=backend)
    out["sdp-fo"] = enc.linear_objective(c).solve(backend="sdp-fo", iterations=200)
    pgd, _ = pgd_minimize(net, box, c[None, :], steps=60, restarts=6)
    return out, float(pgd[0])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), width=st.integers(2, 6), eps=st.floats(0.05, 0.5))
def test_lp_le_sdp_le_exact_le_pgd(seed, width, eps):
    net = random_net([3, width, width, 3], seed)
    rng = np.random.default_rng(seed)
    box = linf_ball(rng.random(3), eps)
    res, pgd = margin_bounds(net, box, 0, 1)
    lp, sdp, exact = res["lp"].bound, res["sdp"].bound, res["exact"].bound
    tol = 1e-5 * (1 + abs(exact))
    assert lp <= sdp + tol
    assert res["sdp-fo"].bound <= res["sdp"].solver_value + tol
    assert sdp <= exact + tol
    assert exact <= pgd + tol
    samples = rng.uniform(box.lower, box.upper, (500, 3))
    c = np.array([1.0, -1.0, 0.0])
    assert np.min(net.forward(samples) @ c) >= exact - tol


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), eps=st.floats(0.0, 1.0))
def test_bound_propagation_encloses_samples(seed, eps):
    net = random_net([4, 8, 6, 3], seed, scale=2.0)
    rng = np.random.default_rng(seed)
    box = linf_ball(rng.random(4), eps)
    x = rng.uniform(box.lower, box.upper, (300, 4))
    pres = net.pre_activations(x)
    for bounds in (interval_bounds, crown_bounds):
        for (lo, hi), pre in zip(bounds(net, box.lower, box.upper), pres):
            assert np.all(pre >= lo) and np.all(pre <= hi)
    crown, ibp = crown_bounds(net, box.lower, box.upper), interval_bounds(net, box.lower, box.upper)
    assert all(np.all(c[1] - c[0] <= i[1] - i[0] + 1e-12) for c, i in zip(crown, ibp))
    c = rng.normal(size=3)
    assert np.min(net.forward(x) @ c) >= linear_objective_bound(net, c, crown, box.lower, box.upper)


def test_no_instance_certified_that_pgd_or_milp_falsifies():
    for seed in range(6):
        net = random_net([4, 6, 5, 3], seed, scale=2.0)
        rng = np.random.default_rng(seed)
        x0 = rng.random(4)
        label = int(net.forward(x0).argmax())
        inst = margin_spec(linf_ball(x0, 0.15), label, 3)
        rows = analyse(net, inst, ["pgd", "lp", "sdp", "exact"], Options(pgd_steps=40, pgd_restarts=4))
        statuses = {m: r["status"] for m, r in rows.items()}
        if "falsified" in statuses.values() or rows["exact"]["margin_bound"] <= 0:
            assert "certified" not in statuses.values()
        rank = {"unknown": 0, "certified": 1, "falsified": 1}
        assert rank[statuses["lp"]] <= rank[statuses["sdp"]] or statuses["sdp"] == "falsified"
        for r in rows.values():
            if r["status"] == "falsified":
                x = np.array(r["counterexample"])
                assert inst.box.contains(x)
                logits = net.forward(x)
                assert logits[label] <= np.max(np.delete(logits, label))


def test_attack_finds_misclassified_center():
    net = random_net([3, 4, 3], 0)
    x0 = np.full(3, 0.5)
    wrong = (int(net.forward(x0).argmax()) + 1) % 3
    value, cex = attack(net, margin_spec(linf_ball(x0, 0.0), wrong, 3), Options())
    assert cex is not None and value <= 0


def test_npz_round_trip(tmp_path):
    net = random_net([5, 4, 3], 3)
    save_npz(net, tmp_path / "net.npz")
    again = load_npz(tmp_path / "net.npz")
    x = np.random.default_rng(0).random((4, 5))
    assert np.allclose(net.forward(x), again.forward(x))


def _tiny_onnx(path, op="Relu"):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    W1, b1, W2 = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(4, 2))
    inits = [numpy_helper.from_array(a.astype(np.float32), name) for a, name in
             [(W1, "W1"), (b1, "b1"), (W2, "W2"), (np.full(3, 0.5), "m"), (np.array([2.0]), "s")]]
    nodes = [helper.make_node("Sub", ["x", "m"], ["x0"]),
             helper.make_node("Flatten", ["x0"], ["x1"]),
             helper.make_node("Gemm", ["x1", "W1", "b1"], ["h"], transB=1),
             helper.make_node(op, ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "W2"], ["y0"]),
             helper.make_node("Div", ["y0", "s"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_onnx_matches_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    _tiny_onnx(tmp_path / "tiny.onnx")
    net = load_onnx(tmp_path / "tiny.onnx")
    sess = ort.InferenceSession(str(tmp_path / "tiny.onnx"))
    x = np.random.default_rng(1).random((5, 3)).astype(np.float32)
    ref = np.concatenate([sess.run(None, {"x": xi[None]})[0] for xi in x])
    assert np.abs(net.forward(x.astype(float)) - ref).max() < 1e-5


def test_onnx_unsupported_op_names_op_and_node(tmp_path):
    _tiny_onnx(tmp_path / "bad.onnx", op="Softplus")
    with pytest.raises(InputError, match="unsupported ONNX op 'Softplus'"):
        load_onnx(tmp_path / "bad.onnx")


def test_vnncomp_onnx_matches_onnxruntime(vnncomp):
    ort = pytest.importorskip("onnxruntime")
    path = vnncomp[0]
    net = load_onnx(path)
    sess = ort.InferenceSession(str(path))
    d = net.input_size
    x = np.random.default_rng(2).random((4, d)).astype(np.float32)
    ref = np.concatenate([sess.run(None, {"0": xi.reshape(1, d, 1)})[0] for xi in x])
    assert np.abs(net.forward(x.astype(float)) - ref).max() < 1e-5


@pytest.mark.parametrize("weights, message", [
    (([[np.nan, 1.0]], [0.0]), "NaN"),
    (([[1.0, 1.0]], [0.0, 1.0]), "bias shape"),
])
def test_bad_network_weights(weights, message):
    W, b = weights
    with pytest.raises(InputError, match=message):
        Network((np.array(W),), (np.array(b),), ())


def test_bad_eps_and_labels():
    with pytest.raises(InputError, match="eps"):
        linf_ball(np.zeros(3), -0.1)
    with pytest.raises(InputError, match="out of range"):
        margin_spec(linf_ball(np.zeros(3), 0.1), 7, 3)


def test_lp_bounds_are_sound_and_tighter_than_crown():
    from qcqp.frontends.encode import lp_bounds

    net = random_net([4, 8, 6, 3], 9, scale=2.0)
    rng = np.random.default_rng(9)
    box = linf_ball(rng.random(4), 0.3)
    tight, crown = lp_bounds(net, box.lower, box.upper), crown_bounds(net, box.lower, box.upper)
    pres = net.pre_activations(rng.uniform(box.lower, box.upper, (2000, 4)))
    for (lo, hi), (clo, chi), pre in zip(tight, crown, pres):
        assert np.all(pre >= lo) and np.all(pre <= hi)
        assert np.all(lo >= clo) and np.all(hi <= chi)


def test_sdp_bounds_of_the_first_layers_are_sound_and_tighter_than_their_start():
    from qcqp.frontends.encode import relaxation_bounds

    net = random_net([4, 8, 6, 5, 3], 9, scale=2.0)  # 6 of layer 1's 6 neurons unstable under CROWN
    rng = np.random.default_rng(9)
    box = linf_ball(rng.random(4), 0.3)
    crown = crown_bounds(net, box.lower, box.upper)
    tight = relaxation_bounds(net, box.lower, box.upper, "sdp", layers=1, start=crown)
    pres = net.pre_activations(rng.uniform(box.lower, box.upper, (2000, 4)))
    for (lo, hi), (clo, chi), pre in zip(tight, crown, pres):
        assert np.all(pre >= lo) and np.all(pre <= hi)
        assert np.all(lo >= clo) and np.all(hi <= chi)
    assert np.sum(tight[1][1] - tight[1][0]) < np.sum(crown[1][1] - crown[1][0])
    for k in (0, 2, 3):  # the input layer, and the layers after the first ``layers``, keep their start
        assert np.array_equal(tight[k][0], crown[k][0]) and np.array_equal(tight[k][1], crown[k][1])


def test_torch_sequential_matches_torch():
    torch = pytest.importorskip("torch")
    from qcqp.frontends.loaders import from_torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4),
                                torch.nn.LeakyReLU(0.2), torch.nn.Linear(4, 3)).double()
    net = from_torch(model)
    assert net.activations == ("relu", "leaky_relu:0.2")
    x = np.random.default_rng(0).random((7, 6))
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(net.forward(x) - ref).max() < 1e-12
    with pytest.raises(InputError, match="unsupported layer"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Softplus()))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from([0.05, 0.15, 0.3]), st.sampled_from(["relu", "hardtanh"]))
def test_complete_decides_like_the_milp(seed, eps, activation):
    """The complete method never contradicts the exact MILP and, given time, decides every
    instance the MILP decides (a certificate needs a positive MILP bound, a falsification a
    re-checked counterexample) — by split search on ReLU, by the MILP where it cannot split."""
    net = replace(random_net([5, 8, 6, 3], seed, scale=2.0), activations=(activation,) * 2)
    x0 = np.random.default_rng(seed).random(5)
    inst = margin_spec(linf_ball(x0, eps), int(net.forward(x0).argmax()), 3)
    rows = analyse(net, inst, ["exact", "complete"], Options(pgd_steps=30, pgd_restarts=3, time_limit=math.inf))
    exact, complete = rows["exact"], rows["complete"]
    assert complete["status"] != "unknown"
    proven = exact["margin_bound"] > 0
    assert complete["status"] == ("certified" if proven else "falsified"), (exact, complete)
    if complete["status"] == "falsified":
        x = np.array(complete["counterexample"])
        assert inst.box.contains(x) and inst.falsified_by(net, x)


def test_complete_runs_out_of_time_honestly():
    """With no time left after the attack, an undecided instance is unknown and says why."""
    net = random_net([6, 12, 12, 3], 4, scale=2.0)
    x0 = np.random.default_rng(4).random(6)
    label = int(net.forward(x0).argmax())
    for eps in (0.05, 0.1, 0.2, 0.3):
        inst = margin_spec(linf_ball(x0, eps), label, 3)
        full = analyse(net, inst, ["complete"], Options(pgd_steps=30, pgd_restarts=3))["complete"]
        if "CROWN" in full["reason"] or "PGD" in full["reason"]:
            continue  # decided before any time-limited step
        rushed = analyse(net, inst, ["complete"], Options(pgd_steps=30, pgd_restarts=3, time_limit=1e-9))
        assert rushed["complete"]["status"] == "unknown"
        assert "time limit" in rushed["complete"]["reason"]
        return
    pytest.fail("no instance needed the MILP")


def test_lp_bounds_stop_at_the_deadline_with_crown_bounds():
    from qcqp.frontends.encode import lp_bounds

    net = random_net([4, 8, 6, 3], 9, scale=2.0)
    box = linf_ball(np.random.default_rng(9).random(4), 0.3)
    late, crown = lp_bounds(net, box.lower, box.upper, deadline=0.0), crown_bounds(net, box.lower, box.upper)
    for (lo, hi), (clo, chi) in zip(late, crown):
        assert np.array_equal(lo, clo) and np.array_equal(hi, chi)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["min", "max"]), st.floats(-2, 2))
def test_exact_decide_agrees_with_the_optimum(seed, sense, threshold):
    """``decide=t`` proves the optimum on the far side of ``t`` (a valid bound) or returns a
    point beating ``t`` — never the wrong side of the exact optimum."""
    net = random_net([4, 7, 5, 3], seed, scale=2.0)
    box = linf_ball(np.random.default_rng(seed).random(4), 0.2)
    enc = encode_network(net, box)
    c = np.random.default_rng(seed + 1).normal(size=3)
    optimum = enc.solve("exact", c, sense=sense).value
    decided = enc.solve("exact", c, sense=sense, decide=threshold)
    better = (lambda v: v < threshold) if sense == "min" else (lambda v: v > threshold)
    if decided.value is not None and better(decided.value):
        assert better(optimum) or abs(optimum - threshold) < 1e-6
    assert (decided.bound <= optimum + 1e-6) if sense == "min" else (decided.bound >= optimum - 1e-6)
    if abs(optimum - threshold) > 1e-3:  # a clear answer either way
        assert better(optimum) == (decided.value is not None and better(decided.value))


@pytest.mark.parametrize("backend", ["lp", "sdp"])
def test_relaxation_bounds_match_one_solve_per_objective(backend):
    """``Relaxation.bounds`` (lp: one warm-started HiGHS model) gives each objective's own bound;
    past the deadline it gives the trivial one."""
    net = random_net([4, 6, 5, 3], 3, scale=2.0)
    enc = encode_network(net, linf_ball(np.random.default_rng(3).random(4), 0.2))
    rows = [enc.objective(c, d) for c, d in zip(np.random.default_rng(4).normal(size=(5, 3)), [0, 1, -1, 2, 0.5])]
    relaxation = enc.relaxation(backend)
    for sense in ("min", "max"):
        batch = relaxation.bounds(rows, sense)
        single = [relaxation.with_objective(row, sense).solve().bound for row in rows]
        np.testing.assert_allclose(batch, single, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(relaxation.bounds(rows, sense, deadline=time.perf_counter() + 600), batch)
        assert np.all(np.isinf(relaxation.bounds(rows, sense, deadline=0.0)))


def test_a_long_lived_warm_lp_still_solves_before_its_deadline():
    """HiGHS measures its time limit on the model's accumulated run time, not from each solve:
    a warm model that has run for a second, given a deadline 0.9 s away, still solves (a
    limit of 0.9 s on HiGHS's clock would stop it at once)."""
    from qcqp.backends.highs import WarmLP

    net = random_net([10, 30, 30, 3], 3, scale=2.0)
    enc = encode_network(net, linf_ball(np.random.default_rng(3).random(10), 0.3))
    model = enc.relaxation("lp").with_objective(enc.objective(np.array([1.0, -1.0, 0.0])), "max").model
    expected, warm, rng = WarmLP(model).upper_bound(model.c, model.c0), WarmLP(model), np.random.default_rng(0)
    while warm.solver.getRunTime() < 1.0:
        warm.upper_bound(rng.normal(size=model.c.size))
    assert np.isfinite(expected)
    assert warm.upper_bound(model.c, model.c0, time.perf_counter() + 0.9) == pytest.approx(expected, rel=1e-9)


def test_a_certificate_names_the_method_that_proved_it():
    net = random_net([5, 8, 6, 3], 2, scale=2.0)  # CROWN leaves this margin open, the LP closes it
    x0 = np.random.default_rng(2).random(5)
    inst = margin_spec(linf_ball(x0, 0.1), int(net.forward(x0).argmax()), 3)
    rows = analyse(net, inst, ["lp", "exact"], Options(pgd_steps=30, pgd_restarts=3))
    assert rows["lp"]["status"] == rows["exact"]["status"] == "certified"
    assert (rows["lp"]["reason"], rows["exact"]["reason"]) == ("lp bound", "exact bound")
