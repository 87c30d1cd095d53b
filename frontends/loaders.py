"""Load networks from ``.npz`` weights, ONNX graphs and PyTorch ``nn.Sequential`` models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qcqp import InputError
from qcqp.frontends.activations import Activation, for_op
from qcqp.frontends.network import Network


def load_network(path: str | Path) -> Network:
    """Load ``.npz`` or ``.onnx`` by suffix."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such model file")
    if path.suffix == ".npz":
        return load_npz(path)
    if path.suffix == ".onnx":
        return load_onnx(path)
    raise InputError(f"{path}: unknown model format {path.suffix!r} (use .npz or .onnx)")


def load_npz(path: str | Path) -> Network:
    """``W0, b0, W1, b1, …`` (``W`` of shape (out, in)); ReLU after all but the last layer.

    An optional string array ``activations`` names the hidden activations instead.
    """
    try:
        data = np.load(path, allow_pickle=False)
    except Exception:  # numpy raises several types for corrupt files
        raise InputError(f"{path}: not a readable .npz file (expected a zip archive of numeric arrays)") from None
    if not hasattr(data, "files"):
        raise InputError(f"{path}: not a readable .npz file (expected a zip archive of numeric arrays)")
    count = sum(1 for key in data.files if key.startswith("W"))
    missing = [key for k in range(count) for key in (f"W{k}", f"b{k}") if key not in data.files]
    if count == 0 or missing:
        raise InputError(f"{path}: expected arrays W0, b0, W1, b1, ...; missing {missing or ['W0', 'b0']}")
    acts = tuple(str(a) for a in data["activations"]) if "activations" in data.files else ("relu",) * (count - 1)
    return Network(tuple(data[f"W{k}"] for k in range(count)), tuple(data[f"b{k}"] for k in range(count)),
                   acts, source=str(path))


def save_npz(network: Network, path: str | Path) -> None:
    arrays = {f"W{k}": W for k, W in enumerate(network.weights)}
    arrays |= {f"b{k}": b for k, b in enumerate(network.biases)}
    if any(a.name != "relu" for a in network.activations):
        arrays["activations"] = np.array([str(a) for a in network.activations])
    np.savez(path, **arrays)


class _AffineChain:
    """Composes affine ops into ``W x + b`` between activations."""

    def __init__(self, size: int):
        self.W, self.b = np.eye(size), np.zeros(size)
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        self.activations: list[Activation] = []

    def apply(self, M: np.ndarray, c: np.ndarray) -> None:
        self.W, self.b = M @ self.W, M @ self.b + c

    def activation(self, activation: Activation) -> None:
        self.layers.append((self.W, self.b))
        self.activations.append(activation)
        self.W, self.b = np.eye(self.W.shape[0]), np.zeros(self.W.shape[0])

    def network(self, source: str) -> Network:
        layers = self.layers + [(self.W, self.b)]
        return Network(tuple(W for W, _ in layers), tuple(b for _, b in layers), tuple(self.activations), source)


def load_onnx(path: str | Path) -> Network:
    """A chain of Gemm/MatMul/Add/Sub/Mul/Div/Flatten/Reshape and registered activations
    (each activation class names the ONNX ops it stands for in ``onnx_ops``)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise InputError(f"{path}: reading ONNX needs the onnx package: pip install onnx") from None

    try:
        model = onnx.load(str(path))
    except Exception as error:
        raise InputError(f"{path}: not a readable ONNX model ({error})") from None
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t).astype(float) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise InputError(f"{path}: expected one graph input, found {len(inputs)}")
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) < 1 or any(d <= 0 for d in dims[1:]):
        raise InputError(f"{path}: input {inputs[0].name!r} has dynamic or unknown shape {dims}")
    chain = _AffineChain(int(np.prod(dims[1:])) if len(dims) > 1 else dims[0])
    current = inputs[0].name
    for node in graph.node:
        where = f"{path}: node {node.name or node.output[0]!r} ({node.op_type})"
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t).astype(float)
            continue
        if current not in node.input:
            raise InputError(f"{where} does not continue the single chain of the graph")
        others = [consts.get(name) for name in node.input if name != current and name]
        if any(o is None for o in others) and node.op_type not in ("Reshape",):
            raise InputError(f"{where}: only constant second operands are supported")
        _apply_onnx_node(chain, node, others, where)
        current = node.output[0]
    return chain.network(str(path))


def _apply_onnx_node(chain: _AffineChain, node, others: list, where: str) -> None:
    attrs = {a.name: a for a in node.attribute}
    op = node.op_type
    size = chain.W.shape[0]
    if op in ("Flatten", "Reshape", "Identity", "Dropout"):
        return
    activation = for_op("onnx", op)
    if activation is not None:
        chain.activation(activation.from_onnx(attrs, others, where))
    elif op == "Gemm":
        B, C = others[0], (others[1] if len(others) > 1 else 0.0)
        alpha = attrs["alpha"].f if "alpha" in attrs else 1.0
        beta = attrs["beta"].f if "beta" in attrs else 1.0
        if "transA" in attrs and attrs["transA"].i:
            raise InputError(f"{where}: transA=1 is not supported")
        W = B if ("transB" in attrs and attrs["transB"].i) else B.T
        chain.apply(alpha * W, beta * np.broadcast_to(C, (W.shape[0],)).astype(float))
    elif op == "MatMul":
        W = others[0].T
        chain.apply(W, np.zeros(W.shape[0]))
    elif op in ("Add", "Sub", "Mul", "Div"):
        c = np.broadcast_to(np.asarray(others[0], float).reshape(-1), (size,))
        if op == "Add":
            chain.apply(np.eye(size), c)
        elif op == "Sub":
            chain.apply(np.eye(size), -c)
        elif np.any(c == 0) and op == "Div":
            raise InputError(f"{where}: division by zero")
        else:
            scale = c if op == "Mul" else 1.0 / c
            chain.apply(np.diag(scale), np.zeros(size))
    else:
        raise InputError(f"{where}: unsupported ONNX op {op!r}")
    if chain.W.shape[1] == 0 or not np.all(np.isfinite(chain.W)):
        raise InputError(f"{where}: produced invalid weights")


def from_torch(module) -> Network:
    """A PyTorch ``nn.Sequential`` of Linear, Flatten and registered activations."""
    import torch.nn as nn

    layers = list(module) if isinstance(module, nn.Sequential) else [module]
    first = next((m for m in layers if isinstance(m, nn.Linear)), None)
    if first is None:
        raise InputError("torch model: no nn.Linear layer found")
    chain = _AffineChain(first.in_features)
    for k, layer in enumerate(layers):
        kind = type(layer).__name__
        if isinstance(layer, nn.Linear):
            W = layer.weight.detach().double().numpy()
            b = layer.bias.detach().double().numpy() if layer.bias is not None else np.zeros(W.shape[0])
            chain.apply(W, b)
        elif isinstance(layer, (nn.Flatten, nn.Identity, nn.Dropout)):
            continue
        elif for_op("torch", kind) is not None:
            chain.activation(for_op("torch", kind).from_torch(layer, f"torch model: layer {k}"))
        else:
            raise InputError(f"torch model: unsupported layer {k} ({kind})")
    return chain.network("torch model")
