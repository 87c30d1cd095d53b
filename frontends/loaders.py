"""Load networks from ``.npz`` weights, ONNX graphs and PyTorch ``nn.Sequential`` models."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from qcqp import InputError
from qcqp.frontends.activations import Activation, for_op, get_activation
from qcqp.frontends.conv import avgpool_matrix, conv_matrix, maxpool_layers, maxpool_windows
from qcqp.frontends.network import Network, dense


def load_network(path: str | Path) -> Network:
    """Load ``.npz`` or ``.onnx`` (``.onnx.gz`` as VNN-COMP ships some) by suffix."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such model file")
    if path.suffix == ".npz":
        return load_npz(path)
    if path.suffix == ".onnx" or path.name.endswith(".onnx.gz"):
        return load_onnx(path)
    raise InputError(f"{path}: unknown model format {path.suffix!r} (use .npz, .onnx or .onnx.gz)")


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
    arrays = {f"W{k}": dense(W) for k, W in enumerate(network.weights)}
    arrays |= {f"b{k}": b for k, b in enumerate(network.biases)}
    if any(a.name != "relu" for a in network.activations):
        arrays["activations"] = np.array([str(a) for a in network.activations])
    np.savez(path, **arrays)


class _AffineChain:
    """Composes affine ops into ``W x + b`` between activations, tracking the tensor shape
    (``(C, H, W)`` for convolutional layers, ``(n,)`` once flat)."""

    def __init__(self, shape: tuple[int, ...]):
        size = int(np.prod(shape))
        self.shape = tuple(int(d) for d in shape)
        self.W, self.b = sp.eye_array(size, format="csr"), np.zeros(size)
        self.layers: list[tuple[np.ndarray | sp.csr_array, np.ndarray]] = []
        self.activations: list[Activation] = []

    @property
    def size(self) -> int:
        return self.W.shape[0]

    def apply(self, M, c: np.ndarray, shape: tuple[int, ...] | None = None) -> None:
        """Compose ``M x + c`` (dense or sparse ``M``: sparse times sparse stays sparse); ``shape``
        is the result's (default: flat)."""
        self.W, self.b = M @ self.W, np.asarray(M @ self.b) + c
        self.shape = tuple(int(d) for d in shape) if shape is not None else (self.W.shape[0],)

    def activation(self, activation: Activation) -> None:
        self.layers.append((_compact(self.W), self.b))
        self.activations.append(activation)
        self.W, self.b = sp.eye_array(self.size, format="csr"), np.zeros(self.size)

    def is_identity(self) -> bool:
        """Nothing composed since the last activation (or the input)."""
        return self.W.shape[0] == self.W.shape[1] and not self.b.any() and \
            (sp.csr_array(self.W) != sp.eye_array(self.size)).nnz == 0

    def image(self, where: str) -> tuple[int, int, int]:
        if len(self.shape) != 3:
            raise InputError(f"{where}: needs a (channels, height, width) input, the chain has shape {self.shape}")
        return self.shape

    def constant(self, value, where: str) -> np.ndarray:
        """A constant operand broadcast to the current tensor (batch axis dropped), flattened."""
        value = np.asarray(value, float)
        while value.ndim > len(self.shape) and value.shape[0] == 1:
            value = value[0]
        try:
            return np.broadcast_to(value, self.shape).ravel()
        except ValueError:
            raise InputError(f"{where}: constant of shape {value.shape} does not broadcast to {self.shape}") from None

    def conv(self, weight: np.ndarray, bias: np.ndarray | None, group: int, where: str, **window) -> None:
        M, shape = conv_matrix(weight, self.image(where), group=group, **window)
        bias = np.zeros(shape[0]) if bias is None else np.asarray(bias, float)
        self.apply(M, np.repeat(bias, shape[1] * shape[2]), shape)

    def batchnorm(self, scale, bias, mean, var, eps: float, where: str) -> None:
        """``scale (x − mean) / √(var + eps) + bias`` per channel (folded into the affine map)."""
        gain = np.asarray(scale, float) / np.sqrt(np.asarray(var, float) + eps)
        if gain.size != self.shape[0]:
            raise InputError(f"{where}: {gain.size} channels in the statistics, {self.shape[0]} in the input")
        per = self.size // self.shape[0]
        self.apply(sp.diags_array(np.repeat(gain, per)), np.repeat(np.asarray(bias) - np.asarray(mean) * gain, per),
                   self.shape)

    def average_pool(self, kernel, where: str, count_include_pad: bool = False, **window) -> None:
        M, shape = avgpool_matrix(self.image(where), kernel, count_include_pad=count_include_pad, **window)
        self.apply(M, np.zeros(M.shape[0]), shape)

    def max_pool(self, kernel, where: str, **window) -> None:
        """Exactly, as ReLU layers (:func:`~qcqp.frontends.conv.maxpool_layers`)."""
        windows, shape = maxpool_windows(self.image(where), kernel, **window)
        after_relu = bool(self.activations) and str(self.activations[-1]) == "relu" and self.is_identity()
        maps = maxpool_layers(windows, self.size, nonnegative=after_relu)
        for k, (A, c) in enumerate(maps):
            if k:
                self.activation(get_activation("relu"))
            self.apply(A, c, shape if k == len(maps) - 1 else None)

    def network(self, source: str) -> Network:
        layers = self.layers + [(_compact(self.W), self.b)]
        return Network(tuple(W for W, _ in layers), tuple(b for _, b in layers), tuple(self.activations), source)


