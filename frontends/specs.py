"""Input sets and properties: boxes (ℓ∞ balls), ellipsoids (ℓ2 balls), margin specifications and
the properties VNNLIB files describe (read by :mod:`qcqp.frontends.vnnlib`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcqp import InputError
from qcqp.frontends.bounds import interval_bounds
from qcqp.frontends.formula import Formula, surely_satisfied
from qcqp.frontends.network import Network
from qcqp.interval import affine_bounds


@dataclass(frozen=True)
class Box:
    """``lower <= x <= upper`` with the nominal point ``center`` inside it."""

    lower: np.ndarray
    upper: np.ndarray
    center: np.ndarray

    def contains(self, x: np.ndarray, tol: float = 0.0) -> bool:
        return bool(np.all(x >= self.lower - tol) and np.all(x <= self.upper + tol))

    def pull_inside(self, x: np.ndarray) -> np.ndarray:
        """A point of the set near each row of ``x`` (here: clipped to the box)."""
        return np.clip(x, self.lower, self.upper)

    def descent_step(self, x: np.ndarray, gradient: np.ndarray, fraction: float) -> np.ndarray:
        """``x`` moved against ``gradient`` by ``fraction`` of the set's size, back in the set
        (the signed step: steepest descent in the ℓ∞ norm)."""
        return self.pull_inside(x - fraction * (self.upper - self.lower) * np.sign(gradient))

    def describe(self) -> str:
        return "box"


@dataclass(frozen=True)
class Ellipsoid(Box):
    """``{x in the box : (x − center)ᵀ Q (x − center) <= 1}``; the box is the data domain
    intersected with the ellipsoid's bounding box, which bound propagation and ``lp`` use."""

    Q: np.ndarray | None = None
    L: np.ndarray | None = None  # Q = L Lᵀ (lower Cholesky factor)
    label: str = "ellipsoid"

    def quadratic(self, x: np.ndarray) -> np.ndarray:
        """``(x − center)ᵀ Q (x − center)`` for every row of ``x`` (not rigorous: see :meth:`contains`)."""
        d = np.atleast_2d(x) - self.center
        return np.sum((d @ self.L) ** 2, axis=1)

    def contains(self, x: np.ndarray, tol: float = 0.0) -> bool:
        """In the box and in the ellipsoid, the quadratic with a floating-point error bound
        (``γ_{n+2} · |d|ᵀ|Q||d|``) charged against membership."""
        if not super().contains(x, tol):
            return False
        d = np.asarray(x, float) - self.center
        error = 2 * (d.size + 2) * np.finfo(float).eps * (np.abs(d) @ np.abs(self.Q) @ np.abs(d))
        return bool(d @ (self.Q @ d) + error <= 1.0 + tol)

    def pull_inside(self, x: np.ndarray) -> np.ndarray:
        """Clip to the box, then shrink towards the centre (which is in the box) into the ellipsoid."""
        clipped = np.clip(x, self.lower, self.upper)
        q = self.quadratic(clipped)
        scale = np.where(q > INSIDE**2, INSIDE / np.sqrt(np.maximum(q, 1e-300)), 1.0)
        pulled = self.center + (np.atleast_2d(clipped) - self.center) * scale[:, None]
        return pulled if clipped.ndim == 2 else pulled[0]

    def descent_step(self, x: np.ndarray, gradient: np.ndarray, fraction: float) -> np.ndarray:
        """Steepest descent in the ellipsoid's norm: ``Q⁻¹g / ‖g‖_{Q⁻¹}``, ``2·fraction`` of its radius."""
        g = np.atleast_2d(gradient)
        direction = np.linalg.solve(self.L.T, np.linalg.solve(self.L, g.T)).T  # Q⁻¹ g
        norm = np.sqrt(np.maximum(np.sum(g * direction, axis=1), 1e-300))
        return self.pull_inside(x - 2 * fraction * direction / norm[:, None])

    def describe(self) -> str:
        return self.label


INSIDE = 1.0 - 1e-9  # pulled-in points sit strictly inside the ellipsoid (rounding margin)


def ellipsoid(x0, Q, domain: tuple[float, float] = (0.0, 1.0), label: str = "ellipsoid") -> Ellipsoid:
    """``{x : (x − x0)ᵀ Q (x − x0) <= 1} ∩ domain`` for a symmetric positive definite ``Q``."""
    x0 = _point(x0, domain)
    Q = np.asarray(Q, dtype=float)
    if Q.shape != (x0.size, x0.size) or not np.all(np.isfinite(Q)) or not np.allclose(Q, Q.T):
        raise InputError(f"ellipsoid matrix must be a finite symmetric {x0.size} x {x0.size} matrix")
    try:
        L = np.linalg.cholesky(Q)
    except np.linalg.LinAlgError:
        raise InputError("ellipsoid matrix must be positive definite") from None
    radius = np.sqrt(np.diag(np.linalg.inv(Q)))
    lo, hi = domain
    return Ellipsoid(np.maximum(x0 - radius, lo), np.minimum(x0 + radius, hi), x0, Q, L, label)


