"""Read an ONNX graph as the standard defines its ops, into a :class:`~qcqp.frontends.network.Network`.

Nodes are read in the graph's (topological) order by a
:class:`~qcqp.frontends.graph.GraphCompiler`; a tensor is *variable* when it depends on the
graph input, *constant* otherwise. Nodes of constants only (``Constant``, shape arithmetic,
``Cast``…) are evaluated by ONNX's reference implementation, ``Shape`` of a variable tensor
is its static shape. Ops that only move entries around (``Reshape``, ``Transpose``,
``Concat``, ``Pad``, ``Slice``, ``Gather``…) are evaluated the same way on arrays of entry
numbers, which yields the selection they make — with the op's own semantics, broadcasting
and opset version. Linear ops (``Conv``, ``Gemm``, ``MatMul`` in both orders, pools,
``BatchNormalization``, ``Add``/``Sub`` of two branches, ``Mul``/``Div`` by constants)
compose sparse maps; ``MaxPool`` is compiled into ReLU layers exactly; activations come
from the registry. Anything else is refused in one line naming the node and op.
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from qcqp import InputError
from qcqp.frontends.activations import for_op
from qcqp.frontends.graph import GraphCompiler
from qcqp.frontends.network import Network

SELECTIONS = frozenset({"Identity", "Dropout", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Slice",
                        "Gather", "Pad", "Concat", "Split", "Expand", "Tile", "DepthToSpace", "SpaceToDepth"})
FLOAT_TYPES = frozenset({1, 10, 11, 16})  # TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16


def load_onnx(path: str | Path) -> Network:
    """The network an ONNX model (``.onnx`` or ``.onnx.gz``) computes from its one input to its one output."""
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
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise InputError(f"{path}: expected one graph input and one output, found {len(inputs)} and "
                         f"{len(graph.output)}")
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    if not dims or any(d <= 0 for d in dims[1:]):
        raise InputError(f"{path}: input {inputs[0].name!r} has dynamic or unknown shape {dims}")
    reader = _Reader(GraphCompiler(inputs[0].name, [max(dims[0], 1), *dims[1:]]), consts, list(model.opset_import))
    uses = Counter(name for node in graph.node for name in node.input if name)
    output = graph.output[0].name
    uses[output] += 1
    for node in graph.node:
        uses.subtract(name for name in node.input if name)
        keep = [name for name in reader.compiler.tensors if uses[name] > 0]
        reader.read(node, keep, f"{path}: node {node.name or node.output[0]!r} ({node.op_type})")
    if output not in reader.compiler:
        raise InputError(f"{path}: the output {output!r} does not depend on the input")
    return reader.compiler.network(output, str(path))


class _Reader:
    """Reads one node at a time into the compiler (variable tensors) or ``consts``."""

    def __init__(self, compiler: GraphCompiler, consts: dict, opsets: list):
        self.compiler, self.consts, self.opsets = compiler, consts, opsets

    def read(self, node, keep: list[str], where: str) -> None:
        from onnx import helper

        op, names = node.op_type, list(node.input)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        missing = [name for name in names if name and name not in self.compiler and name not in self.consts]
        if missing:
            raise InputError(f"{where}: input {missing[0]!r} is not produced by any earlier node")
        if not any(name in self.compiler for name in names):
            outputs = self.evaluate(node, {name: self.consts[name] for name in names if name}, where)
            self.consts.update(zip(node.output, outputs))
            return
        activation = for_op("onnx", op)
        if op in ("Shape", "Size"):
            self.consts[node.output[0]] = self.evaluate(node, {names[0]: np.zeros(self.compiler[names[0]].shape)},
                                                        where)[0]
        elif activation is not None:
            self._data_first(names, where)
            protos = {a.name: a for a in node.attribute}
            others = [self.floats(name) for name in names[1:] if name]
            self.compiler.activate(names[0], node.output[0], activation.from_onnx(protos, others, where), keep, where)
        elif op == "Cast":
            if attrs["to"] not in FLOAT_TYPES:
                raise InputError(f"{where}: casting the network's values to a non-float type is not supported")
            self.compiler.select([names[0]], node.output[0], _entries(self.compiler[names[0]]), 0.0,
                                 self.compiler[names[0]].nonnegative)
        elif op in SELECTIONS:
            self._selection(node, where)
        elif op in _LINEAR:
            _LINEAR[op](self, node, names, attrs, keep, where)
        else:
            raise InputError(f"{where}: unsupported ONNX op {op!r}")
        for name in node.output[1:]:
            if name and op not in SELECTIONS:
                raise InputError(f"{where}: its output {name!r} is not supported")

    def evaluate(self, node, feeds: dict, where: str) -> list[np.ndarray]:
        """The node's outputs on ``feeds`` by ONNX's reference implementation, at the model's opsets."""
        from onnx import TensorProto, helper
        from onnx.reference import ReferenceEvaluator

        info = [helper.make_tensor_value_info(name, TensorProto.UNDEFINED, None) for name in feeds]
        outputs = [helper.make_tensor_value_info(name, TensorProto.UNDEFINED, None) for name in node.output if name]
        model = helper.make_model(helper.make_graph([node], "node", info, outputs), opset_imports=self.opsets)
        try:
            return [np.asarray(v) for v in ReferenceEvaluator(model).run(None, feeds)]
        except Exception as error:
            raise InputError(f"{where}: cannot be evaluated ({type(error).__name__}: {error})") from None

    def floats(self, name: str) -> np.ndarray:
        return np.asarray(self.consts[name], dtype=float)

    def _data_first(self, names: list[str], where: str) -> None:
        if names[0] not in self.compiler or any(name in self.compiler for name in names[1:]):
            raise InputError(f"{where}: only the first operand may depend on the input; the others must be constants")

    def _selection(self, node, where: str) -> None:
        """Evaluate the op on entry numbers (1, 2, … across its variable inputs) and on zeros:
        their difference is each output entry's source, the zeros run its constant part."""
        sources = list(dict.fromkeys(name for name in node.input if name in self.compiler))
        numbered, zeros, offset = {}, {}, 0
        for name in sources:
            t = self.compiler[name]
            numbered[name] = (np.arange(t.size) + offset + 1.0).reshape(t.shape)
            zeros[name] = np.zeros(t.shape)
            offset += t.size
        constants = {name: self.consts[name] for name in node.input if name and name not in self.compiler}
        first = self.evaluate(node, numbered | constants, where)
        second = self.evaluate(node, zeros | constants, where)
        nonnegative = all(self.compiler[name].nonnegative for name in sources)
        for name, picked, constant in zip(node.output, first, second):
            if not name or picked.dtype == bool:
                continue
            index = np.asarray(picked, float) - np.asarray(constant, float)
            if not (np.all(index == np.rint(index)) and index.min(initial=0) >= 0 and index.max(initial=0) <= offset):
                raise InputError(f"{where}: does not select entries of its input")
            index = index.astype(np.int64) - 1
            constant = np.where(index < 0, np.asarray(constant, float), 0.0)
            self.compiler.select(sources, name, index, constant, nonnegative and bool(np.all(constant >= 0)))


