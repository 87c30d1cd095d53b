"""VNN-LIB properties read as the standard defines them.

The file declares ``X_i`` (inputs) and ``Y_j`` (outputs) and asserts formulas; the *unsafe*
set is the conjunction of all asserts, each of which may nest ``and`` / ``or`` / ``not`` over
comparisons (``<=``, ``>=``, ``<``, ``>``, ``=``, chains allowed) of linear terms (``+``, ``-``,
``*`` by a constant). The property holds when no input reaches that set. The formula is put
in disjunctive normal form; every term must bound each input on its own (a box) and may
constrain the outputs linearly; terms are grouped by their box, so a union of boxes becomes
one :class:`~qcqp.frontends.specs.Specification` per box. Constructs outside this (an atom
mixing inputs and outputs, a linear constraint over several inputs) are refused with one
line naming them. ``.vnnlib.gz`` is read as the competition ships it.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from qcqp import InputError
from qcqp.frontends.formula import And, Atom, Formula, Or, disjunctive_normal_form
from qcqp.frontends.specs import Box, Property, Specification

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_IGNORED = {"check-sat", "exit", "get-model", "set-info", "set-logic", "set-option"}
_COMPARISONS = {"<=", ">=", "<", ">", "="}


def load_vnnlib(path: str | Path, n_inputs: int, n_outputs: int, index: int = 0) -> Property:
    """Read a VNN-LIB file over ``X_0..X_{n-1}`` and ``Y_0..Y_{m-1}`` into a :class:`Property`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such VNNLIB file")
    try:
        text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not a readable VNNLIB file ({error})") from None
    reader = _Reader(str(path), n_inputs, n_outputs)
    formula = reader.read(text)
    found = re.search(r"label:\s*(\d+)", text)
    label = int(found.group(1)) if found else None
    parts = _parts(formula, n_inputs, n_outputs, Specification(None, (), label, str(path), index, formula))
    return Property(parts, formula, label, str(path), index)


