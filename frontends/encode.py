"""Compile a network over an input box into the QCQP IR (SDP-CERT's formulation, RSL18b)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qcqp.frontends.bounds import crown_bounds, interval_bounds
from qcqp.frontends.network import Network
from qcqp.frontends.specs import Box

from qcqp import Affine, Problem, Variable

BOUND_METHODS = {"interval": interval_bounds, "crown": crown_bounds}


@dataclass
class NetworkEncoding:
    """A Problem holding ``x`` in the box, one variable per hidden layer, and the logits.

    ``pre_bounds[k]`` are the pre-activation bounds of layer ``k`` (the last entry bounds
    the logits); set an objective with :meth:`linear_objective`.
    """

    network: Network
    box: Box
    problem: Problem
    x: Variable
    hidden: list[Variable]
    logits: Affine
    pre_bounds: list[tuple[np.ndarray, np.ndarray]]

    def linear_objective(self, c: np.ndarray, d: float = 0.0) -> Problem:
        """Minimise ``c · logits + d`` (e.g. ``c = e_y − e_t`` for the margin)."""
        self.problem.minimize(np.asarray(c, float) @ self.logits + d)
        return self.problem


def encode_network(network: Network, box: Box, bounds: str = "crown") -> NetworkEncoding:
    """Encode ``network`` on ``box``; ``bounds`` picks the pre-activation bound method."""
    if box.lower.size != network.input_size:
        raise ValueError(f"input box has size {box.lower.size}, network expects {network.input_size}")
    pre_bounds = BOUND_METHODS[bounds](network, box.lower, box.upper)
    problem = Problem()
    x = problem.variable("x", network.input_size, lower=box.lower, upper=box.upper)
    h: Affine = x
    hidden = []
    for k, (W, b) in enumerate(zip(network.weights[:-1], network.biases[:-1])):
        lo, hi = pre_bounds[k]
        h = network.activation(k).encode(problem, W @ h + b, lo, hi, f"z{k + 1}")
        hidden.append(h)
    logits = network.weights[-1] @ h + network.biases[-1]
    return NetworkEncoding(network, box, problem, x, hidden, logits, pre_bounds)
