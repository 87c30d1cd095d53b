"""``exact``: ground truth for small problems.

* Linear objective and constraints plus complementarities (ReLU networks): a MILP with
  one binary per complementarity row (big-M from the bounds on ``f − g``), solved by
  HiGHS. The reported bound is HiGHS's dual bound, loosened by its tolerances.
* Anything with products: spatial branch and bound over the box with the ``lp``
  relaxation at every node (bisection on the variable with the largest McCormick gap,
  or a split of a violated complementarity). The bound is the largest rigorous node
  bound still open; feasible points found on the way are checked on the IR itself.

"Infeasible" is reported only when every leaf of the search carries a verified Farkas
certificate (an infeasible MILP is re-proven this way, splitting complementarities).
"""

from __future__ import annotations

import heapq
import itertools
import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from qcqp import IR, Backend, InputError, Relaxation, Result, Status, register_backend
from qcqp.backend import package
from qcqp.backends.highs import solve_linear_model
from qcqp.backends.linear import build_linear_model
from qcqp.backends.sdp_solvers import silenced
from qcqp.expr import widen_columns
from qcqp.safe import loosen_upper

FEASIBILITY = 1e-7
MILP_TOLERANCE = 1e-6  # HiGHS feasibility tolerances, charged against its dual bound


@register_backend("exact")
class Exact(Backend):
    """Exact optimum (within ``gap``) by MILP or spatial branch and bound."""

    name = "exact"

    def solve(self, relaxation: Relaxation, time_limit: float = 120.0, gap: float = 1e-7,
              node_limit: int = 20000) -> Result:
        """Solve to optimality.

        Parameters
        ----------
        time_limit
            Seconds; on time-out the result has status ``bound`` and a valid, looser bound.
        gap
            Relative optimality gap at which to stop.
        node_limit
            Branch-and-bound nodes (spatial search, and the proof of an infeasible MILP).
        """
        ir = relaxation.ir
        for con in ir.constraints:
            if con.approximation:
                raise InputError(f"exact cannot solve constraint {con.name!r}: it is {con.approximation}; "
                                 "use lp, sdp or sdp-fo for a bound")
        ir.require_bounds("exact")
        linear = not ir.objective.products and all(con.is_linear for con in ir.constraints)
        if linear and ir.complementarities:
            return _milp(ir, time_limit, gap, node_limit)
        return _branch_and_bound(ir, time_limit, gap, node_limit)


def _milp(ir: IR, time_limit: float, gap: float, node_limit: int) -> Result:
    """One binary per complementarity row (big-M from the bounds on ``f − g``), by HiGHS."""
    n, binaries = ir.n, sum(comp.size for comp in ir.complementarities)
    width = n + binaries
    blocks = [(widen_columns(con.expr.A, width), np.full(con.size, -np.inf) if con.sense == "<=" else -con.expr.a,
               -con.expr.a) for con in ir.constraints]
    offset = n
    for comp in ir.complementarities:
        k = comp.size
        dlo, dhi = comp.diff_bounds
        Uf = np.maximum(dhi, 0.0) * (1 + 1e-9) + 1e-9  # big-M, loosened against rounding
        Ug = np.maximum(-dlo, 0.0) * (1 + 1e-9) + 1e-9
        delta = sp.csr_array((np.ones(k), (np.arange(k), offset + np.arange(k))), shape=(k, width))
        f, g = widen_columns(comp.f.A, width), widen_columns(comp.g.A, width)
        none = np.full(k, -np.inf)
        blocks += [(f - sp.diags_array(Uf) @ delta, none, -comp.f.a),  # f <= U_f δ
                   (g + sp.diags_array(Ug) @ delta, none, Ug - comp.g.a),  # g <= U_g (1 − δ)
                   (f, -comp.f.a, -none), (g, -comp.g.a, -none)]  # f, g >= 0
        offset += k
    A = sp.vstack([b[0] for b in blocks], format="csr") if blocks else sp.csr_array((0, width))
    lo = np.concatenate([b[1] for b in blocks]) if blocks else np.zeros(0)
    hi = np.concatenate([b[2] for b in blocks]) if blocks else np.zeros(0)
    c = np.concatenate([ir.objective.affine.A.toarray().ravel(), np.zeros(binaries)])
    with silenced(False):  # HiGHS's MIP prints debugging lines on some models even with disp off
        res = milp(-c, integrality=np.concatenate([np.zeros(n), np.ones(binaries)]),
                   bounds=Bounds(np.concatenate([ir.lower, np.zeros(binaries)]),
                                 np.concatenate([ir.upper, np.ones(binaries)])),
                   constraints=[LinearConstraint(A, lo, hi)] if A.shape[0] else [],
                   options={"time_limit": float(time_limit), "mip_rel_gap": gap, "disp": False})
    constant = float(ir.objective.affine.a[0])
    dual = getattr(res, "mip_dual_bound", None)
    if res.status == 2:  # HiGHS's claim is re-proven leaf by leaf with verified Farkas rays
        result = _branch_and_bound(ir, time_limit, gap, node_limit)
        result.stats["milp"] = "HiGHS reported infeasible"
        return result
    if dual is None or not np.isfinite(dual):
        return package(ir, "exact", Status.ERROR, np.inf, message=res.message)
    upper = -dual + constant
    upper = loosen_upper(upper + MILP_TOLERANCE * (1 + abs(upper)))
    status = Status.OPTIMAL if res.status == 0 else Status.BOUND
    return package(ir, "exact", status, upper, res.x, None if res.fun is None else -res.fun + constant,
                   tolerance=1e-5, message=res.message, stats={"method": "milp", "binaries": binaries})


