"""Global optimisation: branch and bound on an IR with any registered backend as the bounding oracle.

Each node is the IR with a smaller box (spatial branching) and, for complementarities
``f ⊥ g``, rows fixed to ``f_r = 0`` or ``g_r = 0``. The oracle (``lp``, ``sdp``, ``sdp-fo``, a
plug-in) bounds the node rigorously and returns a feasible point when it finds one; the
search is best-first and stops when the best open bound is within ``gap`` of the best point.
A node is pruned only by its own rigorous bound (or a proven-infeasible relaxation), so the
bound reported on exit, the largest over open and pruned nodes and the incumbent, is valid;
a node keeps its parent's bound where its own is looser, so it is never looser than the root's.

Branching: a violated complementarity row first (both ``f_r`` and ``g_r`` positive at the
relaxation's point); otherwise the variable whose products the relaxation gets most wrong,
``Σ_j W_ij |P_ij − x̄_i x̄_j|`` with ``W`` the magnitudes of the problem's quadratic
coefficients, complementarity products included (from the lifted matrix ``P`` when the
oracle has one, else ``W``-weighted box widths), bisected at the midpoint of its interval.
The relaxation's point ``x̄`` is :attr:`Result.relaxed`.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import replace

import numpy as np

from qcqp.backend import package
from qcqp.constraints import Constraint
from qcqp.errors import InputError
from qcqp.ir import IR
from qcqp.lifting import lift, to_matrix
from qcqp.registry import BACKENDS
from qcqp.result import Result, Status

FEASIBILITY = 1e-9
CHILD_POLISH = 0.2  # seconds of local search per node below the root (oracles with ``polish``)
SEARCH_FAMILY = "rlt+triangle"  # the relaxation family of box-only problems' nodes, for oracles with ``family``
MIN_NODE_TIME = 0.5  # seconds an oracle gets even when the search's time is up


def coupling_weights(ir: IR) -> np.ndarray:
    """``W_ij``: total magnitude of the coefficients of ``v_i v_j`` in the objective and constraints."""
    dim = ir.n + 1
    W = np.zeros((dim, dim))
    products = [comp.product() for comp in ir.complementarities]
    for expr in (ir.objective, *(c.expr for c in ir.constraints if not c.is_linear), *products):
        W += to_matrix(np.asarray(abs(lift(expr, dim)).sum(axis=0)).ravel(), dim)
    return W[1:, 1:]


def _node_ir(ir: IR, lower: np.ndarray, upper: np.ndarray, fixings: tuple) -> IR:
    fixed = tuple(Constraint((ir.complementarities[k].f if side == "f" else ir.complementarities[k].g)[row], "==",
                             name=f"branch {side}{row}") for k, row, side in fixings)
    return replace(ir, lower=lower, upper=upper, constraints=ir.constraints + fixed)


def _branch(ir: IR, lower, upper, fixings, result: Result, weights: np.ndarray):
    """The children of a node, or ``None`` when nothing is left to split."""
    lifted, centre = result.lifted, result.relaxed
    if centre is not None:
        fixed = {(k, r) for k, r, _ in fixings}
        for k, comp in enumerate(ir.complementarities):
            both = np.minimum(comp.f.evaluate(centre), comp.g.evaluate(centre))
            both[[r for i, r in fixed if i == k]] = -np.inf
            if both.size and both.max() > FEASIBILITY:
                row = int(np.argmax(both))
                return [(lower, upper, fixings + ((k, row, side),)) for side in ("f", "g")]
    width = upper - lower
    if lifted is not None:
        second = lifted[1:ir.n + 1, 1:ir.n + 1]
        score = (weights * np.abs(second - np.outer(centre, centre))).sum(axis=1)
    else:
        score = weights.sum(axis=1) * width
    score = np.where(width > 1e-9 * (1 + np.abs(lower) + np.abs(upper)), score + 1e-12 * width, -1.0)
    var = int(np.argmax(score))
    if score[var] < 0:
        return None
    mid = 0.5 * (lower[var] + upper[var])
    left, right = upper.copy(), lower.copy()
    left[var], right[var] = mid, mid
    return [(lower, left, fixings), (right, upper, fixings)]


def branch_and_bound(ir: IR, oracle: str = "sdp", time_limit: float = 60.0, gap: float = 1e-4,
                     node_limit: int = 100000, progress: bool = False, name: str | None = None,
                     **oracle_options) -> Result:
    """The global optimum of ``ir`` within relative ``gap`` (or the best bound at a limit).

    Parameters
    ----------
    oracle
        The registered backend that bounds every node (``"sdp"``, ``"lp"``, ``"sdp-fo"``, …).
    time_limit, node_limit
        Where the search stops; the result then has status ``bound`` and a valid bound.
    gap
        Stop when ``best open bound − best value <= gap · max(1, |best value|)``.
    progress
        Show a progress bar with the node count and the current gap.
    name
        The result's backend name (default ``"<oracle>+bab"``).
    oracle_options
        Passed to the oracle's ``solve`` (e.g. ``solver="ipm"``), checked by name first. An
        oracle with a ``family`` option gets ``family="rlt+triangle"`` unless given one on problems
        whose only constraints are the box (BoxQP: the cuts save far more nodes than they cost);
        with constraints its default (QPLIB's QCQs: 5–60 s per cut node at n = 40–50, against
        2–9 s). One with ``time_limit`` gets the time left.
    """
    name = name or f"{oracle}+bab"
    backend = BACKENDS.get(oracle)
    if "family" in backend.option_names() and not ir.complementarities and not ir.constraints:
        oracle_options = {"family": SEARCH_FAMILY} | oracle_options  # docs/benchmarks.md: BoxQP, QPLIB
    backend.check_options(oracle_options)
    if time_limit <= 0 or gap < 0 or node_limit < 1:
        raise InputError("branch and bound needs time_limit > 0, gap >= 0 and node_limit >= 1")
    ir.require_bounds(f"branch and bound ({oracle})")
    start = time.perf_counter()
    weights = coupling_weights(ir)
    counter = itertools.count()
    best_value, best_point = -np.inf, None
    pruned = -np.inf  # the largest bound of a node closed within the gap
    heap: list = []
    proofs: list = []  # the oracle's verified certificates of the nodes it proved empty

    quick = dict(oracle_options)  # below the root, a short local search (the root's usually wins)
    if "polish" in backend.option_names():
        quick.setdefault("polish", CHILD_POLISH)

    timed = "time_limit" in backend.option_names() and "time_limit" not in oracle_options

    def evaluate(lower, upper, fixings, options, parent=np.inf):
        """Bound a node; it keeps its ``parent``'s bound where its own is looser (its box lies
        inside the parent's, and a time-limited or failed oracle may return a weak bound)."""
        nonlocal best_value, best_point, pruned
        if timed:  # no node outlives the search
            options = options | {"time_limit": max(time_limit - (time.perf_counter() - start), MIN_NODE_TIME)}
        result = backend.run(_node_ir(ir, lower, upper, fixings), **options)
        if result.status == Status.INFEASIBLE:
            proofs.append({"lower": lower, "upper": upper, "fixings": fixings, "certificate": result.certificate})
            return
        bound = min(ir.sign * result.bound, parent)  # maximisation form
        if result.point is not None:
            v = np.concatenate([result.point[var.name] for var in ir.variables])
            if ir.max_violation(v) <= FEASIBILITY and ir.objective_value(v) > best_value:
                best_value, best_point = ir.objective_value(v), v
        heapq.heappush(heap, (-bound, next(counter), lower, upper, fixings, result))

    def closed(bound: float) -> bool:
        return bound <= best_value + gap * max(1.0, abs(best_value))

    bar = _progress(progress)
    evaluate(ir.lower.copy(), ir.upper.copy(), (), oracle_options)
    nodes, finished = 1, True
    while heap:
        top = -heap[0][0]
        if closed(top):
            pruned = max(pruned, top)
            break
        if nodes >= node_limit or time.perf_counter() - start > time_limit:
            finished = False
            break
        _, _, lower, upper, fixings, result = heapq.heappop(heap)
        children = _branch(ir, lower, upper, fixings, result, weights)
        if children is None:  # nothing left to split: this bound is final
            heapq.heappush(heap, (-top, next(counter), lower, upper, fixings, result))
            finished = False
            break
        for child in children:
            evaluate(*child, quick, top)
            nodes += 1
        if bar is not None:
            bar.update(len(children))
            bar.set_postfix(bound=f"{ir.user_value(-heap[0][0]) if heap else ir.user_value(best_value):.6g}",
                            value=f"{ir.user_value(best_value):.6g}")
    if bar is not None:
        bar.close()
    upper = max([best_value, pruned] + [-entry[0] for entry in heap])
    stats = {"method": "branch-and-bound", "oracle": oracle, "nodes": nodes, "open_nodes": len(heap),
             "infeasible_nodes": len(proofs), "time": time.perf_counter() - start}
    if "family" in oracle_options:
        stats["node_family"] = oracle_options["family"]
    if finished and best_point is None and not heap and pruned == -np.inf:
        return package(ir, name, Status.INFEASIBLE, -np.inf, stats=stats, certificate={"leaves": proofs},
                       message=f"infeasible: all {len(proofs)} leaves carry the oracle's verified certificates")
    status = Status.OPTIMAL if finished else Status.BOUND
    return package(ir, name, status, upper, best_point, tolerance=FEASIBILITY, stats=stats)


def _progress(show: bool):
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(desc="branch and bound", unit="node")


__all__ = ["branch_and_bound", "coupling_weights"]
