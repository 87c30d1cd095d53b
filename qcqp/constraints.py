"""Constraints in canonical form: ``expr <= 0``, ``expr == 0``, and complementarity."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from qcqp.errors import InputError
from qcqp.expr import Affine, Quadratic, as_expression, joint_scope, vstack


@dataclass(frozen=True)
class Constraint:
    """Vector constraint ``expr <= 0`` or ``expr == 0`` (``sense`` is ``"<="`` or ``"=="``)."""

    expr: Affine | Quadratic
    sense: str
    name: str = ""
    approximation: str = ""  # non-empty: a sound over-approximation (why), which `exact` refuses

    def __post_init__(self):
        object.__setattr__(self, "expr", as_expression(self.expr))
        if self.sense not in ("<=", "=="):
            raise InputError(f"unknown constraint sense {self.sense!r}")

    @property
    def is_linear(self) -> bool:
        return isinstance(self.expr, Affine)

    @property
    def size(self) -> int:
        return self.expr.size

    def named(self, name: str) -> Constraint:
        return replace(self, name=name)

    def approximating(self, reason: str) -> Constraint:
        """Mark as an over-approximation of the true set (e.g. a sector bound on a sigmoid)."""
        return replace(self, approximation=reason)

    def violation(self, v: np.ndarray) -> np.ndarray:
        """Amount by which each row is violated at ``v`` (0 where satisfied)."""
        value = self.expr.evaluate(v)
        return np.abs(value) if self.sense == "==" else np.maximum(value, 0.0)

    def __bool__(self) -> bool:
        raise TypeError("a constraint has no truth value; pass it to Problem.subject_to")


@dataclass(frozen=True)
class Complementarity:
    """``0 <= f ⊥ g >= 0`` elementwise: ``f >= 0``, ``g >= 0``, ``f ⊙ g = 0``.

    ``diff_bounds`` are bounds on ``f − g`` valid on the feasible set (for a ReLU
    ``z = max(ŷ, 0)`` written as ``f = z``, ``g = z − ŷ`` they are the pre-activation
    bounds of ``ŷ``). They give the tight envelope ``f/U_f + g/U_g <= 1`` with
    ``U_f = max(0, hi)`` and ``U_g = max(0, −lo)`` (the triangle relaxation), the
    big-M constants of the exact MILP, and the SDP's lifted cut.
    """

    f: Affine
    g: Affine
    diff_bounds: tuple[np.ndarray, np.ndarray] | None = None
    name: str = ""

    def __post_init__(self):
        f, g = as_expression(self.f), as_expression(self.g)
        if not (isinstance(f, Affine) and isinstance(g, Affine)):
            raise InputError("complementarity needs two affine expressions")
        if f.size != g.size:
            raise InputError(f"complementarity sizes differ: {f.size} and {g.size}")
        joint_scope(f, g)
        object.__setattr__(self, "f", f)
        object.__setattr__(self, "g", g)
        if self.diff_bounds is not None:
            lo, hi = (np.broadcast_to(np.asarray(b, float), (f.size,)).copy()
                      for b in self.diff_bounds)
            if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
                raise InputError(f"complementarity {self.name!r}: invalid bounds on f − g")
            object.__setattr__(self, "diff_bounds", (lo, hi))

    @property
    def size(self) -> int:
        return self.f.size

    def named(self, name: str) -> Complementarity:
        return replace(self, name=name)

    def product(self) -> Quadratic:
        """``f ⊙ g``, which is zero on the feasible set."""
        return self.f * self.g

    def envelope(self) -> Affine:
        """Linear rows ``<= 0`` describing the convex hull given the bounds on ``f − g``.

        ``f >= 0``, ``g >= 0`` and ``f / U_f + g / U_g <= 1`` (the triangle relaxation
        for ReLU); a side whose bound is 0 is fixed to 0 instead.
        """
        lo, hi = self.diff_bounds
        Uf, Ug = np.maximum(hi, 0.0), np.maximum(-lo, 0.0)
        both = np.flatnonzero((Uf > 0) & (Ug > 0))
        parts = [-self.f, -self.g]
        if both.size:
            parts.append(self.f[both] * (1.0 / Uf[both]) + self.g[both] * (1.0 / Ug[both]) - (1.0 + 1e-12))
        for side, upper in ((self.f, Uf), (self.g, Ug)):
            zero = np.flatnonzero(upper == 0)
            if zero.size:
                parts.append(side[zero])
        return vstack(parts)

    def violation(self, v: np.ndarray) -> np.ndarray:
        f, g = self.f.evaluate(v), self.g.evaluate(v)
        return np.maximum.reduce([-f, -g, np.abs(np.minimum(np.maximum(f, 0), np.maximum(g, 0)))])


def complements(f, g, diff_bounds=None) -> Complementarity:
    """Elementwise complementarity ``0 <= f ⊥ g >= 0`` (e.g. ReLU: ``complements(z, z - W @ x)``)."""
    return Complementarity(f, g, diff_bounds)