def _entries(t) -> np.ndarray:
    return np.arange(t.size).reshape(t.shape)


def _conv(reader: _Reader, node, names, attrs, keep, where) -> None:
    reader._data_first(names, where)
    weight = reader.floats(names[1])
    if weight.ndim != 4:
        raise InputError(f"{where}: only 2-D convolutions are supported")
    bias = reader.floats(names[2]) if len(names) > 2 and names[2] else None
    reader.compiler.conv(names[0], node.output[0], weight, bias, int(attrs.get("group", 1)), where,
                         **_window(attrs, where))


def _max_pool(reader: _Reader, node, names, attrs, keep, where) -> None:
    reader.compiler.max_pool(names[0], node.output[0], attrs["kernel_shape"], keep, where, **_window(attrs, where))


def _average_pool(reader: _Reader, node, names, attrs, keep, where) -> None:
    window = _window(attrs, where)
    if window.pop("dilations") != (1, 1):
        raise InputError(f"{where}: dilated average pooling is not supported")
    reader.compiler.average_pool(names[0], node.output[0], attrs["kernel_shape"], where,
                                 bool(attrs.get("count_include_pad", 0)), **window)


def _global_average_pool(reader: _Reader, node, names, attrs, keep, where) -> None:
    t = reader.compiler[names[0]]
    reader.compiler.average_pool(names[0], node.output[0], t.shape[-2:], where)


def _batchnorm(reader: _Reader, node, names, attrs, keep, where) -> None:
    reader._data_first(names, where)
    reader.compiler.batchnorm(names[0], node.output[0], *(reader.floats(name) for name in names[1:5]),
                              float(attrs.get("epsilon", 1e-5)), where)


def _gemm(reader: _Reader, node, names, attrs, keep, where) -> None:
    """``alpha · A' B' + beta · C`` with ``A`` the variable operand (``B`` constant)."""
    reader._data_first(names, where)
    if attrs.get("transA", 0):
        raise InputError(f"{where}: transA=1 on the variable operand is not supported")
    B = reader.floats(names[1])
    B = B.T if attrs.get("transB", 0) else B
    C = reader.floats(names[2]) if len(names) > 2 and names[2] else np.zeros(1)
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    reader.compiler.matmul(names[0], node.output[0], alpha * B, beta * C, where)


