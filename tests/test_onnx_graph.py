"""ONNX graphs as exporters write them (branches, residual Add, Concat, Pad, selections, MatMul
in both orders), compiled into the feed-forward chain: the same function as onnxruntime
computes, sound bounds, carried ReLUs exact, and one-line refusals."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qcqp import InputError, Status
from qcqp.frontends.bounds import crown_bounds, interval_bounds
from qcqp.frontends.encode import encode_network
from qcqp.frontends.loaders import load_onnx
from qcqp.frontends.optimized_bounds import alpha_crown_bounds
from qcqp.frontends.specs import linf_ball

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _save(path, nodes, inits, shape, opset=13):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def _f32(rng, *shape, scale=1.0):
    return (rng.normal(size=shape) * scale).astype(np.float32)


def residual_net(path, seed, skip_from_input=False):
    """Conv → ReLU → [Conv → ReLU → Conv] + shortcut (1x1 Conv of the ReLU, or the input) → ReLU →
    Pad → AveragePool → Concat with a MaxPool branch → Flatten → Gemm."""
    rng = np.random.default_rng(seed)
    inits = {"w0": _f32(rng, 2, 2, 3, 3, scale=0.6), "b0": _f32(rng, 2, scale=0.1),
             "w1": _f32(rng, 2, 2, 3, 3, scale=0.5), "b1": _f32(rng, 2, scale=0.1),
             "w2": _f32(rng, 2, 2, 3, 3, scale=0.5), "b2": _f32(rng, 2, scale=0.1),
             "ws": _f32(rng, 2, 2, 1, 1), "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
             "padv": np.array(0.25, np.float32), "W": _f32(rng, 4, 2 * 3 * 3 + 2 * 2 * 2, scale=0.3),
             "c": _f32(rng, 4, scale=0.1)}
    shortcut = "x" if skip_from_input else "r0"
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", [shortcut, "ws"], ["s"]),
             helper.make_node("Add", ["c2", "s"], ["sum"]),
             helper.make_node("Relu", ["sum"], ["r2"]),
             helper.make_node("Pad", ["r2", "pads", "padv"], ["padded"], mode="constant"),
             helper.make_node("AveragePool", ["padded"], ["avg"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("MaxPool", ["r2"], ["mx"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["avg"], ["fa"]),
             helper.make_node("Flatten", ["mx"], ["fm"]),
             helper.make_node("Concat", ["fa", "fm"], ["cat"], axis=1),
             helper.make_node("Gemm", ["cat", "W", "c"], ["y"], transB=1)]
    return _save(path, nodes, inits, (1, 2, 4, 4))


def _agrees_with_onnxruntime(path, net, shape, rng):
    session = ort.InferenceSession(str(path))
    x = rng.uniform(-1, 1, (6, *shape[1:])).astype(np.float32)
    reference = np.concatenate([session.run(None, {"x": xi[None]})[0].reshape(1, -1) for xi in x])
    assert np.abs(net.forward(x.reshape(len(x), -1).astype(float)) - reference).max() < 1e-4


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), skip_from_input=st.booleans())
def test_residual_graph_matches_onnxruntime_and_bounds_hold(tmp_path, seed, skip_from_input):
    path = residual_net(tmp_path / f"r{seed}.onnx", seed, skip_from_input)
    net = load_onnx(path)
    rng = np.random.default_rng(seed)
    _agrees_with_onnxruntime(path, net, (1, 2, 4, 4), rng)
    box = linf_ball(rng.uniform(-0.5, 0.5, 32), 0.1, domain=(-1.0, 1.0))
    samples = box.lower + rng.random((2000, 32)) * (box.upper - box.lower)
    pres = net.pre_activations(samples)
    for bounds in (interval_bounds, crown_bounds, alpha_crown_bounds):
        for (lo, hi), pre in zip(bounds(net, box.lower, box.upper), pres):
            assert np.all(lo <= pre.min(axis=0)) and np.all(pre.max(axis=0) <= hi)


def test_a_skip_over_relu_outputs_is_carried_by_stable_neurons(tmp_path):
    """The shortcut reads a ReLU's output: carried as relu(s) = s, every carried neuron is stable
    (lower bound exactly 0), so the MILP on the compiled chain needs no binary for it."""
    path = residual_net(tmp_path / "r.onnx", 3)
    net = load_onnx(path)
    rows = net.weights[1].shape[0]  # layer 1: Conv's 2x4x4 ReLUs, then r0's 32 entries carried
    assert rows == 2 * 16 + 32
    lo, _ = crown_bounds(net, -np.ones(32), np.ones(32))[1]
    assert np.all(lo[32:] == 0.0)


def test_exact_optimum_of_a_residual_net_is_attained_by_sampling(tmp_path):
    """The MILP on the compiled chain is exact: its minimum margin is below every sample's and
    within reach of the best sample after a local search."""
    path = residual_net(tmp_path / "r.onnx", 5)
    net = load_onnx(path)
    rng = np.random.default_rng(5)
    box = linf_ball(rng.uniform(-0.5, 0.5, 32), 0.05, domain=(-1.0, 1.0))
    c = np.eye(4)[0] - np.eye(4)[1]
    result = encode_network(net, box).solve("exact", c, time_limit=math.inf)
    assert result.status == Status.OPTIMAL
    samples = box.lower + rng.random((20000, 32)) * (box.upper - box.lower)
    best = float(np.min(net.forward(samples) @ c))
    assert result.bound <= best + 1e-7
    x = np.clip(result.point["x"], box.lower, box.upper)
    assert abs(float(net.forward(x) @ c) - result.bound) <= 1e-5 * (1 + abs(result.bound))


def test_selection_ops_and_both_matmul_orders(tmp_path):
    """Sub/Div normalisation, Transpose, Reshape by a computed shape (Shape → Gather → Concat),
    Slice, Gather, Squeeze/Unsqueeze, Cast, Neg, constant-first MatMul, a Split into two branches."""
    rng = np.random.default_rng(0)
    inits = {"mean": np.array(0.5, np.float32), "std": np.array(2.0, np.float32),
             "A": _f32(rng, 5, 6), "B": _f32(rng, 4, 3), "idx": np.array([0, 2], np.int64),
             "starts": np.array([1], np.int64), "ends": np.array([4], np.int64), "axes": np.array([2], np.int64),
             "zero": np.array([0], np.int64), "minus": np.array([-1], np.int64), "ax0": np.array([0], np.int64),
             "split": np.array([2, 4], np.int64)}
    nodes = [helper.make_node("Sub", ["x", "mean"], ["s"]),
             helper.make_node("Div", ["s", "std"], ["d"]),
             helper.make_node("Transpose", ["d"], ["t"], perm=[0, 2, 1]),  # (1, 4, 6)
             helper.make_node("MatMul", ["t", "A_T"], ["m"]),
             helper.make_node("Shape", ["m"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
             helper.make_node("Concat", ["batch", "minus"], ["target"], axis=0),
             helper.make_node("Relu", ["m"], ["r"]),
             helper.make_node("Slice", ["r", "starts", "ends", "axes"], ["sl"]),  # (1, 4, 3)
             helper.make_node("Gather", ["sl", "idx"], ["g"], axis=1),  # (1, 2, 3)
             helper.make_node("Reshape", ["g", "target"], ["flat"]),  # (1, 6)
             helper.make_node("Squeeze", ["flat", "ax0"], ["sq"]),  # (6,)
             helper.make_node("Unsqueeze", ["sq", "ax0"], ["un"]),
             helper.make_node("Cast", ["un"], ["cast"], to=TensorProto.FLOAT),
             helper.make_node("Neg", ["cast"], ["neg"]),
             helper.make_node("Split", ["neg", "split"], ["p", "q"], axis=1),
             helper.make_node("Concat", ["q", "p"], ["pq"], axis=1),
             helper.make_node("Reshape", ["pq", "shape6"], ["col"]),  # (6, 1)
             helper.make_node("MatMul", ["A", "col"], ["y"])]
    inits |= {"A_T": _f32(rng, 6, 5), "shape6": np.array([6, 1], np.int64)}
    inits["A"] = _f32(rng, 3, 6)
    path = _save(tmp_path / "sel.onnx", nodes, inits, (1, 6, 4))
    net = load_onnx(path)
    _agrees_with_onnxruntime(path, net, (1, 6, 4), rng)


@pytest.mark.parametrize("nodes, inits, message", [
    ([helper.make_node("Mul", ["x", "x"], ["y"])], {}, "not linear"),
    ([helper.make_node("Sigmoid", ["x"], ["h"]), helper.make_node("Add", ["h", "x"], ["y"])], {},
     "only ReLU layers can be skipped"),
    ([helper.make_node("Softmax", ["x"], ["y"])], {}, "unsupported ONNX op 'Softmax'"),
    ([helper.make_node("Div", ["c", "x"], ["y"])], {"c": np.ones((1, 3), np.float32)}, "division by a tensor"),
    ([helper.make_node("Add", ["x", "c"], ["y"])], {"c": np.ones((2, 2), np.float32)}, "do not broadcast"),
])
def test_refusals_name_the_node_and_op(tmp_path, nodes, inits, message):
    path = _save(tmp_path / "bad.onnx", nodes, inits, (1, 3))
    with pytest.raises(InputError, match=message) as error:
        load_onnx(path)
    assert "bad.onnx: node" in str(error.value) and "\n" not in str(error.value)


def test_no_dense_square_in_bound_propagation_of_a_wide_conv_layer():
    """A 1 → 64 channel 3x3 conv on 48x48 (147,456 ReLUs): CROWN's bounds come in chunks; a
    dense identity over that layer alone would be 174 GB."""
    import scipy.sparse as sp

    from qcqp.frontends.conv import conv_matrix
    from qcqp.frontends.network import Network

    rng = np.random.default_rng(0)
    W0, shape = conv_matrix(rng.normal(size=(64, 1, 3, 3)), (1, 48, 48), pads=(1, 1, 1, 1))
    W1 = sp.csr_array(rng.normal(size=(2, W0.shape[0])) * 0.01)
    net = Network((W0, W1), (np.zeros(W0.shape[0]), np.zeros(2)), ("relu",))
    x0 = rng.uniform(0, 1, 48 * 48)
    bounds = crown_bounds(net, x0 - 0.01, x0 + 0.01)
    pre = net.pre_activations(x0[None])
    assert all(np.all(lo <= p[0]) and np.all(p[0] <= hi) for (lo, hi), p in zip(bounds, pre))