class _Reader:
    """S-expressions to a formula tree over the network's variables."""

    def __init__(self, source: str, n_inputs: int, n_outputs: int):
        self.source, self.sizes = source, {"X": n_inputs, "Y": n_outputs}

    def fail(self, message: str):
        raise InputError(f"{self.source}: {message}")

    def read(self, text: str) -> Formula:
        asserts = []
        for form in _parse_sexprs(text, self.source):
            if not isinstance(form, list) or not form:
                self.fail(f"unexpected top-level token {form!r}")
            if form[0] == "declare-const":
                self.declare(form)
            elif form[0] == "assert":
                if len(form) != 2:
                    self.fail("assert takes one formula")
                asserts.append(self.formula(form[1], negate=False))
            elif form[0] not in _IGNORED:
                self.fail(f"unsupported command {form[0]!r}")
        if not asserts:
            self.fail("no assert found")
        return And(tuple(asserts))

    def declare(self, form):
        if len(form) != 3 or form[2] != "Real":
            self.fail(f"malformed declaration {_show(form)}")
        self.variable(form[1])

    def variable(self, token) -> tuple[str, int]:
        match = re.fullmatch(r"([XY])_(\d+)", token) if isinstance(token, str) else None
        if not match:
            self.fail(f"expected X_i or Y_j, got {_show(token)}")
        kind, i = match.group(1), int(match.group(2))
        if i >= self.sizes[kind]:
            self.fail(f"{token} exceeds the network's {self.sizes[kind]} {'inputs' if kind == 'X' else 'outputs'}")
        return kind, i

    def formula(self, form, negate: bool) -> Formula:
        """The tree of ``form`` (its negation when ``negate``: pushed down to the atoms)."""
        if not isinstance(form, list) or not form:
            self.fail(f"expected a formula, got {_show(form)}")
        head, args = form[0], form[1:]
        if head in ("and", "or"):
            if not args:
                self.fail(f"({head}) without arguments")
            parts = tuple(self.formula(arg, negate) for arg in args)
            return And(parts) if (head == "and") != negate else Or(parts)
        if head == "not":
            if len(args) != 1:
                self.fail("not takes one formula")
            return self.formula(args[0], not negate)
        if head in _COMPARISONS:
            if len(args) < 2:
                self.fail(f"({head} ...) needs two terms")
            links = [self.comparison(head, a, b, negate) for a, b in zip(args, args[1:])]
            return links[0] if len(links) == 1 else (Or(tuple(links)) if negate else And(tuple(links)))
        self.fail(f"unsupported construct {head!r} in {_show(form)}")

    def comparison(self, op: str, left, right, negate: bool) -> Formula:
        """``left op right`` (or its negation) as atoms ``e <= 0`` / ``e < 0``."""
        e = _combine(self.linear(left), self.linear(right), -1)  # left − right
        if op == "=":
            less, more = _atom(e, 1, strict=negate), _atom(e, -1, strict=negate)
            return Or((less, more)) if negate else And((less, more))
        sign, strict = (1, op == "<") if op in ("<=", "<") else (-1, op == ">")
        if negate:  # not (s·e <= 0) is −s·e < 0; not (s·e < 0) is −s·e <= 0
            return _atom(e, -sign, strict=not strict)
        return _atom(e, sign, strict=strict)

    def linear(self, term) -> _Linear:
        """``term`` as exact coefficients on X and on Y and an exact constant."""
        if isinstance(term, str):
            if re.fullmatch(r"[XY]_\d+", term):
                kind, i = self.variable(term)
                return ({i: Fraction(1)}, {}, Fraction(0)) if kind == "X" else ({}, {i: Fraction(1)}, Fraction(0))
            return {}, {}, _number(term, self.source)
        if not term:
            self.fail("empty term ()")
        head, args = term[0], [self.linear(arg) for arg in term[1:]]
        if head == "+" and args:
            total = args[0]
            for arg in args[1:]:
                total = _combine(total, arg, 1)
            return total
        if head == "-" and len(args) == 1:
            return _scale(args[0], Fraction(-1))
        if head == "-" and args:
            total = args[0]
            for arg in args[1:]:
                total = _combine(total, arg, -1)
            return total
        if head == "*" and args:
            variable = [k for k, (ax, ay, _) in enumerate(args) if ax or ay]
            if len(variable) > 1:
                self.fail(f"nonlinear term {_show(term)}")
            scale = Fraction(1)
            for k, (_, _, c) in enumerate(args):
                if k not in variable:
                    scale *= c
            return _scale(args[variable[0]] if variable else ({}, {}, Fraction(1)), scale)
        self.fail(f"unsupported term {_show(term)}")


_Linear = tuple[dict[int, Fraction], dict[int, Fraction], Fraction]


def _combine(one: _Linear, other: _Linear, sign: int) -> _Linear:
    """``one + sign · other``, zero coefficients dropped."""
    x, y = dict(one[0]), dict(one[1])
    for mine, theirs in ((x, other[0]), (y, other[1])):
        for i, a in theirs.items():
            mine[i] = mine.get(i, Fraction(0)) + sign * a
            if mine[i] == 0:
                del mine[i]
    return x, y, one[2] + sign * other[2]


def _scale(e: _Linear, factor: Fraction) -> _Linear:
    if factor == 0:
        return {}, {}, Fraction(0)
    return {i: factor * a for i, a in e[0].items()}, {j: factor * a for j, a in e[1].items()}, factor * e[2]


def _atom(e: _Linear, sign: int, strict: bool) -> Atom:
    """The atom ``sign · e <= 0`` (``< 0`` if strict)."""
    x, y, c = _scale(e, Fraction(sign))
    return Atom(x, y, c, strict)


def _parts(formula: Formula, n_inputs: int, n_outputs: int, template: Specification) -> tuple[Specification, ...]:
    """The normal form's terms grouped by input box: one specification per box (``template``
    with its box and disjuncts filled in), whose disjuncts are the output conjunctions of the
    terms with that box."""
    source = template.source
    terms = disjunctive_normal_form(formula, source)
    if not any(atom.y for term in terms for atom in term):
        raise InputError(f"{source}: no output constraint found")
    boxes: dict[bytes, tuple[Box, Box, list]] = {}
    for term in terms:
        boxed = _term_boxes(term, n_inputs, source)
        if boxed is None:
            continue
        outer, inner = boxed
        disjunct = _output_conjunction([atom for atom in term if atom.y], n_outputs, source)
        key = outer.lower.tobytes() + outer.upper.tobytes()
        entry = boxes.setdefault(key, (outer, inner, []))
        if all(not _same(disjunct, other) for other in entry[2]):
            entry[2].append(disjunct)
    if not boxes:
        raise InputError(f"{source}: the input region is empty")
    return tuple(replace(template, box=outer, disjuncts=tuple(disjuncts), inner=inner)
                 for outer, inner, disjuncts in boxes.values())