def _branch_and_bound(ir: IR, time_limit: float, gap: float, node_limit: int) -> Result:
    """Best-first search; a node is pruned only by its rigorous bound or a verified Farkas ray."""
    start = time.perf_counter()
    counter = itertools.count()
    best_value, best_point = -np.inf, None
    heap: list = []
    proofs: list = []  # verified infeasibility certificates of pruned nodes

    def evaluate(lower, upper, fixings):
        nonlocal best_value, best_point
        model = build_linear_model(ir, lower, upper, fixings)
        sol = solve_linear_model(model)
        if sol.status == Status.INFEASIBLE:
            proofs.append({"lower": lower, "upper": upper, "fixings": fixings, **sol.certificate})
            return
        if sol.x is not None:
            v = np.clip(sol.x[: ir.n], lower, upper)
            if ir.max_violation(v) <= FEASIBILITY:
                value = ir.objective_value(v)
                if value > best_value:
                    best_value, best_point = value, v
        heapq.heappush(heap, (-sol.bound, next(counter), lower, upper, fixings, model, sol.x))

    evaluate(ir.lower.copy(), ir.upper.copy(), ())
    nodes, finished = 1, True
    while heap:
        top = -heap[0][0]
        if top <= best_value + gap * (1 + abs(best_value)):
            break
        if nodes >= node_limit or time.perf_counter() - start > time_limit:
            finished = False
            break
        _, _, lower, upper, fixings, model, x = heapq.heappop(heap)
        children = _branch(ir, lower, upper, fixings, model, x) if x is not None else None
        if children is None:  # nothing left to split: the node bound is as good as it gets
            heapq.heappush(heap, (-top, next(counter), lower, upper, fixings, model, x))
            finished = False
            break
        for child in children:
            evaluate(*child)
            nodes += 1
    upper_bound = max([best_value] + [-entry[0] for entry in heap])
    stats = {"method": "branch-and-bound", "nodes": nodes, "infeasible_nodes": len(proofs)}
    if finished and best_point is None and not heap:
        return package(ir, "exact", Status.INFEASIBLE, -np.inf, stats=stats,
                       message=f"infeasible: all {len(proofs)} leaves carry verified Farkas certificates",
                       certificate={"leaves": proofs})
    status = Status.OPTIMAL if finished else Status.BOUND
    return package(ir, "exact", status, upper_bound, best_point, tolerance=FEASIBILITY, stats=stats)


def _branch(ir: IR, lower, upper, fixings, model, x):
    """Children of a node: split a violated complementarity, else bisect a variable."""
    v = x[: ir.n]
    fixed = {(i, r) for i, r, _ in fixings}
    for index, comp in enumerate(ir.complementarities):
        f, g = comp.f.evaluate(v), comp.g.evaluate(v)
        both = np.minimum(f, g)
        both[[r for i, r in fixed if i == index]] = -np.inf
        row = int(np.argmax(both))
        if both.size and both[row] > FEASIBILITY:
            return [(lower, upper, fixings + ((index, row, side),)) for side in ("f", "g")]
    width = upper - lower
    gaps = np.zeros(ir.n)
    entries = model.entries
    paired = entries[:, 0] >= 0
    if paired.any():
        a, b = entries[paired, 0], entries[paired, 1]
        w = x[ir.n:][paired]
        gap = np.abs(w - v[a] * v[b])
        np.maximum.at(gaps, a, gap * (width[a] >= width[b]))
        np.maximum.at(gaps, b, gap * (width[b] > width[a]))
    score = np.where(width > 1e-9, gaps + 1e-12 * width, -1.0)
    if (~paired).any() or not np.any(gaps > 0):
        score = np.where(width > 1e-9, width, -1.0)
    var = int(np.argmax(score))
    if score[var] < 0:
        return None
    mid = 0.5 * (lower[var] + upper[var])
    left_upper, right_lower = upper.copy(), lower.copy()
    left_upper[var], right_lower[var] = mid, mid
    return [(lower, left_upper, fixings), (right_lower, upper, fixings)]