def _matmul(reader: _Reader, node, names, attrs, keep, where) -> None:
    """``x W`` or ``A x`` (one operand constant)."""
    if all(name in reader.compiler for name in names):
        raise InputError(f"{where}: a product of two tensors that depend on the input is not linear")
    if names[0] in reader.compiler:
        reader.compiler.matmul(names[0], node.output[0], reader.floats(names[1]), 0.0, where)
    else:
        A, shape = reader.floats(names[0]), reader.compiler[names[1]].shape
        if A.ndim != 2 or shape[-2 if len(shape) > 1 else -1] != A.shape[1]:
            raise InputError(f"{where}: constant {A.shape} times a tensor of shape {shape} is not supported")
        if len(shape) == 1:
            reader.compiler.affine(names[1], node.output[0], A, 0.0, (A.shape[0],))
            return
        lead = int(np.prod(shape[:-2]))
        L = sp.kron(sp.eye_array(lead), sp.kron(sp.csr_array(A), sp.eye_array(shape[-1])), format="csr")
        reader.compiler.affine(names[1], node.output[0], L, 0.0, (*shape[:-2], A.shape[0], shape[-1]))


def _arithmetic(reader: _Reader, node, names, attrs, keep, where) -> None:
    """``Add``/``Sub`` of tensors or constants, ``Mul``/``Div`` by constants, ``Neg``: with ONNX broadcasting."""
    op, compiler, out = node.op_type, reader.compiler, node.output[0]
    if op == "Neg":
        t = compiler[names[0]]
        compiler.affine(names[0], out, -sp.eye_array(t.size), 0.0, t.shape)
        return
    a, b = names
    shapes = [compiler[n].shape if n in compiler else reader.consts[n].shape for n in names]
    shape = _broadcast_shape(*shapes, where)
    if a in compiler and b in compiler:
        if op in ("Mul", "Div"):
            raise InputError(f"{where}: a product of two tensors that depend on the input is not linear")
        compiler.combine(out, [(a, 1.0), (b, 1.0 if op == "Add" else -1.0)], shape)
        return
    if op == "Div" and b in compiler:
        raise InputError(f"{where}: division by a tensor that depends on the input is not linear")
    var_first = a in compiler
    var, const = (a, b) if var_first else (b, a)
    value = np.broadcast_to(reader.floats(const), shape).ravel()
    if compiler[var].shape != shape:
        compiler.combine(out, [(var, 1.0)], shape)
        var = out
    size = int(np.prod(shape))
    if op == "Add":
        compiler.affine(var, out, sp.eye_array(size), value, shape)
    elif op == "Sub":
        sign = 1.0 if var_first else -1.0  # x − v, or v − x
        compiler.affine(var, out, sign * sp.eye_array(size), -sign * value, shape)
    elif op == "Div" and np.any(value == 0):
        raise InputError(f"{where}: division by zero")
    else:
        compiler.affine(var, out, sp.diags_array(value if op == "Mul" else 1.0 / value), 0.0, shape)


def _broadcast_shape(first, second, where: str) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(first, second))
    except ValueError:
        raise InputError(f"{where}: shapes {first} and {second} do not broadcast") from None


def _window(attrs: dict, where: str) -> dict:
    """Strides, pads (top, left, bottom, right) and dilations of a 2-D Conv or pool."""
    if attrs.get("auto_pad", b"NOTSET") not in (b"", b"NOTSET"):
        raise InputError(f"{where}: auto_pad={attrs['auto_pad'].decode()} is not supported (give explicit pads)")
    if attrs.get("ceil_mode", 0):
        raise InputError(f"{where}: ceil_mode=1 is not supported")
    pads = tuple(attrs.get("pads", (0, 0, 0, 0)))
    if len(pads) != 4:
        raise InputError(f"{where}: only 2-D windows are supported (pads {list(pads)})")
    return {"strides": tuple(attrs.get("strides", (1, 1))), "pads": pads,
            "dilations": tuple(attrs.get("dilations", (1, 1)))}


_LINEAR = {"Conv": _conv, "MaxPool": _max_pool, "AveragePool": _average_pool,
           "GlobalAveragePool": _global_average_pool, "BatchNormalization": _batchnorm, "Gemm": _gemm,
           "MatMul": _matmul, "Add": _arithmetic, "Sub": _arithmetic, "Mul": _arithmetic, "Div": _arithmetic,
           "Neg": _arithmetic}
