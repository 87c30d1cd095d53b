"""Feed-forward networks: affine layers with an activation between consecutive layers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from qcqp import InputError
from qcqp.frontends.activations import Activation, get_activation


def as_matrix(W) -> np.ndarray | sp.csr_array:
    """A layer's weights as floats: scipy.sparse stays sparse (CSR; convolutions), the rest a dense array."""
    return sp.csr_array(W, dtype=float) if sp.issparse(W) else np.asarray(W, dtype=float)


def dense(W) -> np.ndarray:
    """A layer's weights as a dense array (for code that needs every entry)."""
    return W.toarray() if sp.issparse(W) else W


@dataclass(frozen=True)
class Network:
    """``x → W₀x + b₀ → σ₀ → W₁· + b₁ → … → W_{L−1}· + b_{L−1}`` (logits, no final activation).

    Weights use the PyTorch convention: ``W_k`` has shape ``(out, in)``; a layer may be a
    scipy.sparse matrix (a convolution's), kept sparse by every computation on the network.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activations: tuple[Activation, ...]  # names such as "leaky_relu:0.2" are accepted and resolved
    source: str = "network"

    def __post_init__(self):
        weights = tuple(as_matrix(W) for W in self.weights)
        biases = tuple(np.asarray(b, dtype=float).reshape(-1) for b in self.biases)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", biases)
        object.__setattr__(self, "activations", tuple(get_activation(a) for a in self.activations))
        if not weights:
            raise InputError(f"{self.source}: the network has no layers")
        if len(biases) != len(weights) or len(self.activations) != len(weights) - 1:
            raise InputError(f"{self.source}: {len(weights)} weights, {len(biases)} biases and "
                             f"{len(self.activations)} activations do not form a network")
        for k, (W, b) in enumerate(zip(weights, biases)):
            if W.ndim != 2 or b.shape != (W.shape[0],):
                raise InputError(f"{self.source}: layer {k} has weight shape {W.shape} and bias shape {b.shape}")
            if k and W.shape[1] != weights[k - 1].shape[0]:
                raise InputError(f"{self.source}: layer {k} expects {W.shape[1]} inputs but layer {k - 1} "
                                 f"gives {weights[k - 1].shape[0]}")
            if not (np.all(np.isfinite(W.data if sp.issparse(W) else W)) and np.all(np.isfinite(b))):
                raise InputError(f"{self.source}: layer {k} has NaN or infinite weights")

    @cached_property
    def transposed_weights(self) -> tuple[np.ndarray | sp.csr_array, ...]:
        """Every layer's weights transposed (CSR for a sparse layer): back-substitution multiplies by
        these. Dense ones are copied C-contiguous, as they are after pickling, so a worker's BLAS
        rounds like the parent's."""
        return tuple(sp.csr_array(W.T) if sp.issparse(W) else np.ascontiguousarray(W.T) for W in self.weights)

    def times_weights(self, k: int, M: np.ndarray, absolute: bool = False) -> np.ndarray:
        """``M W_k`` (or ``M |W_k|``): a sparse layer as ``(W_kᵀ Mᵀ)ᵀ`` on a contiguous block,
        much faster than a dense block times a CSR matrix."""
        W = self.weights[k]
        if not sp.issparse(W):
            return M @ (np.abs(W) if absolute else W)
        WT = self.transposed_weights[k]
        return ((abs(WT) if absolute else WT) @ np.ascontiguousarray(M.T)).T

    @property
    def input_size(self) -> int:
        return self.weights[0].shape[1]

    @property
    def output_size(self) -> int:
        return self.weights[-1].shape[0]

    @property
    def layer_sizes(self) -> list[int]:
        return [self.input_size] + [W.shape[0] for W in self.weights]

    def activation(self, k: int) -> Activation:
        return self.activations[k]

    def check_input(self, x: np.ndarray, what: str = "input") -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.shape[-1] != self.input_size:
            raise InputError(f"{what} has size {x.shape[-1]} but the network expects {self.input_size}")
        if not np.all(np.isfinite(x)):
            raise InputError(f"{what} contains NaN or infinite values")
        return x

    def pre_activations(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's pre-activation for a batch ``x`` of shape ``(B, input_size)``."""
        out, h = [], np.asarray(x, dtype=float)
        for k, (W, b) in enumerate(zip(self.weights, self.biases)):
            pre = h @ W.T + b
            out.append(pre)
            if k < len(self.activations):
                h = self.activation(k).forward(pre)
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits for ``x`` of shape ``(input_size,)`` or ``(B, input_size)``."""
        x = self.check_input(x)
        return self.pre_activations(np.atleast_2d(x))[-1].reshape(x.shape[:-1] + (self.output_size,))

    def gradient(self, x: np.ndarray, c: np.ndarray, pres: list[np.ndarray] | None = None) -> np.ndarray:
        """``∂(c · logits)/∂x`` for a batch: ``x`` (B, d), ``c`` (B, classes); ``pres`` are
        ``x``'s :meth:`pre_activations` where already computed."""
        pres = self.pre_activations(x) if pres is None else pres
        g = c
        for k in range(len(self.weights) - 1, -1, -1):
            g = self.times_weights(k, g)
            if k:
                g = g * self.activation(k - 1).derivative(pres[k - 1])
        return g
