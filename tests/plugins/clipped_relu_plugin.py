"""An out-of-tree activation and backend, registered only through entry points.

The test suite installs this module as a distribution (a ``.dist-info`` folder on
``sys.path``) advertising ``qcqp.activations: clipped_relu`` and ``qcqp.backends:
interval``; nothing in qcqp, its front ends or its backends is edited.
"""

from __future__ import annotations

import numpy as np

import qcqp
from qcqp.frontends.activations import Activation
from qcqp.interval import affine_bounds
from qcqp.safe import loosen_upper


class ClippedReLU(Activation):
    """``min(max(x, 0), 1) = relu(x) − relu(x − 1)``: two complementarities, exact in the MILP."""

    name = "clipped_relu"
    piecewise_linear = True

    def forward(self, x):
        return np.clip(x, 0.0, 1.0)

    def derivative(self, x):
        return ((x > 0) & (x < 1)).astype(float)

    def linear_bounds(self, lo, hi):
        return np.zeros_like(lo), self.forward(lo), np.zeros_like(hi), self.forward(hi)

    def encode(self, problem, pre, lo, hi, name):
        on = problem.variable(f"{name}_on", pre.size, lower=0.0, upper=np.maximum(hi, 0.0))
        over = problem.variable(f"{name}_over", pre.size, lower=0.0, upper=np.maximum(hi - 1.0, 0.0))
        problem.subject_to(qcqp.complements(on, on - pre, diff_bounds=(lo, hi)), name=f"{name}_on")
        problem.subject_to(qcqp.complements(over, over - (pre - 1.0), diff_bounds=(lo - 1, hi - 1)),
                           name=f"{name}_over")
        return on - over


def interval_backend(ir, **options):
    """A toy backend: the objective's interval bound over the box (linear objectives only)."""
    if ir.objective.products:
        raise qcqp.InputError("interval backend: linear objectives only")
    ir.require_bounds("interval")
    _, hi = affine_bounds(ir.objective.affine.A, ir.objective.affine.a, ir.lower, ir.upper)
    return qcqp.Result("interval", qcqp.Status.OPTIMAL, ir.user_value(loosen_upper(float(hi[0]))))
