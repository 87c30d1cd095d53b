"""Piecewise-linear activations beyond ReLU, encoded exactly by complementarities."""

from __future__ import annotations

import numpy as np

from qcqp import InputError, complements
from qcqp.frontends.activations import Activation, encode_by_phase, register_activation, widen_linear_bounds


@register_activation("leaky_relu")
class LeakyReLU(Activation):
    """``max(x, α x)`` for ``0 <= α < 1``: ``0 <= z − ŷ ⊥ z − α ŷ >= 0``."""

    name = "leaky_relu"
    piecewise_linear = True
    onnx_ops, torch_modules = ("LeakyRelu",), ("LeakyReLU",)

    def __init__(self, alpha: float = 0.01):
        if not 0 <= alpha < 1:
            raise InputError(f"leaky_relu slope must be in [0, 1), got {alpha}")
        self.alpha = float(alpha)

    def params(self):
        return (self.alpha,)

    @classmethod
    def from_onnx(cls, attributes, constants, where):
        return cls(attributes["alpha"].f if "alpha" in attributes else 0.01)

    @classmethod
    def from_torch(cls, module, where):
        return cls(module.negative_slope)

    def forward(self, x):
        return np.maximum(x, self.alpha * x)

    def derivative(self, x):
        return np.where(x > 0, 1.0, self.alpha)

    def linear_bounds(self, lo, hi):
        a = self.alpha
        unstable = (lo < 0) & (hi > 0)
        span = np.where(unstable, hi - lo, 1.0)
        slope_u = np.where(unstable, (hi - a * lo) / span, np.where(lo >= 0, 1.0, a))
        intercept_u = np.where(unstable, a * lo - slope_u * lo, 0.0)
        slope_l = np.where(unstable, np.where(hi > -lo, 1.0, a), np.where(lo >= 0, 1.0, a))
        return widen_linear_bounds(slope_l, np.zeros_like(lo), slope_u, intercept_u, lo, hi)

    def lower_slope_range(self, lo, hi):
        unstable, stable = (lo < 0) & (hi > 0), np.where(lo >= 0, 1.0, self.alpha)
        return np.where(unstable, self.alpha, stable), np.where(unstable, 1.0, stable)

    def encode(self, problem, pre, lo, hi, name):
        def unstable(pre_u, lo_u, hi_u):
            z = problem.variable(name, pre_u.size, lower=self.forward(lo_u), upper=self.forward(hi_u))
            diff = ((self.alpha - 1) * hi_u, (self.alpha - 1) * lo_u)  # (z − ŷ) − (z − α ŷ) = (α − 1) ŷ
            problem.subject_to(complements(z - pre_u, z - self.alpha * pre_u, diff_bounds=diff), name=name)
            return z

        return encode_by_phase(pre, lo, hi, active=1.0, inactive=self.alpha, unstable=unstable)


@register_activation("hardtanh")
class HardTanh(Activation):
    """``clip(x, −1, 1) = x − relu(x − 1) + relu(−x − 1)``: two ReLU complementarities."""

    name = "hardtanh"
    piecewise_linear = True
    onnx_ops, torch_modules = ("Clip",), ("Hardtanh",)

    @classmethod
    def from_onnx(cls, attributes, constants, where):
        bounds = [attributes[k].f for k in ("min", "max") if k in attributes] or [float(np.ravel(c)[0])
                                                                                  for c in constants]
        if bounds != [-1.0, 1.0]:
            raise InputError(f"{where}: only Clip(-1, 1) (hard-tanh) is supported, got {bounds}")
        return cls()

    @classmethod
    def from_torch(cls, module, where):
        if (module.min_val, module.max_val) != (-1.0, 1.0):
            raise InputError(f"{where}: Hardtanh range must be (-1, 1)")
        return cls()

    def forward(self, x):
        return np.clip(x, -1.0, 1.0)

    def derivative(self, x):
        return ((x > -1) & (x < 1)).astype(float)

    def linear_bounds(self, lo, hi):
        inside = (lo >= -1) & (hi <= 1)
        slope = inside.astype(float)
        return widen_linear_bounds(slope, np.where(inside, 0.0, self.forward(lo)),
                                   slope, np.where(inside, 0.0, self.forward(hi)), lo, hi)

    def encode(self, problem, pre, lo, hi, name):
        p = problem.variable(f"{name}_over", pre.size, lower=0.0, upper=np.maximum(hi - 1, 0.0))
        q = problem.variable(f"{name}_under", pre.size, lower=0.0, upper=np.maximum(-lo - 1, 0.0))
        problem.subject_to(complements(p, p - (pre - 1.0), diff_bounds=(lo - 1, hi - 1)), name=f"{name}_over")
        problem.subject_to(complements(q, q - (-1.0 - pre), diff_bounds=(-hi - 1, -lo - 1)), name=f"{name}_under")
        return pre - p + q
