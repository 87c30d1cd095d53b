"""Compile a computation graph into the chain a :class:`~qcqp.frontends.network.Network` is.

Graphs (ONNX, torch) branch and meet again: a residual ``Add``, a ``Concat``. Between two
activation layers every tensor is an affine map ``M s + c`` of the *state* ``s`` — the
outputs of the last activation layer, or the network input — so linear ops only compose
sparse matrices. An activation ends a layer: its input's rows become the layer's
pre-activations, and every state entry that a tensor still needed later depends on is
carried across the layer exactly, as ``relu(s) = s`` when the state is nonnegative (it
follows a ReLU) or as ``relu(s) − relu(−s)`` otherwise. A residual network so becomes a
feed-forward one computing the same function, which every encoder, bound routine and
backend already handles; carried entries of a nonnegative state are stable ReLUs, so the
relaxations lose nothing on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from qcqp import InputError
from qcqp.frontends.activations import Activation, get_activation
from qcqp.frontends.conv import avgpool_matrix, conv_matrix, maxpool_layers, maxpool_windows
from qcqp.frontends.network import Network

SPARSE_BELOW = 0.25  # a layer with fewer nonzeros than this share is stored sparse
RELU = get_activation("relu")


@dataclass
class Tensor:
    """``M s + c`` (``M``: rows × state size) with the graph's shape (batch axis included)."""

    M: sp.csr_array
    c: np.ndarray
    shape: tuple[int, ...]
    nonnegative: bool = False  # every entry >= 0 (a ReLU's output, or a selection from one)

    @property
    def size(self) -> int:
        return self.M.shape[0]


