"""Input sets and properties: boxes (ℓ∞ balls), ellipsoids (ℓ2 balls) and VNN-COMP VNNLIB files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qcqp import InputError
from qcqp.frontends.bounds import interval_bounds
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
    """

    box: Box
    disjuncts: tuple[tuple[Atom, ...], ...]
    label: int | None = None
    source: str = ""
    index: int = 0

    @property
    def atoms(self) -> list[Atom]:
        return [atom for atoms in self.disjuncts for atom in atoms]

    def falsified_by(self, net: Network, x: np.ndarray) -> bool:
        """Does ``x`` (in the box) reach the unsafe region, rigorously?

        The forward pass runs in interval arithmetic on the point ``[x, x]`` with outward
        rounding, so a counterexample is reported only if even the largest real value of
        every atom in some disjunct is ``<= 0``; a float forward pass alone could be fooled
        by rounding at margins near 1e-15.
        """
        if not self.box.contains(x):
            return False
        y_lo, y_hi = interval_bounds(net, x, x)[-1]
        return any(all(affine_bounds(a[None, :], np.array([b]), y_lo, y_hi)[1][0] <= 0 for a, b in atoms)
                   for atoms in self.disjuncts)


def margin_spec(box: Box, label: int, classes: int, index: int = 0, source: str = "") -> Specification:
    """Unsafe iff some ``logit[t] >= logit[label]``: one atom ``logit[y] − logit[t] <= 0`` per target."""
    if not 0 <= label < classes:
        raise InputError(f"label {label} of instance {index} is out of range 0..{classes - 1}")
    eye = np.eye(classes)
    disjuncts = tuple(((eye[label] - eye[t], 0.0),) for t in range(classes) if t != label)
    return Specification(box, disjuncts, label, source, index)


_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def _parse_sexprs(text: str, source: str):
    text = re.sub(r";[^\n]*", "", text)
    stack: list[list] = [[]]
    for token in _TOKEN.findall(text):
        if token == "(":
            stack.append([])
        elif token == ")":
            if len(stack) == 1:
                raise InputError(f"{source}: unbalanced ')'")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(token)
    if len(stack) != 1:
        raise InputError(f"{source}: unbalanced '(' ({len(stack) - 1} left open)")
    return stack[0]


def load_vnnlib(path: str | Path, n_inputs: int, n_outputs: int, index: int = 0) -> Specification:
    """Parse a VNN-COMP property over ``X_0..X_{n-1}`` and ``Y_0..Y_{m-1}``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such VNNLIB file")
    text = path.read_text()
    source = str(path)
    label = re.search(r"label:\s*(\d+)", text)
    lower, upper = np.full(n_inputs, -np.inf), np.full(n_inputs, np.inf)
    disjuncts = []
    for form in _parse_sexprs(text, source):
        if not isinstance(form, list) or not form:
            raise InputError(f"{source}: unexpected top-level token {form!r}")
        if form[0] == "declare-const":
            _check_declaration(form, n_inputs, n_outputs, source)
        elif form[0] == "assert":
            if len(form) != 2:
                raise InputError(f"{source}: assert takes one formula")
            _assert(form[1], lower, upper, disjuncts, n_outputs, source)
        else:
            raise InputError(f"{source}: unsupported command {form[0]!r}")
    if np.any(~np.isfinite(lower)) or np.any(~np.isfinite(upper)):
        missing = int(np.flatnonzero(~(np.isfinite(lower) & np.isfinite(upper)))[0])
        raise InputError(f"{source}: input X_{missing} has no lower or upper bound")
    if np.any(lower > upper):
        raise InputError(f"{source}: empty input box at X_{int(np.flatnonzero(lower > upper)[0])}")
    if not disjuncts:
        raise InputError(f"{source}: no output constraint found")
    box = Box(lower, upper, 0.5 * (lower + upper))
    return Specification(box, tuple(disjuncts), int(label.group(1)) if label else None, source, index)


def _check_declaration(form, n_inputs, n_outputs, source):
    if len(form) != 3 or form[2] != "Real":
        raise InputError(f"{source}: malformed declaration {form}")
    kind, index = _variable(form[1], source)
    if index >= (n_inputs if kind == "X" else n_outputs):
        raise InputError(f"{source}: {form[1]} exceeds the network's "
                         f"{n_inputs if kind == 'X' else n_outputs} {'inputs' if kind == 'X' else 'outputs'}")


def _variable(token, source):
    match = re.fullmatch(r"([XY])_(\d+)", token) if isinstance(token, str) else None
    if not match:
        raise InputError(f"{source}: expected X_i or Y_j, got {token!r}")
    return match.group(1), int(match.group(2))


def _number(token, source) -> float:
    try:
        value = float(token)
    except (TypeError, ValueError):
        raise InputError(f"{source}: expected a number, got {token!r}") from None
    if not np.isfinite(value):
        raise InputError(f"{source}: non-finite constant {token!r}")
    return value


def _assert(formula, lower, upper, disjuncts, n_outputs, source):
    if not isinstance(formula, list) or not formula:
        raise InputError(f"{source}: malformed assertion {formula!r}")
    head = formula[0]
    if head == "or":
        for part in formula[1:]:
            disjuncts.append(_conjunction(part, n_outputs, source))
        return
    if head in ("<=", ">=") and any(isinstance(t, str) and t.startswith("X_") for t in formula[1:]):
        _input_bound(formula, lower, upper, source)
        return
    disjuncts.append(_conjunction(formula, n_outputs, source))


def _input_bound(formula, lower, upper, source):
    if len(formula) != 3:
        raise InputError(f"{source}: malformed input bound {formula}")
    op, left, right = formula
    if isinstance(left, str) and left.startswith("X_"):
        _, i = _variable(left, source)
        value, is_upper = _number(right, source), op == "<="
    else:
        _, i = _variable(right, source)
        value, is_upper = _number(left, source), op == ">="
    if i >= lower.size:
        raise InputError(f"{source}: X_{i} exceeds the network's {lower.size} inputs")
    if is_upper:
        upper[i] = min(upper[i], value)
    else:
        lower[i] = max(lower[i], value)


def _conjunction(formula, n_outputs, source):
    atoms = formula[1:] if formula and formula[0] == "and" else [formula]
    return tuple(_output_atom(atom, n_outputs, source) for atom in atoms)


def _output_atom(atom, n_outputs, source) -> tuple[np.ndarray, float]:
    """``(a, b)`` with the atom equivalent to ``a · Y + b <= 0``."""
    if not isinstance(atom, list) or len(atom) != 3 or atom[0] not in ("<=", ">="):
        raise InputError(f"{source}: unsupported output constraint {atom!r}")
    op, left, right = atom
    a, b = np.zeros(n_outputs), 0.0
    for token, sign in ((left, 1.0), (right, -1.0)):
        if isinstance(token, str) and token.startswith("Y_"):
            _, j = _variable(token, source)
            if j >= n_outputs:
                raise InputError(f"{source}: Y_{j} exceeds the network's {n_outputs} outputs")
            a[j] += sign
        else:
            b += sign * _number(token, source)
    return (a, b) if op == "<=" else (-a, -b)
