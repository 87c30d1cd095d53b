"""Sigmoid and tanh: slope-restricted (sector) quadratic constraints, after Fazlyab, Morari
& Pappas (2020). These over-approximate the graph, so ``exact`` refuses them."""

from __future__ import annotations

import numpy as np

from qcqp.frontends.activations import Activation, register_activation, widen_linear_bounds


class SShaped(Activation):
    """Monotone, convex for ``x < 0`` and concave for ``x > 0``, slope largest at 0."""

    def linear_bounds(self, lo, hi):
        mid = 0.5 * (lo + hi)
        f_lo, f_hi, f_mid, d_mid = self.forward(lo), self.forward(hi), self.forward(mid), self.derivative(mid)
        narrow = hi - lo < 1e-9
        chord = np.where(narrow, 0.0, (f_hi - f_lo) / np.where(narrow, 1.0, hi - lo))
        chord_b = f_lo - chord * lo
        tangent_b = f_mid - d_mid * mid
        concave, convex = (lo >= 0) & ~narrow, (hi <= 0) & ~narrow
        a_l = np.where(concave, chord, np.where(convex, d_mid, 0.0))
        b_l = np.where(concave, chord_b, np.where(convex, tangent_b, f_lo))
        a_u = np.where(concave, d_mid, np.where(convex, chord, 0.0))
        b_u = np.where(concave, tangent_b, np.where(convex, chord_b, f_hi))
        return widen_linear_bounds(a_l, b_l, a_u, b_u, lo, hi)

    def slopes(self, lo, hi):
        """Smallest and largest derivative on ``[lo, hi]`` (loosened against rounding)."""
        d_lo, d_hi = self.derivative(lo), self.derivative(hi)
        steepest = self.derivative(np.clip(0.0, lo, hi))
        return np.minimum(d_lo, d_hi) * (1 - 1e-12), steepest * (1 + 1e-12)

    def encode(self, problem, pre, lo, hi, name):
        f_lo, f_hi = self.forward(lo), self.forward(hi)
        z = problem.variable(name, pre.size, lower=np.nextafter(f_lo, -np.inf) - 1e-15,
                             upper=np.nextafter(f_hi, np.inf) + 1e-15)
        a_l, b_l, a_u, b_u = self.linear_bounds(lo, hi)
        problem.subject_to(z >= a_l * pre + b_l, z <= a_u * pre + b_u, name=f"{name}_linear")
        alpha, beta = self.slopes(lo, hi)
        center = 0.5 * (lo + hi)
        offset = z - self.forward(center)
        sector = (offset - alpha * (pre - center)) * (offset - beta * (pre - center)) <= 1e-12
        problem.subject_to(sector.approximating(f"a sector bound on {self.name}"), name=f"{name}_sector")
        return z


@register_activation("sigmoid")
class Sigmoid(SShaped):
    name = "sigmoid"
    onnx_ops, torch_modules = ("Sigmoid",), ("Sigmoid",)

    def forward(self, x):
        return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, float)))

    def derivative(self, x):
        s = self.forward(x)
        return s * (1.0 - s)


@register_activation("tanh")
class Tanh(SShaped):
    name = "tanh"
    onnx_ops, torch_modules = ("Tanh",), ("Tanh",)

    def forward(self, x):
        return np.tanh(x)

    def derivative(self, x):
        return 1.0 - np.tanh(x) ** 2
