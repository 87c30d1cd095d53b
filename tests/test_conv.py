"""Convolutional networks: Conv / BatchNormalization / pools / Transpose as affine maps, MaxPool as
exact ReLU layers, checked against onnxruntime and PyTorch, and sound under every backend."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qcqp import InputError, Status
from qcqp.app.dataset import shipped_models
from qcqp.frontends.encode import encode_network
from qcqp.frontends.loaders import load_onnx
from qcqp.frontends.specs import linf_ball

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(path, nodes, inits, shape):
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *shape])],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def random_cnn(path, seed, pool="MaxPool", size=None):
    """Conv (random stride / pad / dilation / groups) → BN → ReLU → pool → Conv → ReLU → Flatten → Gemm."""
    rng = np.random.default_rng(seed)
    C, H = 2, int(rng.integers(5, 8)) if size is None else size
    group = int(rng.choice([1, 2]))
    M = 2 * group
    k, s, d, p = int(rng.integers(2, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
    h1 = (H + 2 * p - d * (k - 1) - 1) // s + 1
    if h1 < 3:
        d, s, p = 1, 1, 1
        h1 = (H + 2 * p - (k - 1) - 1) + 1
    h2 = h1 - 1  # a 2x2 pool, stride 1
    inits = {"w1": rng.normal(size=(M, C // group, k, k)), "b1": rng.normal(size=M) * 0.1,
             "scale": rng.uniform(0.5, 1.5, M), "bias": rng.normal(size=M) * 0.1,
             "mean": rng.normal(size=M) * 0.1, "var": rng.uniform(0.5, 1.5, M),
             "w2": rng.normal(size=(3, M, 2, 2)) * 0.5, "b2": rng.normal(size=3) * 0.1}
    h3 = h2 - 1
    inits |= {"W": rng.normal(size=(3 * h3 * h3, 4)) * 0.3, "c": rng.normal(size=4) * 0.1}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], strides=[s, s], pads=[p, p, p, p],
                              dilations=[d, d], group=group),
             helper.make_node("BatchNormalization", ["c1", "scale", "bias", "mean", "var"], ["n1"]),
             helper.make_node("Relu", ["n1"], ["r1"]),
             helper.make_node(pool, ["r1"], ["p1"], kernel_shape=[2, 2], strides=[1, 1]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Flatten", ["r2"], ["f"]),
             helper.make_node("Gemm", ["f", "W", "c"], ["y"])]
    return _model(path, nodes, inits, (C, H, H)), (C, H, H)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), pool=st.sampled_from(["MaxPool", "AveragePool"]))
def test_cnn_matches_onnxruntime(tmp_path, seed, pool):
    ort = pytest.importorskip("onnxruntime")
    path, shape = random_cnn(tmp_path / f"cnn{seed}.onnx", seed, pool)
    net = load_onnx(path)
    x = np.random.default_rng(seed).normal(size=(5, *shape)).astype(np.float32)
    session = ort.InferenceSession(str(path))
    ref = np.concatenate([session.run(None, {"x": xi[None]})[0] for xi in x])
    np.testing.assert_allclose(net.forward(x.reshape(5, -1).astype(float)), ref, atol=2e-4 * (1 + np.abs(ref).max()))


def test_transpose_reshape_and_channel_constants(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(1)
    inits = {"shift": rng.normal(size=(2, 1, 1)), "shape": np.array([1, -1]), "W": rng.normal(size=(18, 2))}
    nodes = [helper.make_node("Sub", ["x", "shift"], ["a"]),
             helper.make_node("Transpose", ["a"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["t", "shape"], ["r"]),
             helper.make_node("MatMul", ["r", "W"], ["y"])]
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(inits["shift"], np.float32), "shift"),
                               numpy_helper.from_array(inits["shape"].astype(np.int64), "shape"),
                               numpy_helper.from_array(np.asarray(inits["W"], np.float32), "W")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "t.onnx"))
    net = load_onnx(tmp_path / "t.onnx")
    x = rng.normal(size=(1, 2, 3, 3)).astype(np.float32)
    ref = ort.InferenceSession(str(tmp_path / "t.onnx")).run(None, {"x": x})[0]
    np.testing.assert_allclose(net.forward(x.reshape(1, -1).astype(float)), ref, atol=1e-4)


def test_torch_cnn_matches_torch():
    torch = pytest.importorskip("torch")
    from qcqp.frontends.loaders import from_torch

    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=1, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(16, 3)).double()
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.2, 0.2)
        model[1].running_var.uniform_(0.5, 1.5)
    model.eval()
    net = from_torch(model, input_shape=(1, 8, 8))
    x = np.random.default_rng(0).random((6, 64))
    with torch.no_grad():
        ref = model(torch.from_numpy(x.reshape(6, 1, 8, 8))).numpy()
    assert np.abs(net.forward(x) - ref).max() < 1e-10
    with pytest.raises(InputError, match="input_shape"):
        from_torch(model)


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6))
def test_cnn_bounds_are_sound_and_ordered(tmp_path, seed):
    """On a small CNN with max pooling: lp <= sdp <= exact <= every sampled margin."""
    path, shape = random_cnn(tmp_path / f"s{seed}.onnx", seed, size=5)
    net = load_onnx(path)
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(0.2, 0.8, int(np.prod(shape)))
    box = linf_ball(x0, 0.05)
    enc = encode_network(net, box)
    c = np.eye(4)[0] - np.eye(4)[1]
    samples = box.lower + rng.random((4000, x0.size)) * (box.upper - box.lower)
    sampled = float(np.min(net.forward(samples) @ c))
    lp, sdp = enc.solve("lp", c).bound, enc.solve("sdp", c, solver="ipm").bound
    exact = enc.solve("exact", c, time_limit=math.inf)
    assert lp <= sdp + 1e-6 and sdp <= sampled + 1e-9 and exact.bound <= sampled + 1e-9
    if exact.status == Status.OPTIMAL:
        assert sdp <= exact.bound + 1e-6


def test_small_cnn_bounds_are_ordered(tmp_path):
    """The fast version: one fixed small CNN (seed 3: every method finishes in about a second)."""
    path, shape = random_cnn(tmp_path / "s3.onnx", 3, size=5)
    net = load_onnx(path)
    rng = np.random.default_rng(3)
    box = linf_ball(rng.uniform(0.2, 0.8, int(np.prod(shape))), 0.05)
    enc = encode_network(net, box)
    c = np.eye(4)[0] - np.eye(4)[1]
    sampled = float(np.min(net.forward(box.lower + rng.random((4000, box.lower.size)) * (box.upper - box.lower)) @ c))
    lp, sdp, exact = (enc.solve(b, c, **o) for b, o in [("lp", {}), ("sdp", {}), ("exact", {"time_limit": math.inf})])
    assert exact.status == Status.OPTIMAL
    assert lp.bound <= sdp.bound + 1e-6 <= exact.bound + 2e-6 and exact.bound <= sampled + 1e-9


@pytest.mark.parametrize("attrs, message", [
    ({"auto_pad": "SAME_UPPER"}, "auto_pad=SAME_UPPER is not supported"),
    ({"ceil_mode": 1}, "ceil_mode=1 is not supported"),
])
def test_unsupported_pool_attributes_are_named(tmp_path, attrs, message):
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], **attrs)]
    path = _model(tmp_path / "p.onnx", nodes, {}, (1, 4, 4))
    with pytest.raises(InputError, match=message):
        load_onnx(path)


def test_digits_cnn_training_script_gives_an_accurate_onnx_model(tmp_path):
    """The deterministic digits CNN (frontends/models/train_digits_cnn.py): 97 % test accuracy,
    and the ONNX file it writes loads back to the same network."""
    from qcqp.frontends.models.train_digits import digits_split
    from qcqp.frontends.models.train_digits_cnn import LAYERS, _tap_map, forward, to_onnx, train

    params, accuracy = train()
    assert accuracy >= 0.95
    to_onnx(params, tmp_path / "cnn.onnx")
    net = load_onnx(tmp_path / "cnn.onnx")
    _, _, x_test, y_test = digits_split()
    assert np.mean(net.forward(x_test).argmax(axis=1) == y_test) >= 0.95
    reference = forward(params, [_tap_map(k, s) for k, s in LAYERS], x_test[:20])[-1]
    np.testing.assert_allclose(net.forward(x_test[:20]), reference, atol=1e-4 * (1 + np.abs(reference).max()))
    shipped = load_onnx(shipped_models()["digits_cnn.onnx"])  # the shipped file is this script's output
    assert np.array_equal(shipped.forward(x_test), net.forward(x_test))


def test_convolutions_stay_sparse_and_give_the_dense_answers():
    """The shipped CNN's first convolution is stored sparse; forward, gradient, bound propagation
    and every relaxation agree with the same network stored dense."""
    from qcqp.frontends.bounds import crown_bounds, interval_bounds
    from qcqp.frontends.models.train_digits import digits_split
    from qcqp.frontends.network import Network, dense

    net = load_onnx(shipped_models()["digits_cnn.onnx"])
    assert sp.issparse(net.weights[0]) and net.weights[0].nnz < 0.25 * net.weights[0].shape[0] * 64
    twin = Network(tuple(dense(W) for W in net.weights), net.biases, net.activations)
    _, _, x_test, y_test = digits_split()
    x = x_test[:5]
    np.testing.assert_allclose(net.forward(x), twin.forward(x), rtol=1e-12, atol=1e-12)
    c = np.random.default_rng(0).normal(size=(5, 10))
    np.testing.assert_allclose(net.gradient(x, c), twin.gradient(x, c), rtol=1e-12, atol=1e-12)
    box = linf_ball(x_test[91], 0.05)
    for bounds in (interval_bounds, crown_bounds):
        for (lo, hi), (tlo, thi) in zip(bounds(net, box.lower, box.upper), bounds(twin, box.lower, box.upper)):
            np.testing.assert_allclose(lo, tlo, atol=1e-9)
            np.testing.assert_allclose(hi, thi, atol=1e-9)
    a = np.eye(10)[y_test[91]] - np.eye(10)[9]
    sparse_enc, dense_enc = encode_network(net, box), encode_network(twin, box)
    for method, options in [("lp", {}), ("sdp", {"solver": "ipm"}), ("exact", {})]:
        assert sparse_enc.solve(method, a, **options).bound == pytest.approx(
            dense_enc.solve(method, a, **options).bound, abs=1e-6)
