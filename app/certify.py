"""Certify one specification (an input box and an unsafe output region) with several methods.

Per specification the attack, the bound propagation and each method's relaxation are built
once and shared (a relaxation is solved for every target by swapping its objective). A
method's ``margin_bound`` is a valid lower bound on the worst margin: the minimum over
unsafe disjuncts of the best proven atom bound, where every atom takes the larger of its
CROWN bound and its relaxation bound (targets CROWN already proves are not re-solved,
unless ``all_targets`` asks for every method's own bound on every target). Counterexamples
are only ever reported after a fresh, rigorous forward pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cache

import numpy as np

from qcqp import BACKENDS, Status
from qcqp.frontends.bounds import linear_objective_bound
from qcqp.frontends.encode import BOUND_METHODS, encode_network, lp_bounds
from qcqp.frontends.input_split import input_split_search
from qcqp.frontends.network import Network
from qcqp.frontends.optimized_bounds import alpha_crown_bounds, optimized_lower
from qcqp.frontends.pgd import pgd_minimize_max
from qcqp.frontends.relu_split import split_search, supports
from qcqp.frontends.specs import Ellipsoid, Property, Specification

ATTACK = "pgd"  # the method name of the attack-only row (its certificates come from CROWN)
COMPLETE = "complete"  # the decision procedure: attacks, optimised and LP bounds, the MILP, in one budget
STRONG_ATTACK = 4  # the complete method's second attack: this many times the restarts, twice the steps
INPUT_SPLIT_DIMS = 16  # networks with at most this many inputs are decided by splitting the input box
SPLIT_SHARE = 0.25  # of the time left after the optimised bounds, the split search's share (the MILP's is the rest)
ATTACK_SHARE = 0.2  # of the time left, the most the first attack and the strong attack may each take
EXACT_NEURONS = 2000  # with more unstable neurons, LP bounds and the MILP cannot finish: the split search gets the time
EMPTY_SET_BOUND = 1e300  # JSON has no infinity: the margin bound of an empty input set


@dataclass
class Options:
    pgd_steps: int = 100
    pgd_restarts: int = 10
    time_limit: float = 120.0
    bounds: str = "crown"
    seed: int = 0
    all_targets: bool = False
    backend_options: dict[str, dict] = field(default_factory=dict)  # method -> its solve options


def attack(net: Network, spec: Specification, options: Options, deadline: float | None = None):
    """PGD (until ``deadline``) on every unsafe atom alone, then on every conjunction whole
    (along the largest of its atoms at each step: "class t is the maximum" is found where one
    atom's descent leaves the others behind, and one atom's descent sometimes lands where the
    whole one oscillates); returns ``(worst margin found, counterexample or None)``, the margin
    being the specification's at each point."""
    whole = [atoms for atoms in spec.disjuncts if len(atoms) > 1]
    A, b = _padded([(atom,) for atoms in spec.disjuncts for atom in atoms] + whole)
    _, points = pgd_minimize_max(net, spec.box, A, b, options.pgd_steps, options.pgd_restarts, options.seed,
                                 deadline)
    own, own_b = _padded(spec.disjuncts)
    values = np.min(np.max(np.einsum("kjc,pc->pkj", own, net.forward(points)) + own_b[None], axis=2), axis=1)
    order = np.argsort(values)
    for k in order:
        found = spec.counterexample(net, points[k])
        if found is not None:
            return float(values[k]), found
    return float(values[order[0]]), None


def _padded(disjuncts) -> tuple[np.ndarray, np.ndarray]:
    """Atoms ``a · y + b`` as arrays ``(disjuncts, width, classes)`` and ``(disjuncts, width)``,
    each disjunct padded by repeating its last atom (which changes no maximum)."""
    width = max(len(atoms) for atoms in disjuncts)
    padded = [list(atoms) + [atoms[-1]] * (width - len(atoms)) for atoms in disjuncts]
    return (np.array([[a for a, _ in atoms] for atoms in padded]),
            np.array([[c for _, c in atoms] for atoms in padded], dtype=float))


