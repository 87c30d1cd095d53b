"""Boolean formulas over linear atoms in a network's inputs ``X`` and outputs ``Y``.

A VNN-LIB property is such a formula (the conjunction of its asserts); it describes the
*unsafe* set. The tree is kept as read so a counterexample is checked against the formula
itself, not against the normal form the verifier works on; :func:`disjunctive_normal_form`
gives that normal form, with a size guard. Coefficients and constants are exact rationals
(decimal literals as written), so the check is exact given rigorous output intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import product

import numpy as np

from qcqp import InputError

MAX_TERMS = 10_000  # disjunctive normal forms larger than this are refused, not built


@dataclass(frozen=True, eq=False)
class Atom:
    """``Σ x[i] X_i + Σ y[j] Y_j + const <= 0``, or ``< 0`` when ``strict`` (nonzero coefficients only)."""

    x: dict[int, Fraction]
    y: dict[int, Fraction]
    const: Fraction
    strict: bool = False

    def upper_value(self, x: np.ndarray, y_lo: np.ndarray, y_hi: np.ndarray) -> Fraction:
        """The largest value of the left-hand side at the point ``x`` for outputs in ``[y_lo, y_hi]``, exactly."""
        value = self.const + sum(a * Fraction(float(x[i])) for i, a in self.x.items())
        return value + sum(a * Fraction(float(y_hi[j] if a > 0 else y_lo[j])) for j, a in self.y.items())

    def surely_true(self, x: np.ndarray, y_lo: np.ndarray, y_hi: np.ndarray) -> bool:
        value = self.upper_value(x, y_lo, y_hi)
        return value < 0 if self.strict else value <= 0


@dataclass(frozen=True, eq=False)
class And:
    parts: tuple


@dataclass(frozen=True, eq=False)
class Or:
    parts: tuple


Formula = Atom | And | Or


def surely_satisfied(formula: Formula, x: np.ndarray, y_lo: np.ndarray, y_hi: np.ndarray) -> bool:
    """Does the point ``x``, whose outputs are known to lie in ``[y_lo, y_hi]``, satisfy the
    formula in real arithmetic? An atom counts as true only if its largest possible value
    is ``<= 0`` (``< 0`` if strict), so ``True`` is a proof."""
    if isinstance(formula, Atom):
        return formula.surely_true(x, y_lo, y_hi)
    values = (surely_satisfied(part, x, y_lo, y_hi) for part in formula.parts)
    return all(values) if isinstance(formula, And) else any(values)


def disjunctive_normal_form(formula: Formula, source: str = "formula") -> list[list[Atom]]:
    """The formula as a disjunction of conjunctions of atoms; more than ``MAX_TERMS`` terms
    is an :class:`InputError` raised before the product is built."""
    if isinstance(formula, Atom):
        return [[formula]]
    children = [disjunctive_normal_form(part, source) for part in formula.parts]
    count = (sum if isinstance(formula, Or) else np.prod)([float(len(child)) for child in children])
    if count > MAX_TERMS:
        raise InputError(f"{source}: the property's disjunctive normal form has {count:,.0f} terms "
                         f"(more than {MAX_TERMS:,}); split the file")
    if isinstance(formula, Or):
        return [term for child in children for term in child]
    return [[atom for term in combo for atom in term] for combo in product(*children)]
