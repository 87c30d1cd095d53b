"""Train the shipped digits CNN and write it as ONNX (``digits_cnn.onnx``).

Conv(1→4, 3×3, stride 2, pad 1) → ReLU → Conv(4→8, 3×3, stride 2, pad 1) → ReLU → Flatten →
Gemm(32→10) on scikit-learn's digits (8×8, the split of the shipped MLP). Deterministic
(fixed seed, full-batch Adam in numpy float64): each convolution is its matrix
(:func:`~qcqp.frontends.conv.conv_matrix`), a linear function of the kernel, so the kernel's
gradient is the matrix gradient summed over the entries each tap fills. Run from the
repository root::

    python frontends/models/train_digits_cnn.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qcqp.frontends.conv import conv_matrix
from qcqp.frontends.models.train_digits import SEED, digits_split
from qcqp.optim import Adam

LAYERS = [((4, 1, 3, 3), (1, 8, 8)), ((8, 4, 3, 3), (4, 4, 4))]  # (kernel shape, input shape)
WINDOW = {"strides": (2, 2), "pads": (1, 1, 1, 1)}


def _tap_map(kernel_shape, input_shape):
    """Rows, columns and kernel index of every matrix entry a kernel tap fills, and the output shape."""
    codes = np.arange(1, int(np.prod(kernel_shape)) + 1, dtype=float).reshape(kernel_shape)
    M, out = conv_matrix(codes, input_shape, **WINDOW)
    M = M.tocoo()
    return M.row, M.col, M.data.astype(int) - 1, M.shape, out


def forward(params, maps, x):
    """Activations of every layer for a batch ``x`` (rows of 64 pixels)."""
    acts = [x]
    for (K, b), (rows, cols, taps, shape, out) in zip(params[:-1], maps):
        W = np.zeros(shape)
        W[rows, cols] = K.ravel()[taps]
        acts.append(np.maximum(acts[-1] @ W.T + np.repeat(b, out[1] * out[2]), 0))
    W, c = params[-1]
    acts.append(acts[-1] @ W.T + c)
    return acts


def train(epochs: int = 1500, lr: float = 1e-2):
    x, y, x_test, y_test = digits_split()
    rng = np.random.default_rng(SEED)
    maps = [_tap_map(k, s) for k, s in LAYERS]
    params = [[rng.normal(0, np.sqrt(2.0 / np.prod(k[1:])), k), np.zeros(k[0])] for k, _ in LAYERS]
    width = maps[-1][4]
    params.append([rng.normal(0, np.sqrt(2.0 / np.prod(width)), (10, int(np.prod(width)))), np.zeros(10)])
    optimisers = [[Adam(p.shape, lr) for p in layer] for layer in params]
    onehot = np.eye(10)[y]
    for _ in range(epochs):
        acts = forward(params, maps, x)
        logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
        grad = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True) - onehot) / len(y)
        W, _ = params[-1]
        grads = [[grad.T @ acts[-2] + 1e-4 * W, grad.sum(axis=0)]]
        grad = (grad @ W) * (acts[-2] > 0)
        for k in range(len(maps) - 1, -1, -1):
            rows, cols, taps, shape, out = maps[k]
            K, _ = params[k]
            full = grad.T @ acts[k]  # gradient of the layer's matrix
            gK = np.bincount(taps, weights=full[rows, cols], minlength=K.size).reshape(K.shape) + 1e-4 * K
            grads.insert(0, [gK, grad.reshape(len(y), out[0], -1).sum(axis=(0, 2))])
            if k:
                Wk = np.zeros(shape)
                Wk[rows, cols] = K.ravel()[taps]
                grad = (grad @ Wk) * (acts[k] > 0)
        for layer, gs, opts in zip(params, grads, optimisers):
            for p, g, opt in zip(layer, gs, opts):
                p -= opt.step(g)
    accuracy = float(np.mean(forward(params, maps, x_test)[-1].argmax(axis=1) == y_test))
    return params, accuracy


def to_onnx(params, path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    (K1, b1), (K2, b2), (W, c) = params
    inits = {"k1": K1, "b1": b1, "k2": K2, "b2": b2, "W": W, "c": c}
    conv = {"strides": list(WINDOW["strides"]), "pads": list(WINDOW["pads"])}
    nodes = [helper.make_node("Conv", ["x", "k1", "b1"], ["c1"], **conv), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "k2", "b2"], ["c2"], **conv), helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Flatten", ["r2"], ["f"]), helper.make_node("Gemm", ["f", "W", "c"], ["y"], transB=1)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
    graph = helper.make_graph(nodes, "digits_cnn", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
                              [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def main() -> None:
    params, accuracy = train()
    print(f"test accuracy {accuracy:.4f}")
    out = Path(__file__).with_name("digits_cnn.onnx")
    to_onnx(params, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