def analyse(net: Network, prop: Specification | Property, methods: list[str], options: Options) -> dict[str, dict]:
    """Rows of results.json for every method on one property: its parts (one per input box)
    in turn, each with an equal share of the time left. Per method, the property is
    falsified if one part is, certified if every part is, and its margin bound is the least
    of its parts'. Parts stop once every method has falsified one."""
    start = time.perf_counter()
    merged: dict[str, dict] = {}
    for k, part in enumerate(prop.parts):
        left = max(options.time_limit - (time.perf_counter() - start), 1e-3)
        rows = _analyse_part(net, part, methods, replace(options, time_limit=left / (len(prop.parts) - k)))
        merged = rows if not merged else {m: _merge(merged[m], rows[m]) for m in methods}
        if all(row["status"] == "falsified" for row in merged.values()):
            break
    elapsed = time.perf_counter() - start
    return {m: row | {"time_s": elapsed} if len(prop.parts) > 1 else row for m, row in merged.items()}


def _merge(first: dict, second: dict) -> dict:
    """One method's row over two parts of a property."""
    if first["status"] == "falsified":
        return first
    if second["status"] == "falsified":
        return second
    worse = first if first["margin_bound"] <= second["margin_bound"] else second
    status = "certified" if first["status"] == second["status"] == "certified" else "unknown"
    reason = next(r["reason"] for r in (first, second, worse) if r["status"] == status)
    return worse | {"status": status, "reason": reason,
                    "pgd_margin": min((r["pgd_margin"] for r in (first, second) if r["pgd_margin"] is not None),
                                      default=None)}


def _analyse_part(net: Network, spec: Specification, methods: list[str], options: Options) -> dict[str, dict]:
    """Rows of results.json for every method on one specification (one input box)."""
    start = time.perf_counter()
    deadline = start + options.time_limit
    pre = BOUND_METHODS[options.bounds](net, spec.box.lower, spec.box.upper, deadline=deadline)
    crown = [[linear_objective_bound(net, a, pre, spec.box.lower, spec.box.upper) + b for a, b in atoms]
             for atoms in spec.disjuncts]
    if methods == [COMPLETE] and _worst(crown) > 0:  # a decision proven by the bounds needs no attack
        pgd_value, counterexample = None, None
    else:
        pgd_value, counterexample = attack(net, spec, options, _share(deadline, ATTACK_SHARE))
    shared = time.perf_counter() - start
    encoding = cache(lambda: encode_network(net, spec.box, pre))  # built on first need, shared by all methods

    rows = {}
    for method in methods:
        begin = time.perf_counter()
        row = {"index": spec.index, "label": spec.label, "pgd_margin": pgd_value}
        if counterexample is not None and not options.all_targets:
            row |= {"status": "falsified", "margin_bound": _worst(crown),
                    "counterexample": counterexample.tolist(), "reason": "PGD counterexample"}
        elif method == ATTACK:
            bound = _worst(crown)
            row |= {"status": "certified" if bound > 0 else "unknown", "margin_bound": bound,
                    "reason": "CROWN bound propagation" if bound > 0 else "no counterexample found"}
        elif method == COMPLETE:
            row |= _decide(net, spec, pre, crown, options, deadline)
        else:
            row |= _solve(net, spec, method, crown, encoding, options)
        if counterexample is not None and row["status"] != "falsified":
            row |= {"status": "falsified", "counterexample": counterexample.tolist(), "reason": "PGD counterexample"}
        if isinstance(spec.box, Ellipsoid):
            keeps = method != ATTACK and BACKENDS.get(method).lifts_products
            row["input_set"] = spec.box.describe() + ("" if keeps else " (bounds from its bounding box)")
        row["time_s"] = shared + time.perf_counter() - begin
        rows[method] = row
    return rows


def _share(deadline: float, share: float) -> float:
    """The deadline of a phase allowed ``share`` of the time left."""
    now = time.perf_counter()
    return now + share * max(deadline - now, 0.0)


def _worst(bounds: list[list[float]]) -> float:
    return float(min(max(atom_bounds) for atom_bounds in bounds))