SPARSE_BELOW = 0.25  # a composed layer with fewer nonzeros than this share is stored sparse


def _compact(W) -> np.ndarray | sp.csr_array:
    """``W`` sparse (CSR) when at most ``SPARSE_BELOW`` of its entries are nonzero, dense otherwise."""
    nonzeros = W.nnz if sp.issparse(W) else np.count_nonzero(W)
    if nonzeros <= SPARSE_BELOW * W.shape[0] * W.shape[1]:
        return sp.csr_array(W)
    return W.toarray() if sp.issparse(W) else np.asarray(W)


def load_onnx(path: str | Path) -> Network:
    """A chain of Gemm/MatMul/Conv/BatchNormalization/AveragePool/MaxPool/Add/Sub/Mul/Div/
    Flatten/Reshape/Transpose and registered activations (each activation class names the
    ONNX ops it stands for in ``onnx_ops``)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise InputError(f"{path}: reading ONNX needs the onnx package: pip install onnx") from None

    try:
        model = onnx.load_model_from_string(gzip.decompress(Path(path).read_bytes())) \
            if str(path).endswith(".gz") else onnx.load(str(path))
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
    chain = _AffineChain(tuple(dims[1:]) if len(dims) > 1 else (dims[0],))
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


def _reshape_target(shape: tuple[int, ...], target: list[int], where: str) -> tuple[int, ...]:
    """ONNX ``Reshape`` semantics (``0`` copies a dimension, one ``-1`` is inferred) on a tensor
    with a batch axis of 1; returns the shape without the batch axis."""
    full = [1, *shape]
    dims = [full[k] if d == 0 else d for k, d in enumerate(target)]
    if dims.count(-1) == 1:
        known = int(np.prod([d for d in dims if d != -1]))
        dims = [int(np.prod(shape)) // max(known, 1) if d == -1 else d for d in dims]
    if int(np.prod(dims)) != int(np.prod(shape)) or any(d <= 0 for d in dims):
        raise InputError(f"{where}: cannot reshape {tuple(shape)} to {tuple(target)}")
    return tuple(dims[1:]) if len(dims) > 1 and dims[0] == 1 else tuple(dims)


def _ints(attrs: dict, name: str, default: list[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in attrs[name].ints) if name in attrs else tuple(default)


def _window(attrs: dict, where: str) -> dict:
    """Kernel, strides, pads (top, left, bottom, right) and dilations of a 2-D Conv or pool."""
    if "auto_pad" in attrs and attrs["auto_pad"].s not in (b"", b"NOTSET"):
        raise InputError(f"{where}: auto_pad={attrs['auto_pad'].s.decode()} is not supported (give explicit pads)")
    if "ceil_mode" in attrs and attrs["ceil_mode"].i:
        raise InputError(f"{where}: ceil_mode=1 is not supported")
    return {"strides": _ints(attrs, "strides", [1, 1]), "pads": _ints(attrs, "pads", [0, 0, 0, 0]),
            "dilations": _ints(attrs, "dilations", [1, 1])}


def _apply_onnx_node(chain: _AffineChain, node, others: list, where: str) -> None:
    attrs = {a.name: a for a in node.attribute}
    op = node.op_type
    size = chain.size
    if op in ("Identity", "Dropout"):
        return
    activation = for_op("onnx", op)
    if activation is not None:
        chain.activation(activation.from_onnx(attrs, others, where))
    elif op == "Flatten" or (op == "Reshape" and others[0] is None):
        chain.shape = (size,)
    elif op == "Reshape":
        chain.shape = _reshape_target(chain.shape, [int(d) for d in others[0]], where)
    elif op == "Transpose":
        perm = _ints(attrs, "perm", list(range(len(chain.shape) + 1))[::-1])
        if perm[0] != 0:
            raise InputError(f"{where}: transposing the batch axis is not supported")
        order = np.arange(size).reshape(chain.shape).transpose([p - 1 for p in perm[1:]])
        chain.apply(sp.csr_array((np.ones(size), (np.arange(size), order.ravel())), shape=(size, size)),
                    np.zeros(size), order.shape)
    elif op == "Conv":
        if len(others[0].shape) != 4:
            raise InputError(f"{where}: only 2-D convolutions are supported")
        chain.conv(others[0], others[1] if len(others) > 1 else None,
                   int(attrs["group"].i) if "group" in attrs else 1, where, **_window(attrs, where))
    elif op == "MaxPool":
        chain.max_pool(_ints(attrs, "kernel_shape", []), where, **_window(attrs, where))
    elif op == "AveragePool":
        window = _window(attrs, where)
        if window.pop("dilations") != (1, 1):
            raise InputError(f"{where}: dilated average pooling is not supported")
        include = bool(attrs["count_include_pad"].i) if "count_include_pad" in attrs else False
        chain.average_pool(_ints(attrs, "kernel_shape", []), where, include, **window)
    elif op == "GlobalAveragePool":
        chain.average_pool(chain.image(where)[1:], where)
    elif op == "BatchNormalization":
        chain.batchnorm(*others[:4], attrs["epsilon"].f if "epsilon" in attrs else 1e-5, where)
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
        c = chain.constant(others[0], where)
        if op == "Add":
            chain.apply(sp.eye_array(size), c, chain.shape)
        elif op == "Sub":
            chain.apply(sp.eye_array(size), -c, chain.shape)
        elif np.any(c == 0) and op == "Div":
            raise InputError(f"{where}: division by zero")
        else:
            chain.apply(sp.diags_array(c if op == "Mul" else 1.0 / c), np.zeros(size), chain.shape)
    else:
        raise InputError(f"{where}: unsupported ONNX op {op!r}")
    if chain.W.shape[1] == 0 or not np.all(np.isfinite(chain.W.data if sp.issparse(chain.W) else chain.W)):
        raise InputError(f"{where}: produced invalid weights")


def from_torch(module, input_shape: tuple[int, ...] | None = None) -> Network:
    """A PyTorch ``nn.Sequential`` of Linear, Conv2d, BatchNorm1d/2d, AvgPool2d, MaxPool2d,
    Flatten and registered activations. ``input_shape`` (without the batch axis, e.g.
    ``(1, 8, 8)``) is needed when the first layer is not ``nn.Linear``."""
    import torch.nn as nn

    layers = list(module) if isinstance(module, nn.Sequential) else [module]
    if input_shape is None:
        first = next((k for k, m in enumerate(layers) if isinstance(m, nn.Linear)), None)
        if first is None or not all(isinstance(m, (nn.Flatten, nn.Identity, nn.Dropout)) for m in layers[:first]):
            raise InputError("torch model: give input_shape=(C, H, W) when the first weighted layer is not nn.Linear")
        input_shape = (layers[first].in_features,)
    chain = _AffineChain(tuple(input_shape))
    for k, layer in enumerate(layers):
        kind, where = type(layer).__name__, f"torch model: layer {k} ({type(layer).__name__})"
        params = {name: p.detach().double().numpy() for name, p in layer.named_parameters(recurse=False)}
        if isinstance(layer, nn.Linear):
            chain.apply(params["weight"], params.get("bias", np.zeros(layer.out_features)))
        elif isinstance(layer, nn.Conv2d):
            if not isinstance(layer.padding, tuple) or layer.padding_mode != "zeros":
                raise InputError(f"{where}: only explicit zero padding is supported")
            pad_h, pad_w = layer.padding
            chain.conv(params["weight"], params.get("bias"), layer.groups, where, strides=layer.stride,
                       pads=(pad_h, pad_w, pad_h, pad_w), dilations=layer.dilation)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            ones = np.ones(layer.num_features)
            chain.batchnorm(params.get("weight", ones), params.get("bias", 0 * ones),
                            layer.running_mean.double().numpy(), layer.running_var.double().numpy(), layer.eps, where)
        elif isinstance(layer, (nn.AvgPool2d, nn.MaxPool2d)):
            if layer.ceil_mode:
                raise InputError(f"{where}: ceil_mode=True is not supported")
            pair = [v if isinstance(v, tuple) else (v, v) for v in (layer.kernel_size, layer.stride, layer.padding)]
            window = {"strides": pair[1], "pads": pair[2] + pair[2]}
            if isinstance(layer, nn.MaxPool2d):
                dilation = layer.dilation if isinstance(layer.dilation, tuple) else (layer.dilation,) * 2
                chain.max_pool(pair[0], where, dilations=dilation, **window)
            else:
                chain.average_pool(pair[0], where, layer.count_include_pad, **window)
        elif isinstance(layer, nn.Flatten):
            chain.shape = (chain.size,)
        elif isinstance(layer, (nn.Identity, nn.Dropout)):
            continue
        elif for_op("torch", kind) is not None:
            chain.activation(for_op("torch", kind).from_torch(layer, where))
        else:
            raise InputError(f"torch model: unsupported layer {k} ({kind})")
    return chain.network("torch model")