def l2_ball(x0, eps: float, domain: tuple[float, float] = (0.0, 1.0)) -> Ellipsoid:
    """``{x : ‖x − x0‖₂ <= ε} ∩ domain``."""
    if not np.isfinite(eps) or eps <= 0:
        raise InputError(f"eps must be a finite number > 0 for an l2 ball, got {eps}")
    n = np.asarray(x0).size
    return ellipsoid(x0, np.eye(n) / eps**2, domain, f"l2 ball, eps {eps:g}")


def _point(x0, domain: tuple[float, float]) -> np.ndarray:
    x0 = np.asarray(x0, dtype=float).reshape(-1)
    if not np.all(np.isfinite(x0)):
        raise InputError("input point contains NaN or infinite values")
    lo, hi = domain
    if np.any(x0 < lo) or np.any(x0 > hi):
        raise InputError(f"input point lies outside the data domain [{lo}, {hi}]")
    return x0


def linf_ball(x0, eps: float, domain: tuple[float, float] = (0.0, 1.0)) -> Box:
    """``[x0 − ε, x0 + ε] ∩ domain``."""
    x0 = _point(x0, domain)
    if not np.isfinite(eps) or eps < 0:
        raise InputError(f"eps must be a finite number >= 0, got {eps}")
    lo, hi = domain
    return Box(np.maximum(x0 - eps, lo), np.minimum(x0 + eps, hi), x0)


Atom = tuple[np.ndarray, float]  # a · Y + b <= 0 is unsafe


@dataclass(frozen=True)
class Specification:
    """An input box and an *unsafe* output region: a disjunction of conjunctions of
    atoms ``a · Y + b <= 0``. The property holds when no input reaches the region, which
    is proven for a disjunct once ``min (a · Y + b) > 0`` for one of its atoms.

    ``index`` numbers specifications within a run; ``source`` names where it came from.
    A specification read from a file keeps the file's ``formula``, against which
    counterexamples are checked, and ``inner``, its box rounded inward (points there are
    surely in the file's input region; ``box`` is rounded outward for proofs).
    """

    box: Box
    disjuncts: tuple[tuple[Atom, ...], ...]
    label: int | None = None
    source: str = ""
    index: int = 0
    formula: Formula | None = None
    inner: Box | None = None

    @property
    def atoms(self) -> list[Atom]:
        return [atom for atoms in self.disjuncts for atom in atoms]

    @property
    def parts(self) -> tuple[Specification, ...]:
        return (self,)

    def counterexample(self, net: Network, x: np.ndarray) -> np.ndarray | None:
        """``x`` (in ``box``; moved into ``inner`` where given) if it reaches the unsafe region rigorously.

        The forward pass runs in interval arithmetic on the point ``[x, x]`` with outward
        rounding, and every atom counts only if even its largest real value is ``<= 0``; a
        float forward pass alone could be fooled by rounding at margins near 1e-15. With a
        ``formula``, the formula itself (inputs included) is evaluated, not the disjuncts.
        """
        x = np.asarray(x, dtype=float)
        if not self.box.contains(x):
            return None
        if self.inner is not None:
            x = np.clip(x, self.inner.lower, self.inner.upper)
        y_lo, y_hi = interval_bounds(net, x, x)[-1]
        if self.formula is not None:
            return x if surely_satisfied(self.formula, x, y_lo, y_hi) else None
        reached = any(all(affine_bounds(a[None, :], np.array([b]), y_lo, y_hi)[1][0] <= 0 for a, b in atoms)
                      for atoms in self.disjuncts)
        return x if reached else None

    def falsified_by(self, net: Network, x: np.ndarray) -> bool:
        """Does ``x`` itself reach the unsafe region, rigorously (see :meth:`counterexample`)?"""
        found = self.counterexample(net, x)
        return found is not None and bool(np.array_equal(found, x))


@dataclass(frozen=True)
class Property:
    """A property as VNN-LIB defines it: unsafe if any part's region is reached. Each part is
    a :class:`Specification` over one input box (a union of boxes gives several parts)."""

    parts: tuple[Specification, ...]
    formula: Formula
    label: int | None = None
    source: str = ""
    index: int = 0

    def only_part(self) -> Specification:
        """The single part of a one-box property (an :class:`InputError` for a union of boxes)."""
        if len(self.parts) != 1:
            raise InputError(f"{self.source}: the input region is a union of {len(self.parts)} boxes; "
                             "expected one")
        return self.parts[0]


def margin_spec(box: Box, label: int, classes: int, index: int = 0, source: str = "") -> Specification:
    """Unsafe iff some ``logit[t] >= logit[label]``: one atom ``logit[y] − logit[t] <= 0`` per target."""
    if not 0 <= label < classes:
        raise InputError(f"label {label} of instance {index} is out of range 0..{classes - 1}")
    eye = np.eye(classes)
    disjuncts = tuple(((eye[label] - eye[t], 0.0),) for t in range(classes) if t != label)
    return Specification(box, disjuncts, label, source, index)
