"""Activation functions as plug-ins: forward pass, interval rule, linear bounds, QCQP encoding.

A new activation is one class registered with :func:`register_activation` (or advertised
in the ``qcqp.activations`` entry-point group); encoders, bound propagation, PGD and
every backend pick it up from here.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from qcqp import InputError, Problem, Registry, complements
from qcqp.expr import Affine

ACTIVATIONS = Registry("activation", "qcqp.activations",
                       builtins=("qcqp.frontends.piecewise", "qcqp.frontends.smooth"))


def for_op(kind: str, op: str) -> type[Activation] | None:
    """The registered activation class mapped from ONNX op ``op`` (``kind="onnx"``) or
    ``torch.nn`` class ``op`` (``kind="torch"``), or ``None``."""
    for name in ACTIVATIONS.names():
        cls = ACTIVATIONS.get(name)
        if op in (cls.onnx_ops if kind == "onnx" else cls.torch_modules):
            return cls
    return None


def register_activation(name: str):
    """Decorator registering an :class:`Activation` subclass under ``name``."""
    return ACTIVATIONS.register(name)


class Activation:
    """Interface of an elementwise activation ``σ``.

    Subclasses implement :meth:`forward`, :meth:`derivative`, :meth:`linear_bounds`
    (sound linear lower/upper bounds on ``[lo, hi]``, used for CROWN-style bound
    propagation) and :meth:`encode` (constraints tying ``z = σ(ŷ)`` in a Problem).
    ``piecewise_linear`` activations encoded by complementarities are solved exactly by
    the ``exact`` backend's MILP.
    """

    name: ClassVar[str] = ""
    piecewise_linear: ClassVar[bool] = False
    onnx_ops: ClassVar[tuple[str, ...]] = ()  # ONNX op types the loader maps to this activation
    torch_modules: ClassVar[tuple[str, ...]] = ()  # torch.nn class names the loader maps to it

    def params(self) -> tuple[float, ...]:
        """The parameters that distinguish instances (``"leaky_relu:0.2"`` has ``(0.2,)``)."""
        return ()

    @classmethod
    def from_onnx(cls, attributes: dict, constants: list, where: str) -> Activation:
        """An instance from an ONNX node's attributes (by name) and constant inputs."""
        return cls()

    @classmethod
    def from_torch(cls, module, where: str) -> Activation:
        """An instance from a ``torch.nn`` module."""
        return cls()

    def __str__(self) -> str:
        params = self.params()
        return self.name + (":" + ",".join(repr(float(p)) for p in params) if params else "")

    def __repr__(self) -> str:
        return f"Activation({str(self)!r})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = get_activation(other)
        return type(self) is type(other) and self.params() == other.params()

    def __hash__(self) -> int:
        return hash((type(self), self.params()))

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def interval(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Output bounds for a monotone activation (override otherwise)."""
        return self.forward(lo), self.forward(hi)

    def linear_bounds(self, lo: np.ndarray, hi: np.ndarray):
        """``(a_l, b_l, a_u, b_u)`` with ``a_l x + b_l <= σ(x) <= a_u x + b_u`` on ``[lo, hi]``."""
        raise NotImplementedError

    def lower_slope_range(self, lo: np.ndarray, hi: np.ndarray):
        """``(s_min, s_max)``: every ``s`` between them makes ``s x + b_l`` (``b_l`` from
        :meth:`linear_bounds`) a lower bound on ``[lo, hi]`` — the family optimised bounds
        choose from — or ``None`` when the activation offers no such family."""
        return None

    def encode(self, problem: Problem, pre: Affine, lo: np.ndarray, hi: np.ndarray, name: str) -> Affine:
        """Add variables and constraints tying ``z = σ(pre)`` to ``problem``; return ``z``.

        ``lo, hi`` bound ``pre`` soundly. Constraints that over-approximate the graph of
        ``σ`` (rather than describe it exactly) must be marked with
        :meth:`~qcqp.constraints.Constraint.approximating`, so that ``exact`` refuses them.
        """
        raise NotImplementedError


@register_activation("relu")
class ReLU(Activation):
    """``max(x, 0)``, encoded exactly as ``0 <= z ⊥ z − ŷ >= 0`` (RSL18b)."""

    name = "relu"
    piecewise_linear = True
    onnx_ops, torch_modules = ("Relu",), ("ReLU",)

    def forward(self, x):
        return np.maximum(x, 0.0)

    def derivative(self, x):
        return (x > 0).astype(float)

    def linear_bounds(self, lo, hi):
        unstable = (lo < 0) & (hi > 0)
        active = lo >= 0
        slope_u = np.where(unstable, hi / np.where(unstable, hi - lo, 1.0), active.astype(float))
        intercept_u = np.where(unstable, -slope_u * lo, 0.0)
        slope_l = np.where(unstable, (hi > -lo).astype(float), active.astype(float))
        return slope_l, np.zeros_like(lo), slope_u, intercept_u

    def lower_slope_range(self, lo, hi):
        unstable, active = (lo < 0) & (hi > 0), (lo >= 0).astype(float)
        return np.where(unstable, 0.0, active), np.where(unstable, 1.0, active)

    def encode(self, problem, pre, lo, hi, name):
        def unstable(pre_u, lo_u, hi_u):
            z = problem.variable(name, pre_u.size, lower=0.0, upper=hi_u)
            problem.subject_to(complements(z, z - pre_u, diff_bounds=(lo_u, hi_u)), name=name)
            return z

        return encode_by_phase(pre, lo, hi, active=1.0, inactive=0.0, unstable=unstable)


def _scatter(expr: Affine, rows: np.ndarray, size: int) -> Affine:
    placement = np.zeros((size, rows.size))
    placement[rows, np.arange(rows.size)] = 1.0
    return placement @ expr


def encode_by_phase(pre: Affine, lo: np.ndarray, hi: np.ndarray, active: float, inactive: float,
                    unstable) -> Affine:
    """``σ(pre)`` for a two-piece linear activation: ``active · pre`` where ``lo >= 0``,
    ``inactive · pre`` where ``hi <= 0`` (no variables, no constraints: stable neurons are
    affine on the box), and ``unstable(pre_u, lo_u, hi_u)`` for the rest."""
    size = pre.size
    out = Affine.constant(np.zeros(size))
    for rows, slope in ((np.flatnonzero(lo >= 0), active), (np.flatnonzero((hi <= 0) & (lo < 0)), inactive)):
        if rows.size and slope != 0.0:
            out = out + _scatter(pre[rows] * slope, rows, size)
    rows = np.flatnonzero((lo < 0) & (hi > 0))
    if rows.size:
        out = out + _scatter(unstable(pre[rows], lo[rows], hi[rows]), rows, size)
    return out


def widen_linear_bounds(a_l, b_l, a_u, b_u, lo, hi):
    """Move computed linear bounds outward by their rounding error over ``[lo, hi]``."""
    width = np.maximum(np.abs(lo), np.abs(hi))
    slack = 1e-12 * (1.0 + np.abs(b_l) + np.abs(b_u) + (np.abs(a_l) + np.abs(a_u)) * width)
    return a_l, b_l - slack, a_u, b_u + slack


def get_activation(name: str | Activation) -> Activation:
    """An instance of the activation ``name``; parameters follow a colon (``"leaky_relu:0.2"``)."""
    if isinstance(name, Activation):
        return name
    base, _, params = name.partition(":")
    cls = ACTIVATIONS.get(base)
    try:
        return cls(*[float(p) for p in params.split(",")]) if params else cls()
    except (TypeError, ValueError) as error:
        raise InputError(f"activation {name!r}: bad parameters ({error})") from None