def _decide(net: Network, spec: Specification, pre, crown, options: Options, deadline: float) -> dict:
    """The complete method: a stronger attack, then — on networks with at most
    ``INPUT_SPLIT_DIMS`` inputs — branch and bound on the input box; otherwise optimised
    (α-CROWN) bounds (never looser than ``pre``), then branch and bound on activation splits
    for every open disjunct (ReLU-like networks, for ``SPLIT_SHARE`` of the time left), then —
    for what is still open — LP-tightened bounds and the exact MILP (its incumbents are checked
    as counterexamples); all within ``options.time_limit`` seconds for the specification. The
    two searches fail on different properties (the MILP branches with every layer's LP at
    once, the split search runs thousands of cheap domains), so each gets a share — except on
    networks with more than ``EXACT_NEURONS`` unstable neurons, whose LPs and MILP cannot
    finish: there the split search gets all the time."""
    if _worst(crown) > 0:
        return {"status": "certified", "margin_bound": _worst(crown), "reason": "CROWN bound propagation"}
    strong = replace(options, pgd_restarts=STRONG_ATTACK * options.pgd_restarts, pgd_steps=2 * options.pgd_steps,
                     seed=options.seed + 1)
    _, counterexample = attack(net, spec, strong, _share(deadline, ATTACK_SHARE))
    if counterexample is not None:
        return {"status": "falsified", "margin_bound": _worst(crown), "counterexample": counterexample.tolist(),
                "reason": "PGD counterexample (strong attack)"}
    if net.input_size <= INPUT_SPLIT_DIMS:
        return _input_split(net, spec, crown, options, deadline)
    lo, hi = spec.box.lower, spec.box.upper
    pre = alpha_crown_bounds(net, lo, hi, deadline=deadline, start=pre)
    tight = _optimized_margins(net, spec, pre, crown, deadline)
    if _worst(tight) > 0:
        return {"status": "certified", "margin_bound": _worst(tight), "reason": "optimised (α-CROWN) bounds"}
    unstable = sum(int(np.sum((low < 0) & (up > 0))) for low, up in pre[:len(net.activations)])
    splits_only = supports(net) and unstable > EXACT_NEURONS
    if supports(net):
        row = _split_search(net, spec, pre, tight, deadline if splits_only else _share(deadline, SPLIT_SHARE))
        if row["status"] != "unknown" or splits_only:
            return _timed_out(row, options, deadline)
    pre = lp_bounds(net, lo, hi, deadline=deadline, start=pre)
    tight = [[max(old, linear_objective_bound(net, a, pre, lo, hi) + b) for old, (a, b) in zip(bounds, atoms)]
             for bounds, atoms in zip(tight, spec.disjuncts)]
    exact_options = options.backend_options.get("exact", {}) | {"decide": 0.0}  # is the margin > 0, not its value
    options = replace(options, backend_options=options.backend_options | {"exact": exact_options})
    row = _solve(net, spec, "exact", tight, cache(lambda: encode_network(net, spec.box, pre)), options, deadline)
    return _timed_out(row, options, deadline)


def _input_split(net: Network, spec: Specification, crown, options: Options, deadline: float) -> dict:
    """The complete method on a network with few inputs: branch and bound on the input box."""
    search = input_split_search(net, spec, deadline)
    bound = max(search.bound, _worst(crown))
    if search.status == "falsified":
        return {"status": "falsified", "margin_bound": bound, "counterexample": search.counterexample.tolist(),
                "reason": f"input split counterexample ({search.boxes} boxes)"}
    if bound > 0:
        return {"status": "certified", "margin_bound": bound, "reason": f"input split ({search.boxes} boxes)"}
    row = {"status": "unknown", "margin_bound": bound, "reason": f"input split ({search.boxes} boxes): bound "
           f"{bound:.4g} <= 0"}
    return _timed_out(row, options, deadline)


def _timed_out(row: dict, options: Options, deadline: float) -> dict:
    if row["status"] == "unknown" and time.perf_counter() >= deadline:
        row["reason"] = f"time limit ({options.time_limit:g} s) reached; {row['reason']}"
    return row


