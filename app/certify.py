"""Certify one instance (an input box and an unsafe output region) with several methods.

Per instance the attack and the bound propagation run once and are shared by all
methods. A method's ``margin_bound`` is a valid lower bound on the worst margin: the
minimum over unsafe disjuncts of the best proven atom bound, where every atom takes the
larger of its CROWN bound and its relaxation bound (targets CROWN already proves are not
re-solved). Counterexamples are only ever reported after a fresh forward pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from qcqp import InputError, Status
from qcqp.frontends.bounds import interval_bounds, linear_objective_bound
from qcqp.frontends.encode import BOUND_METHODS, NetworkEncoding, encode_network
from qcqp.frontends.network import Network
from qcqp.frontends.pgd import pgd_minimize
from qcqp.frontends.specs import Box
from qcqp.interval import affine_bounds

SOLVER_METHODS = ("lp", "sdp", "sdp-fo", "exact")
METHODS = ("pgd",) + SOLVER_METHODS

Atom = tuple[np.ndarray, float]  # a · Y + b <= 0 is unsafe


@dataclass
class Instance:
    """An input box and the unsafe region as disjuncts of atoms."""

    index: int
    box: Box
    label: int | None
    disjuncts: list[list[Atom]]


def margin_instance(index: int, box: Box, label: int, classes: int) -> Instance:
    """Unsafe iff some ``logit[t] >= logit[label]``: atoms ``logit[y] − logit[t] <= 0``."""
    if not 0 <= label < classes:
        raise InputError(f"label {label} of instance {index} is out of range 0..{classes - 1}")
    eye = np.eye(classes)
    return Instance(index, box, label, [[(eye[label] - eye[t], 0.0)] for t in range(classes) if t != label])


@dataclass
class Options:
    pgd_steps: int = 100
    pgd_restarts: int = 10
    time_limit: float = 120.0
    bounds: str = "crown"
    seed: int = 0
    backend_options: dict = field(default_factory=dict)


def falsifies(net: Network, inst: Instance, x: np.ndarray) -> bool:
    """Does ``x`` (in the box) reach the unsafe region, rigorously?

    The forward pass runs in interval arithmetic on the point ``[x, x]`` with outward
    rounding, so a counterexample is reported only if even the largest real value of
    every atom in some disjunct is ``<= 0``; a float forward pass alone could be fooled
    by rounding at margins near 1e-15.
    """
    if not inst.box.contains(x):
        return False
    y_lo, y_hi = interval_bounds(net, x, x)[-1]
    return any(all(affine_bounds(a[None, :], np.array([b]), y_lo, y_hi)[1][0] <= 0 for a, b in atoms)
               for atoms in inst.disjuncts)


def attack(net: Network, inst: Instance, options: Options):
    """PGD on every atom; returns ``(worst margin found, counterexample or None)``."""
    atoms = [atom for atoms in inst.disjuncts for atom in atoms]
    C = np.array([a for a, _ in atoms])
    d = np.array([b for _, b in atoms])
    values, points = pgd_minimize(net, inst.box, C, d, options.pgd_steps, options.pgd_restarts, options.seed)
    order = np.argsort(values)
    for k in order:
        if falsifies(net, inst, points[k]):
            return float(values[k]), points[k]
    return float(values[order[0]]), None


def analyse(net: Network, inst: Instance, methods: list[str], options: Options) -> dict[str, dict]:
    """Rows of results.json for every method on one instance."""
    start = time.perf_counter()
    pgd_value, counterexample = attack(net, inst, options)
    pre = BOUND_METHODS[options.bounds](net, inst.box.lower, inst.box.upper)
    crown = [[linear_objective_bound(net, a, pre, inst.box.lower, inst.box.upper) + b for a, b in atoms]
             for atoms in inst.disjuncts]
    shared = time.perf_counter() - start
    encodings: list[NetworkEncoding] = []  # built on first need, then shared by all methods

    def encoding() -> NetworkEncoding:
        if not encodings:
            encodings.append(encode_network(net, inst.box, pre))
        return encodings[0]

    rows = {}
    for method in methods:
        begin = time.perf_counter()
        row = {"index": inst.index, "label": inst.label, "pgd_margin": pgd_value}
        if counterexample is not None:
            row |= {"status": "falsified", "margin_bound": _worst(crown),
                    "counterexample": counterexample.tolist(), "reason": "PGD counterexample"}
        elif method == "pgd":
            bound = _worst(crown)
            row |= {"status": "certified" if bound > 0 else "unknown", "margin_bound": bound,
                    "reason": "bound propagation" if bound > 0 else "no counterexample found"}
        else:
            row |= _solve(net, inst, method, crown, encoding, options)
        row["time_s"] = shared + time.perf_counter() - begin
        rows[method] = row
    return rows


def _worst(bounds: list[list[float]]) -> float:
    return float(min(max(atom_bounds) for atom_bounds in bounds))


def _solve(net: Network, inst: Instance, method: str, crown, encoding, options: Options) -> dict:
    """Tighten unproven disjuncts with a backend, hardest first, atom by atom until one is
    proven; stop at the first disjunct that stays unproven."""
    bounds = [list(b) for b in crown]
    order = np.argsort([max(b) for b in bounds])
    reason = "certified"
    for k in order:
        for j, (a, b) in enumerate(inst.disjuncts[k]):
            if max(bounds[k]) > 0:
                break
            result = encoding().linear_objective(a, b).solve(method, time_limit=options.time_limit,
                                                           **options.backend_options)
            if result.status in (Status.ERROR, Status.INFEASIBLE):
                return _bound_row(bounds, f"{method} failed: {result.status.value} ({result.message})")
            bounds[k][j] = max(bounds[k][j], result.bound)
            if result.point is not None and falsifies(net, inst, result.point["x"]):
                return {"status": "falsified", "margin_bound": _worst(bounds),
                        "counterexample": result.point["x"].tolist(), "reason": f"{method} counterexample"}
        if max(bounds[k]) <= 0:
            reason = f"{method} bound {max(bounds[k]):.4g} <= 0 for disjunct {k}"
            break
    return _bound_row(bounds, reason)


def _bound_row(bounds: list[list[float]], reason: str) -> dict:
    """The row for the bounds reached so far (certified if they already suffice)."""
    bound = _worst(bounds)
    return {"status": "certified" if bound > 0 else "unknown", "margin_bound": bound,
            "reason": "certified" if bound > 0 else reason}
