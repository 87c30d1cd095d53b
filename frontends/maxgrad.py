"""MAXGRAD (Raghunathan, Steinhardt & Liang 2018a): bound the margin's gradient on a box.

For a two-layer net ``f(x) = W₁ relu(W₀ x + b₀) + b₁`` and a margin ``c · f``, the gradient
is ``W₀ᵀ diag(s) W₁ᵀ c`` with ``s`` the activation pattern, so
``max_x ‖∇(c · f)‖₁ <= max_{t ∈ [−1,1]^d, s ∈ {0,1}^m} tᵀ W₀ᵀ diag(W₁ᵀc) s`` — a box-constrained
bilinear QCQP; neurons that are stable on the box fix their ``s_j``. Since ``f`` is
piecewise linear, ``c · f(x) >= c · f(x₀) − ‖x − x₀‖∞ · G`` for any bound ``G``; the
instance is certified when ``c · f(x₀) > ε G`` for every target.

With ``s = (1 + σ)/2`` and ``a = (1, t, σ) ∈ [−1,1]^D``, ``D = 1 + d + m``, the bilinear form is
``aᵀ M a`` (``M`` of RSL18a eq. 6) and the Shor SDP ``max ⟨M, P⟩, P ⪰ 0, diag P <= 1`` has, for
*any* multipliers ``c``, the closed-form dual bound ``D λ_max⁺(M − diag c) + Σ c⁺`` (eq. 15):
differentiable almost everywhere, so certified training (:mod:`qcqp.app.train`) minimises it
jointly with the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcqp import InputError, Problem
from qcqp.frontends.bounds import crown_bounds
from qcqp.frontends.network import Network, dense
from qcqp.frontends.specs import Box


def gradient_norm_problem(net: Network, c: np.ndarray, box: Box | None = None) -> Problem:
    """The QCQP whose maximum bounds ``max_{x ∈ box} ‖∇ₓ(c · f)‖₁``; without a box, over all of
    input space (every neuron free: RSL18a's data-independent bound)."""
    if len(net.weights) != 2 or [a.name for a in net.activations] != ["relu"]:
        raise InputError("MAXGRAD needs a two-layer ReLU network (one hidden layer)")
    W0, W1 = (dense(W) for W in net.weights)
    if box is None:
        on = off = np.zeros(W0.shape[0], bool)
    else:
        lo, hi = crown_bounds(net, box.lower, box.upper)[0]
        on, off = lo > 0, hi < 0
    v = W1.T @ np.asarray(c, float)
    p = Problem()
    t = p.variable("t", W0.shape[1], lower=-1.0, upper=1.0)
    s = p.variable("s", W0.shape[0], lower=np.where(on, 1.0, 0.0), upper=np.where(off, 0.0, 1.0))
    p.maximize(((W0 @ t) * v) @ s)
    unstable = np.flatnonzero(~(on | off))
    if unstable.size:
        p.subject_to(s[unstable] * s[unstable] == s[unstable], name="pattern_binary")
    return p


def maxgrad_certify(net: Network, box: Box, label: int, eps: float, backend: str = "sdp") -> tuple[bool, float]:
    """``(certified, worst margin lower bound)`` from ``margin(x₀) − ε · G_t`` over targets, with
    ``G_t`` bounded on this box (neurons stable on it are fixed)."""
    logits = net.forward(box.center)
    worst = np.inf
    for target in range(net.output_size):
        if target == label:
            continue
        c = np.eye(net.output_size)[label] - np.eye(net.output_size)[target]
        bound = gradient_norm_problem(net, c, box).solve(backend=backend).bound
        worst = min(worst, float(c @ logits) - eps * bound)
    return worst > 0, worst


def gradient_bounds(net: Network, backend: str = "sdp", **options) -> np.ndarray:
    """RSL18a's certificate matrix: ``G[a, b]`` bounds ``‖∇(f_a − f_b)‖₁`` on all of input space,
    one relaxation per class pair (rigorous bounds from ``backend``); symmetric, zero diagonal."""
    classes = net.output_size
    G = np.zeros((classes, classes))
    for a, b in class_pairs(classes):
        c = np.eye(classes)[a] - np.eye(classes)[b]
        G[a, b] = G[b, a] = gradient_norm_problem(net, c).solve(backend=backend, **options).bound
    return G


def certified_by_gradient_bounds(net: Network, inputs: np.ndarray, labels: np.ndarray, eps: float,
                                 G: np.ndarray) -> np.ndarray:
    """Which points ``margin(x) − ε G[y, ·] > 0`` proves robust on their ℓ∞ ball (any domain)."""
    logits = net.forward(np.asarray(inputs, float))
    rows, labels = np.arange(len(labels)), np.asarray(labels, int)
    worst = logits[rows, labels][:, None] - logits - eps * G[labels]
    worst[rows, labels] = np.inf
    return worst.min(axis=1) > 0


def class_pairs(classes: int) -> np.ndarray:
    """The unordered class pairs ``(a, b)``, ``a < b``: ``‖∇(f_a − f_b)‖₁`` is symmetric in them."""
    return np.array([(a, b) for a in range(classes) for b in range(a + 1, classes)])


def pair_matrices(W0: np.ndarray, W1: np.ndarray) -> np.ndarray:
    """RSL18a's ``M`` for ``v = W1[a] − W1[b]`` of every class pair, stacked: ``(pairs, D, D)``."""
    m, d = W0.shape
    pairs = class_pairs(W1.shape[0])
    v = W1[pairs[:, 0]] - W1[pairs[:, 1]]
    M = np.zeros((len(pairs), 1 + d + m, 1 + d + m))
    M[:, 0, 1:d + 1] = 0.25 * v @ W0
    M[:, 1:d + 1, d + 1:] = 0.25 * W0.T[None] * v[:, None, :]
    return M + M.transpose(0, 2, 1)


@dataclass(frozen=True)
class DualBounds:
    """Closed-form MAXGRAD dual bounds of every class pair for multipliers ``C`` (one row per pair).

    ``matrix[a, b]`` bounds ``max_x ‖∇ₓ(f_a − f_b)‖₁`` over all of input space (no neuron is
    taken as stable), so ``f_a(x) − f_b(x) >= f_a(x₀) − f_b(x₀) − ε · matrix[a, b]`` on the
    ℓ∞ ball. A regulariser for training: certificates come from the rigorous backends.
    """

    W0: np.ndarray
    W1: np.ndarray
    C: np.ndarray
    values: np.ndarray  # (pairs,)
    top: np.ndarray  # (pairs, D): the eigenvector of λ_max(M − diag c), zero where λ_max <= 0

    @classmethod
    def compute(cls, W0: np.ndarray, W1: np.ndarray, C: np.ndarray) -> DualBounds:
        A = pair_matrices(W0, W1)
        size = A.shape[1]
        A[:, np.arange(size), np.arange(size)] -= C
        eigenvalues, vectors = np.linalg.eigh(A)
        positive = eigenvalues[:, -1] > 0
        values = size * np.maximum(eigenvalues[:, -1], 0.0) + np.maximum(C, 0.0).sum(axis=1)
        return cls(W0, W1, C, values, vectors[:, :, -1] * positive[:, None])

    @property
    def matrix(self) -> np.ndarray:
        """The bounds as a symmetric ``(classes, classes)`` matrix with a zero diagonal."""
        classes = self.W1.shape[0]
        out = np.zeros((classes, classes))
        pairs = class_pairs(classes)
        out[pairs[:, 0], pairs[:, 1]] = out[pairs[:, 1], pairs[:, 0]] = self.values
        return out

    def backward(self, grad_matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(∂/∂W0, ∂/∂W1, ∂/∂C)`` of ``Σ grad_matrix[a, b] · matrix[a, b]``."""
        m, d = self.W0.shape
        pairs = class_pairs(self.W1.shape[0])
        weight = grad_matrix[pairs[:, 0], pairs[:, 1]] + grad_matrix[pairs[:, 1], pairs[:, 0]]
        size, u = 1 + d + m, self.top
        scale = size * weight  # ∂/∂M = scale · u uᵀ; M is linear in its blocks (0, t) and (t, σ)
        gamma_t = (scale * u[:, 0])[:, None] * u[:, 1:d + 1]  # (pairs, d)
        gamma_ts = scale[:, None, None] * u[:, d + 1:, None] * u[:, None, 1:d + 1]  # (pairs, m, d)
        S = gamma_t[:, None, :] + gamma_ts
        v = self.W1[pairs[:, 0]] - self.W1[pairs[:, 1]]
        dW0 = 0.5 * np.einsum("pk,pki->ki", v, S)
        dv = 0.5 * np.einsum("ki,pki->pk", self.W0, S)
        dW1 = np.zeros_like(self.W1)
        np.add.at(dW1, pairs[:, 0], dv)
        np.add.at(dW1, pairs[:, 1], -dv)
        dC = weight[:, None] * ((self.C > 0) - size * self.top**2)
        return dW0, dW1, dC
