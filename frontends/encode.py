"""Compile a network over an input box into the QCQP IR (SDP-CERT's formulation, RSL18b)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from qcqp import BACKENDS, Affine, InputError, Problem, Relaxation, Result, Variable
from qcqp.expr import sum_squares
from qcqp.frontends.bounds import crown_bounds, interval_bounds
from qcqp.frontends.network import Network
from qcqp.frontends.specs import Box, Ellipsoid


@dataclass
class NetworkEncoding:
    """A Problem holding ``x`` in the box, the hidden layers' outputs, and the logits.

    ``hidden[k]`` is layer ``k``'s output as an affine map (stable neurons need no variable);
    ``pre_bounds[k]`` are the pre-activation bounds of layer ``k`` (the last entry bounds the
    logits). :meth:`solve` relaxes the network once per backend and only swaps objectives.
    """

    network: Network
    box: Box
    problem: Problem
    x: Variable
    hidden: list[Affine]
    logits: Affine
    pre_bounds: list[tuple[np.ndarray, np.ndarray]]
    relaxations: dict[str, Relaxation] = field(default_factory=dict, repr=False)

    def objective(self, c: np.ndarray, d: float = 0.0) -> Affine:
        """``c · logits + d`` (e.g. ``c = e_y − e_t`` for the margin)."""
        return np.asarray(c, float) @ self.logits + d

    def linear_objective(self, c: np.ndarray, d: float = 0.0) -> Problem:
        """A copy of the problem minimising ``c · logits + d`` (the encoding is unchanged)."""
        return self.problem.with_objective(self.objective(c, d), "min")

    def relaxation(self, backend: str) -> Relaxation:
        """The network's relaxation by ``backend``, built on first use and kept."""
        if backend not in self.relaxations:
            self.relaxations[backend] = BACKENDS.get(backend).relax(self.problem.compile())
        return self.relaxations[backend]

    def solve(self, backend: str, c: np.ndarray, d: float = 0.0, sense: str = "min", **options) -> Result:
        """Bound ``c · logits + d`` (below for ``"min"``, above for ``"max"``) with ``backend``."""
        BACKENDS.get(backend).check_options(options)
        return self.relaxation(backend).with_objective(self.objective(c, d), sense).solve(**options)


def encode_network(network: Network, box: Box, bounds: str | list = "crown") -> NetworkEncoding:
    """Encode ``network`` on ``box`` (an :class:`~qcqp.frontends.specs.Ellipsoid` adds its quadratic row;
    bound propagation uses its bounding box).

    ``bounds`` names the pre-activation bound method (``"interval"``, ``"crown"``,
    ``"lp"``) or gives the per-layer bounds themselves.
    """
    if box.lower.size != network.input_size:
        raise InputError(f"input box has size {box.lower.size}, network expects {network.input_size}")
    if isinstance(bounds, str):
        if bounds not in BOUND_METHODS:
            raise InputError(f"unknown bound method {bounds!r}; choose from {', '.join(BOUND_METHODS)}")
        pre_bounds = BOUND_METHODS[bounds](network, box.lower, box.upper)
    else:
        pre_bounds = list(bounds)
    pre_bounds = [_min_width(lo, hi) for lo, hi in pre_bounds]
    problem = Problem()
    x = problem.variable("x", network.input_size, lower=box.lower, upper=box.upper)
    if isinstance(box, Ellipsoid):  # ‖Lᵀ(x − x0)‖² <= 1: one quadratic row, exact in the Shor lifting
        problem.subject_to(sum_squares(box.L.T @ (x - box.center)) <= 1.0, name="input ellipsoid")
    h: Affine = x
    hidden = []
    for k, (W, b) in enumerate(zip(network.weights[:-1], network.biases[:-1])):
        lo, hi = pre_bounds[k]
        h = network.activation(k).encode(problem, W @ h + b, lo, hi, f"z{k + 1}")
        hidden.append(h)
    logits = network.weights[-1] @ h + network.biases[-1]
    return NetworkEncoding(network, box, problem, x, hidden, logits, pre_bounds)


MIN_WIDTH = 1e-6  # relative to 1 + |l| + |u|


def _min_width(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Widen pre-activation intervals whose width, or whose part on either side of 0, is a
    sliver below ``MIN_WIDTH`` (exact points, such as the 0 of a dead path, stay): slivers are
    rounding slack around a constant (max pooling's ``a − b`` of two dead inputs, or of ``a <= b``),
    and a variable of almost no width makes every relaxation ill-conditioned (HiGHS refuses the
    model, interior points stall). Widening an interval is always sound."""
    pad = MIN_WIDTH * (1 + np.abs(lo) + np.abs(hi))
    thin = (hi - lo < pad) & (hi > lo)
    lo, hi = np.where(thin, lo - pad, lo), np.where(thin, hi + pad, hi)
    return np.where((lo < 0) & (lo > -pad), -pad, lo), np.where((hi > 0) & (hi < pad), pad, hi)


def relaxation_bounds(network: Network, lo: np.ndarray, hi: np.ndarray, backend: str = "lp",
                      layers: int | None = None, deadline: float | None = None,
                      start: list | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation bounds from a relaxation (``backend``: ``"lp"``, ``"sdp"``, ...), one
    bound per side of each unstable neuron, for the first ``layers`` layers after the input
    layer (default: all, the logits included).

    Layer by layer: each layer's bounds feed the relaxation used for the next. Tighter than
    the ``start`` bounds (CROWN's by default), which are intersected in; neurons they already
    prove stable are skipped (the encoding treats them as affine maps, so their bounds never
    enter a relaxation). Every value is the backend's rigorous bound. At ``deadline``
    (``time.perf_counter`` seconds) the remaining neurons keep their ``start`` bounds.
    """
    box = Box(lo, hi, 0.5 * (lo + hi))
    bounds = list(start) if start is not None else crown_bounds(network, lo, hi)
    last = len(network.weights) - 1 if layers is None else min(layers, len(network.weights) - 1)
    for k in range(1, last + 1):
        if deadline is not None and time.perf_counter() >= deadline:
            break
        prefix = Network(network.weights[:k + 1], network.biases[:k + 1], network.activations[:k],
                         source=network.source)
        enc = encode_network(prefix, box, bounds[:k + 1])
        new_lo, new_hi = bounds[k][0].copy(), bounds[k][1].copy()
        hidden = k < len(network.activations)
        neurons = np.flatnonzero((new_lo < 0) & (new_hi > 0)) if hidden else np.arange(new_lo.size)
        rows = [enc.objective(np.eye(1, new_lo.size, j).ravel()) for j in neurons]
        relaxation = enc.relaxation(backend)
        new_lo[neurons] = np.maximum(new_lo[neurons], relaxation.bounds(rows, "min", deadline))
        new_hi[neurons] = np.minimum(new_hi[neurons], relaxation.bounds(rows, "max", deadline))
        bounds[k] = (new_lo, new_hi)
    return bounds


def lp_bounds(network: Network, lo: np.ndarray, hi: np.ndarray, deadline: float | None = None,
              start: list | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`relaxation_bounds` by the LP relaxation (the triangle relaxation of each
    activation), every layer."""
    return relaxation_bounds(network, lo, hi, "lp", deadline=deadline, start=start)


BOUND_METHODS = {"interval": interval_bounds, "crown": crown_bounds, "lp": lp_bounds}
