"""``exact``: ground truth for small problems.

* Linear objective and constraints plus complementarities (ReLU networks): a MILP with
  one binary per complementarity row (big-M from the bounds on ``f − g``), solved by
  HiGHS. The reported bound is HiGHS's dual bound, loosened by its tolerances.
* Anything with products: :func:`qcqp.branch.branch_and_bound` (spatial and complementarity
  branching) with the ``sdp`` relaxation bounding every node, or the cheaper ``lp`` when the
  problem has complementarities (``oracle=`` chooses). The bound is the largest rigorous node
  bound still open; feasible points found on the way are checked on the IR itself.

"Infeasible" is reported only when every leaf of the search carries the oracle's verified
certificate (an infeasible MILP is re-proven this way by the ``lp`` oracle, splitting
complementarities).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from qcqp import IR, Backend, InputError, Relaxation, Result, Status, register_backend
from qcqp.backend import package
from qcqp.backends.highs import highs_model
from qcqp.backends.process import silenced
from qcqp.branch import branch_and_bound
from qcqp.expr import widen_columns
from qcqp.safe import loosen_upper

MILP_TOLERANCE = 1e-6  # HiGHS feasibility tolerances, charged against its dual bound
DECIDE_MARGIN = 1e-4  # with ``decide``: the MILP proves the optimum below decide − this (relative)
# With ``decide`` the proof is what takes time: HiGHS's sub-MIP heuristics (RINS, RENS, root
# reduced cost) spent half of it on mnistfc margins (prop_1_0.03: 19.6 s → 9.5 s per target).
DECIDE_SETTINGS = {"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False,
                   "mip_heuristic_run_root_reduced_cost": False}


@register_backend("exact")
class Exact(Backend):
    """Exact optimum (within ``gap``) by MILP or spatial branch and bound."""

    name = "exact"

    def solve(self, relaxation: Relaxation, time_limit: float = 120.0, gap: float = 1e-7,
              node_limit: int = 20000, oracle: str | None = None, decide: float | None = None) -> Result:
        """Solve to optimality.

        Parameters
        ----------
        time_limit
            Seconds; on time-out the result has status ``bound`` and a valid, looser bound.
        gap
            Relative optimality gap at which to stop.
        node_limit
            Branch-and-bound nodes (spatial search, and the proof of an infeasible MILP).
        oracle
            The backend bounding each node of the spatial search; by default ``"sdp"``, or
            ``"lp"`` (many cheap nodes) when the problem has complementarities (networks).
        decide
            Only ask whether the optimum is better than this value (below it for ``min``, above
            for ``max``; MILPs): nodes that cannot beat it by ``DECIDE_MARGIN·(1 + |decide|)`` are
            pruned and the search stops at the first point that beats it. The bound stays valid
            but need not be the optimum; much faster when the answer is all one needs (a margin
            certified > 0, or a counterexample). The spatial search has no use for it and solves
            to ``gap`` as usual.
        """
        ir = relaxation.ir
        for con in ir.constraints:
            if con.approximation:
                raise InputError(f"exact cannot solve constraint {con.name!r}: it is {con.approximation}; "
                                 "use lp, sdp or sdp-fo for a bound")
        ir.require_bounds("exact")
        linear = not ir.objective.products and all(con.is_linear for con in ir.constraints)
        if linear and ir.complementarities:
            return _milp(ir, time_limit, gap, node_limit, decide)
        oracle = oracle or ("lp" if ir.complementarities else "sdp")
        return branch_and_bound(ir, oracle, time_limit=time_limit, gap=gap, node_limit=node_limit, name="exact")


def _milp_model(ir: IR):
    """``(c, A, row_lo, row_hi, col_lo, col_hi, integrality)`` of the MILP maximising ``c · x``:
    one binary per complementarity row, big-M from the bounds on ``f − g``."""
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
    A = sp.vstack([b[0] for b in blocks], format="csc") if blocks else sp.csc_array((0, width))
    lo = np.concatenate([b[1] for b in blocks]) if blocks else np.zeros(0)
    hi = np.concatenate([b[2] for b in blocks]) if blocks else np.zeros(0)
    c = np.concatenate([ir.objective.affine.A.toarray().ravel(), np.zeros(binaries)])
    return (c, A, lo, hi, np.concatenate([ir.lower, np.zeros(binaries)]),
            np.concatenate([ir.upper, np.ones(binaries)]), np.concatenate([np.zeros(n), np.ones(binaries)]))


def _milp(ir: IR, time_limit: float, gap: float, node_limit: int, decide: float | None) -> Result:
    """The MILP by HiGHS. With ``decide`` (the user's sense), HiGHS prunes every node that cannot
    beat it by ``DECIDE_MARGIN`` and stops at the first point that beats it."""
    c, *model = _milp_model(ir)
    constant = float(ir.objective.affine.a[0])
    options = {"time_limit": float(time_limit), "mip_rel_gap": gap}
    cutoff = None
    if decide is not None:  # in maximisation form; HiGHS minimises f = −c·x, the objective is −f + constant
        decide = ir.user_value(decide)
        cutoff = decide - DECIDE_MARGIN * (1 + abs(decide))
        options |= {"objective_bound": constant - cutoff, "objective_target": constant - decide} | DECIDE_SETTINGS
    with silenced(False):  # HiGHS prints a banner, and debugging lines on some MIPs, whatever its options
        status, dual, x, value, nodes = _highs(c, *model, options)
    if status == "kInfeasible" and cutoff is None:  # HiGHS's claim is re-proven leaf by leaf (Farkas rays)
        result = branch_and_bound(ir, "lp", time_limit=time_limit, gap=gap, node_limit=node_limit, name="exact")
        result.stats["milp"] = "HiGHS reported infeasible"
        return result
    upper = constant - dual
    if cutoff is not None and upper < np.inf:  # nodes pruned by the cut-off contribute the cut-off itself
        upper = max(upper, cutoff)
    if not np.isfinite(upper):
        return package(ir, "exact", Status.ERROR, np.inf, message=f"HiGHS {status} without a bound")
    upper = loosen_upper(upper + MILP_TOLERANCE * (1 + abs(upper)))
    optimal = status == "kOptimal" and cutoff is None
    return package(ir, "exact", Status.OPTIMAL if optimal else Status.BOUND, upper,
                   None if x is None else x[:ir.n], None if value is None else constant - value, tolerance=1e-5,
                   message=f"HiGHS {status}", stats={"method": "milp", "binaries": int(model[-1].sum()),
                                                      "nodes": nodes})


def _highs(c, A, lo, hi, col_lo, col_hi, integrality, options: dict):
    """Minimise ``−c · x`` with HiGHS: ``(model status name, dual bound, x or None, value or None, nodes)``."""
    solver = highs_model(c, col_lo, col_hi, A, lo, hi, integrality)
    for name, value in options.items():
        solver.setOptionValue(name, value)
    solver.run()
    info = solver.getInfo()
    feasible = info.primal_solution_status == 2
    x = np.array(solver.getSolution().col_value) if feasible else None
    status = solver.getModelStatus().name
    dual = np.inf if status == "kInfeasible" else info.mip_dual_bound
    return status, dual, x, info.objective_function_value if feasible else None, int(info.mip_node_count)