def _split_search(net: Network, spec: Specification, pre, bounds: list[list[float]], deadline: float) -> dict:
    """Branch and bound on each open disjunct's best atom, hardest disjunct first, until one
    stays open or a counterexample falsifying the specification turns up. ``bounds`` (per
    atom) are raised in place by what the searches prove."""
    domains = 0
    for k in np.argsort([max(b) for b in bounds]):
        if max(bounds[k]) > 0:
            continue
        j = int(np.argmax(bounds[k]))
        a, b = spec.disjuncts[k][j]
        search = split_search(net, a, b, pre, spec.box.lower, spec.box.upper, deadline)
        domains += search.domains
        found = None if search.counterexample is None else spec.counterexample(net, search.counterexample)
        if found is not None:
            return {"status": "falsified", "margin_bound": _worst(bounds), "counterexample": found.tolist(),
                    "reason": f"split search counterexample (disjunct {k}, {domains} domains)"}
        bounds[k][j] = max(bounds[k][j], search.bound)
        if search.status != "certified":
            break
    bound = _worst(bounds)
    return {"status": "certified" if bound > 0 else "unknown", "margin_bound": bound,
            "reason": f"split search ({domains} domains)" + ("" if bound > 0 else f": bound {bound:.4g} <= 0")}


def _optimized_margins(net: Network, spec: Specification, pre, previous, deadline: float) -> list[list[float]]:
    """Each atom's bound: the larger of ``previous`` and the optimised bound on ``pre``."""
    last = len(net.weights) - 1
    atoms = [a for atoms in spec.disjuncts for a in atoms]
    values = optimized_lower(net, last, np.array([a for a, _ in atoms]), pre[:last], spec.box.lower,
                             spec.box.upper, deadline=deadline) + np.array([b for _, b in atoms])
    flat = iter(values.tolist())
    return [[max(old, next(flat)) for old in bounds] for bounds in previous]


def _solve(net: Network, spec: Specification, method: str, crown, encoding, options: Options,
           deadline: float | None = None) -> dict:
    """Tighten unproven disjuncts with a backend, hardest first, atom by atom until one is
    proven; stop at the first disjunct that stays unproven or at a counterexample (unless
    ``all_targets``, which solves every atom). With a ``deadline`` each solve gets the time
    left, and the search stops when there is none."""
    bounds = [list(b) for b in crown]
    own: list[list[float | None]] = [[None] * len(b) for b in crown]  # this method's bound per atom
    reason, counterexample = "", None
    early = not options.all_targets
    for k in np.argsort([max(b) for b in bounds]):
        for j, (a, b) in enumerate(spec.disjuncts[k]):
            if early and (max(bounds[k]) > 0 or counterexample is not None):
                break
            solve_options = _backend_options(method, options)
            if deadline is not None:
                if time.perf_counter() >= deadline:
                    break
                solve_options["time_limit"] = deadline - time.perf_counter()
            result = encoding().solve(method, a, b, **solve_options)
            if result.status == Status.INFEASIBLE:
                return {"status": "certified", "margin_bound": EMPTY_SET_BOUND,
                        "reason": f"empty input set: the {method} relaxation is infeasible ({result.message})"}
            if result.status == Status.ERROR:
                return _bound_row(bounds, own, f"{method} failed: {result.message}")
            own[k][j] = result.bound
            bounds[k][j] = max(bounds[k][j], result.bound)
            if counterexample is None and result.point is not None:
                counterexample = spec.counterexample(net, result.point["x"])
        if max(bounds[k]) <= 0 and not reason:
            reason = f"{method} bound {max(bounds[k]):.4g} <= 0 for disjunct {k}"
        if early and (counterexample is not None or max(bounds[k]) <= 0):
            break
    row = _bound_row(bounds, own, reason, proof=f"{method} bound")
    if counterexample is not None:
        row |= {"status": "falsified", "counterexample": counterexample.tolist(), "reason": f"{method} counterexample"}
    return row


def _backend_options(method: str, options: Options) -> dict:
    """The time limit (where the backend takes one) and the method's own options."""
    backend = BACKENDS.get(method)
    timed = {"time_limit": options.time_limit} if "time_limit" in backend.option_names() else {}
    return timed | options.backend_options.get(method, {})


def _bound_row(bounds: list[list[float]], own: list[list[float | None]], reason: str,
               proof: str = "certified") -> dict:
    """The row for the bounds reached so far: certified (``proof`` says by what) if they
    already suffice, else unknown for ``reason``."""
    bound = _worst(bounds)
    return {"status": "certified" if bound > 0 else "unknown", "margin_bound": bound, "target_bounds": own,
            "reason": proof if bound > 0 else reason}