class GraphCompiler:
    """Named tensors as affine maps of the state, and the layers closed so far."""

    def __init__(self, name: str, shape: tuple[int, ...]):
        shape = tuple(int(d) for d in shape)
        size = int(np.prod(shape))
        self.state_size, self.state_nonnegative = size, False
        self.tensors = {name: Tensor(sp.eye_array(size, format="csr"), np.zeros(size), shape)}
        self.layers: list[tuple[np.ndarray | sp.csr_array, np.ndarray]] = []
        self.activations: list[Activation] = []

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def __getitem__(self, name: str) -> Tensor:
        return self.tensors[name]

    def affine(self, source: str, target: str, L, offset, shape: tuple[int, ...], nonnegative: bool = False) -> None:
        """``target = L · source + offset`` (``L`` dense or sparse)."""
        t = self.tensors[source]
        if L.shape[1] != t.size:
            raise InputError(f"internal: a map of {L.shape[1]} inputs applied to a tensor of {t.size}")
        M = sp.csr_array(L @ t.M)
        c = np.asarray(L @ t.c, dtype=float).reshape(-1) + np.broadcast_to(np.asarray(offset, float), (M.shape[0],))
        self.tensors[target] = Tensor(M, c, tuple(int(d) for d in shape), nonnegative)

    def select(self, sources: list[str], target: str, index: np.ndarray, constant: np.ndarray,
               nonnegative: bool = False) -> None:
        """``target`` picks rows of the sources stacked in order (``index``, shaped as the
        result), or the ``constant`` where ``index`` is −1."""
        stacked_M = sp.vstack([self.tensors[s].M for s in sources], format="csr")
        stacked_c = np.concatenate([self.tensors[s].c for s in sources])
        flat = index.ravel()
        picked = flat >= 0
        rows = np.flatnonzero(picked)
        P = sp.csr_array((np.ones(rows.size), (rows, flat[picked])), shape=(flat.size, stacked_M.shape[0]))
        c = np.where(picked, stacked_c[np.where(picked, flat, 0)], np.ravel(constant))
        self.tensors[target] = Tensor(sp.csr_array(P @ stacked_M), c, tuple(int(d) for d in index.shape), nonnegative)

    def combine(self, target: str, terms: list[tuple[str, float]], shape: tuple[int, ...]) -> None:
        """``target = Σ sign · source`` over tensors broadcast to ``shape`` (``Add``, ``Sub``)."""
        M, c = None, 0.0
        for name, sign in terms:
            t = self.tensors[name]
            rows = np.broadcast_to(np.arange(t.size).reshape(t.shape), shape).ravel()
            M = sign * t.M[rows] if M is None else M + sign * t.M[rows]
            c = c + sign * t.c[rows]
        self.tensors[target] = Tensor(sp.csr_array(M), np.asarray(c, float), tuple(shape))

    def activate(self, source: str, target: str, activation: Activation, keep: list[str], where: str) -> None:
        """Close a layer: ``target = activation(source)``; the tensors in ``keep`` (needed later)
        are carried across it and re-expressed in the new state."""
        t = self.tensors[source]
        kept = [self.tensors[name] for name in keep]
        columns = np.unique(np.concatenate([k.M.indices for k in kept])) if kept else np.zeros(0, int)
        if columns.size and activation != RELU:
            raise InputError(f"{where}: a branch of the graph skips this {activation} layer; only ReLU layers "
                             "can be skipped")
        signs = (1.0,) if self.state_nonnegative else (1.0, -1.0)
        carry = sp.csr_array((np.ones(columns.size), (np.arange(columns.size), columns)),
                             shape=(columns.size, self.state_size))
        W = sp.vstack([t.M] + [sign * carry for sign in signs], format="csr")
        self.layers.append((_compact(W), np.concatenate([t.c, np.zeros(columns.size * len(signs))])))
        self.activations.append(activation)
        size = W.shape[0]
        # the old state's carried entries in the new one: s = relu(s) (− relu(−s))
        back = sp.hstack([sp.csr_array((columns.size, t.size))] +
                         [sign * sp.eye_array(columns.size) for sign in signs], format="csr")
        spread = sp.csr_array((np.ones(columns.size), (columns, np.arange(columns.size))),
                              shape=(self.state_size, columns.size)) @ back
        self.tensors = {name: Tensor(sp.csr_array(self.tensors[name].M @ spread), self.tensors[name].c,
                                     self.tensors[name].shape, self.tensors[name].nonnegative) for name in keep}
        pick = sp.csr_array((np.ones(t.size), (np.arange(t.size), np.arange(t.size))), shape=(t.size, size))
        self.tensors[target] = Tensor(pick, np.zeros(t.size), t.shape, activation == RELU)
        self.state_size, self.state_nonnegative = size, activation == RELU

    def matmul(self, source: str, target: str, W: np.ndarray, offset, where: str) -> None:
        """``target = source W + offset``, contracting the last axis (``offset`` broadcast to the result)."""
        t = self.tensors[source]
        if W.ndim != 2 or t.shape[-1] != W.shape[0]:
            raise InputError(f"{where}: a tensor of shape {t.shape} times a constant of shape {W.shape}")
        lead = t.size // t.shape[-1]
        L = W.T if lead == 1 else sp.kron(sp.eye_array(lead), sp.csr_array(W.T), format="csr")
        shape = (*t.shape[:-1], W.shape[1])
        self.affine(source, target, L, np.broadcast_to(np.asarray(offset, float), shape).ravel(), shape)

    def conv(self, source: str, target: str, weight: np.ndarray, bias: np.ndarray | None, group: int, where: str,
             **window) -> None:
        t = self.tensors[source]
        M, shape = conv_matrix(np.asarray(weight, float), _image(t, where), group=group, **window)
        bias = np.zeros(shape[0]) if bias is None else np.asarray(bias, float)
        self.affine(source, target, M, np.repeat(bias, shape[1] * shape[2]), t.shape[:-3] + shape)

    def batchnorm(self, source: str, target: str, scale, bias, mean, var, eps: float, where: str) -> None:
        """``scale (x − mean) / √(var + eps) + bias`` per channel (axis 1)."""
        t = self.tensors[source]
        gain = np.asarray(scale, float) / np.sqrt(np.asarray(var, float) + eps)
        channels = t.shape[1] if len(t.shape) > 1 else 0
        if gain.size != channels:
            raise InputError(f"{where}: {gain.size} channels in the statistics, the input has shape {t.shape}")
        per = t.size // channels
        shift = np.asarray(bias, float) - np.asarray(mean, float) * gain
        self.affine(source, target, sp.diags_array(np.repeat(gain, per)), np.repeat(shift, per), t.shape)

    def average_pool(self, source: str, target: str, kernel, where: str, count_include_pad: bool = False,
                     **window) -> None:
        t = self.tensors[source]
        M, shape = avgpool_matrix(_image(t, where), tuple(kernel), count_include_pad=count_include_pad, **window)
        self.affine(source, target, M, 0.0, t.shape[:-3] + shape, t.nonnegative)

    def max_pool(self, source: str, target: str, kernel, keep: list[str], where: str, **window) -> None:
        """Exactly, as ReLU layers (:func:`~qcqp.frontends.conv.maxpool_layers`)."""
        t = self.tensors[source]
        windows, shape = maxpool_windows(_image(t, where), tuple(kernel), **window)
        maps = maxpool_layers(windows, t.size, nonnegative=t.nonnegative)
        for k, (A, c) in enumerate(maps):
            if k:
                self.activate(target, target, RELU, keep, where)
            last = k == len(maps) - 1  # earlier maps give differences such as a − b: of either sign
            self.affine(source if k == 0 else target, target, A, c,
                        t.shape[:-3] + shape if last else (A.shape[0],), t.nonnegative and last)

    def network(self, output: str, source: str) -> Network:
        """The chain: the closed layers and the output tensor's map as the last one."""
        out = self.tensors[output]
        layers = self.layers + [(_compact(out.M), out.c)]
        return Network(tuple(W for W, _ in layers), tuple(b for _, b in layers), tuple(self.activations), source)


def _image(t: Tensor, where: str) -> tuple[int, int, int]:
    """The (channels, height, width) of a tensor shaped (1, C, H, W) (or (C, H, W))."""
    if len(t.shape) not in (3, 4) or (len(t.shape) == 4 and t.shape[0] != 1):
        raise InputError(f"{where}: needs a (1, channels, height, width) input, the tensor has shape {t.shape}")
    return t.shape[-3:]


def _compact(W) -> np.ndarray | sp.csr_array:
    """``W`` sparse (CSR) when at most ``SPARSE_BELOW`` of its entries are nonzero, dense otherwise."""
    W = sp.csr_array(W)
    if W.nnz <= SPARSE_BELOW * W.shape[0] * W.shape[1]:
        return W
    return W.toarray()
