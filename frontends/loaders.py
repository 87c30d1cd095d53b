"""Load networks from ``.npz`` weights, ONNX graphs and PyTorch ``nn.Sequential`` models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qcqp import InputError
from qcqp.frontends.activations import for_op
from qcqp.frontends.graph import GraphCompiler
from qcqp.frontends.network import Network, dense
from qcqp.frontends.onnx_reader import load_onnx


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
    graph = GraphCompiler("x", (1, *input_shape))
    for k, layer in enumerate(layers):
        kind, where = type(layer).__name__, f"torch model: layer {k} ({type(layer).__name__})"
        params = {name: p.detach().double().numpy() for name, p in layer.named_parameters(recurse=False)}
        if isinstance(layer, nn.Linear):
            graph.matmul("x", "x", params["weight"].T, params.get("bias", 0.0), where)
        elif isinstance(layer, nn.Conv2d):
            if not isinstance(layer.padding, tuple) or layer.padding_mode != "zeros":
                raise InputError(f"{where}: only explicit zero padding is supported")
            pad_h, pad_w = layer.padding
            graph.conv("x", "x", params["weight"], params.get("bias"), layer.groups, where, strides=layer.stride,
                       pads=(pad_h, pad_w, pad_h, pad_w), dilations=layer.dilation)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            ones = np.ones(layer.num_features)
            graph.batchnorm("x", "x", params.get("weight", ones), params.get("bias", 0 * ones),
                            layer.running_mean.double().numpy(), layer.running_var.double().numpy(), layer.eps, where)
        elif isinstance(layer, (nn.AvgPool2d, nn.MaxPool2d)):
            if layer.ceil_mode:
                raise InputError(f"{where}: ceil_mode=True is not supported")
            pair = [v if isinstance(v, tuple) else (v, v) for v in (layer.kernel_size, layer.stride, layer.padding)]
            window = {"strides": pair[1], "pads": pair[2] + pair[2]}
            if isinstance(layer, nn.MaxPool2d):
                dilation = layer.dilation if isinstance(layer.dilation, tuple) else (layer.dilation,) * 2
                graph.max_pool("x", "x", pair[0], [], where, dilations=dilation, **window)
            else:
                graph.average_pool("x", "x", pair[0], where, layer.count_include_pad, **window)
        elif isinstance(layer, nn.Flatten):
            graph.select(["x"], "x", np.arange(graph["x"].size).reshape(1, -1), 0.0, graph["x"].nonnegative)
        elif isinstance(layer, (nn.Identity, nn.Dropout)):
            continue
        elif for_op("torch", kind) is not None:
            graph.activate("x", "x", for_op("torch", kind).from_torch(layer, where), [], where)
        else:
            raise InputError(f"torch model: unsupported layer {k} ({kind})")
    return graph.network("x", "torch model")
