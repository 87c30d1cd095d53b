"""MAXGRAD (Raghunathan, Steinhardt & Liang 2018a): bound the margin's gradient on a box.

For a two-layer net ``f(x) = W₁ relu(W₀ x + b₀) + b₁`` and a margin ``c · f``, the gradient
is ``W₀ᵀ diag(s) W₁ᵀ c`` with ``s`` the activation pattern, so
``max_x ‖∇(c · f)‖₁ <= max_{t ∈ [−1,1]^d, s ∈ {0,1}^m} tᵀ W₀ᵀ diag(W₁ᵀc) s`` — a box-constrained
bilinear QCQP; neurons that are stable on the box fix their ``s_j``. Since ``f`` is
piecewise linear, ``c · f(x) >= c · f(x₀) − ‖x − x₀‖∞ · G`` for any bound ``G``; the
instance is certified when ``c · f(x₀) > ε G`` for every target.
"""

from __future__ import annotations

import numpy as np

from qcqp import InputError, Problem
from qcqp.frontends.bounds import crown_bounds
from qcqp.frontends.network import Network, dense
from qcqp.frontends.specs import Box


def gradient_norm_problem(net: Network, c: np.ndarray, box: Box) -> Problem:
    """The QCQP whose maximum bounds ``max_{x ∈ box} ‖∇ₓ(c · f)‖₁``."""
    if len(net.weights) != 2 or [a.name for a in net.activations] != ["relu"]:
        raise InputError("MAXGRAD needs a two-layer ReLU network (one hidden layer)")
    W0, W1 = (dense(W) for W in net.weights)
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
    """``(certified, worst margin lower bound)`` from ``margin(x₀) − ε · G_t`` over targets."""
    logits = net.forward(box.center)
    worst = np.inf
    for target in range(net.output_size):
        if target == label:
            continue
        c = np.eye(net.output_size)[label] - np.eye(net.output_size)[target]
        bound = gradient_norm_problem(net, c, box).solve(backend=backend).bound
        worst = min(worst, float(c @ logits) - eps * bound)
    return worst > 0, worst