def _output_conjunction(atoms: list[Atom], n_outputs: int, source: str) -> tuple[tuple[np.ndarray, float], ...]:
    """Atoms ``a · Y + b <= 0`` with ``b`` rounded down (a superset of the unsafe outputs, so
    proofs stay valid); a term without output atoms is unsafe everywhere: ``0 <= 0``."""
    out = {}
    for atom in atoms:
        a = np.zeros(n_outputs)
        for j, coefficient in atom.y.items():
            a[j] = float(coefficient)
            if Fraction(a[j]) != coefficient:
                raise InputError(f"{source}: coefficient {coefficient} of Y_{j} is not a binary floating-point "
                                 "number; unsupported")
        out.setdefault((a.tobytes(), _down(atom.const)), (a, _down(atom.const)))
    return tuple(out[key] for key in sorted(out)) or ((np.zeros(n_outputs), 0.0),)


def _term_boxes(term: list[Atom], n_inputs: int, source: str) -> tuple[Box, Box] | None:
    """The box of one term's input atoms, rounded outward (for proofs) and inward (for
    counterexamples); ``None`` if it is empty or a constant atom of the term is false."""
    lower, upper = [None] * n_inputs, [None] * n_inputs
    for atom in term:
        if atom.x and atom.y:
            raise InputError(f"{source}: an atom mixes inputs and outputs (X_{min(atom.x)} with Y_{min(atom.y)}); "
                             "unsupported")
        if len(atom.x) > 1:
            first, second = sorted(atom.x)[:2]
            raise InputError(f"{source}: a linear constraint over several inputs (X_{first}, X_{second}) is "
                             "unsupported; inputs must form boxes")
        if not atom.x and not atom.y and not (atom.const < 0 or (atom.const == 0 and not atom.strict)):
            return None  # a false constant atom: the term is empty
        for i, a in atom.x.items():
            bound = -atom.const / a
            if a > 0:
                upper[i] = bound if upper[i] is None else min(upper[i], bound)
            else:
                lower[i] = bound if lower[i] is None else max(lower[i], bound)
    missing = [i for i in range(n_inputs) if lower[i] is None or upper[i] is None]
    if missing:
        raise InputError(f"{source}: input X_{missing[0]} has no lower or upper bound")
    if any(lo > hi for lo, hi in zip(lower, upper)):
        return None
    outer_lo, outer_hi = np.array([_down(v) for v in lower]), np.array([_up(v) for v in upper])
    inner_lo, inner_hi = np.array([_up(v) for v in lower]), np.array([_down(v) for v in upper])
    inner_hi = np.maximum(inner_hi, inner_lo)  # a face narrower than one float: its one point is in the outer box
    outer = Box(outer_lo, outer_hi, 0.5 * (outer_lo + outer_hi))
    return outer, Box(inner_lo, inner_hi, np.clip(outer.center, inner_lo, inner_hi))


def _down(value: Fraction) -> float:
    """The largest float ``<= value``."""
    f = float(value)
    return float(np.nextafter(f, -np.inf)) if Fraction(f) > value else f


def _up(value: Fraction) -> float:
    """The smallest float ``>= value``."""
    f = float(value)
    return float(np.nextafter(f, np.inf)) if Fraction(f) < value else f


def _same(one: tuple, other: tuple) -> bool:
    return len(one) == len(other) and all(np.array_equal(a, c) and b == d for (a, b), (c, d) in zip(one, other))


def _parse_sexprs(text: str, source: str) -> list:
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


def _number(token: str, source: str) -> Fraction:
    """A decimal literal, exactly."""
    try:
        return Fraction(token)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"{source}: expected a number, got {token!r}") from None


def _show(form) -> str:
    text = form if isinstance(form, str) else "(" + " ".join(_show(f) for f in form) + ")"
    return text if len(text) <= 80 else text[:77] + "..."
