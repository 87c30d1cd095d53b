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
from scipy.optimize import Bounds, LinearConstraint, milp

from qcqp import IR, Backend, InputError, Relaxation, Result, Status, register_backend
from qcqp.backend import package
from qcqp.backends.sdp_solvers import silenced
from qcqp.branch import branch_and_bound
from qcqp.expr import widen_columns
from qcqp.safe import loosen_upper

MILP_TOLERANCE = 1e-6  # HiGHS feasibility tolerances, charged against its dual bound


@register_backend("exact")
class Exact(Backend):
    """Exact optimum (within ``gap``) by MILP or spatial branch and bound."""

    name = "exact"

    def solve(self, relaxation: Relaxation, time_limit: float = 120.0, gap: float = 1e-7,
              node_limit: int = 20000, oracle: str | None = None) -> Result:
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
        oracle = oracle or ("lp" if ir.complementarities else "sdp")
        return branch_and_bound(ir, oracle, time_limit=time_limit, gap=gap, node_limit=node_limit, name="exact")


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
        result = branch_and_bound(ir, "lp", time_limit=time_limit, gap=gap, node_limit=node_limit, name="exact")
        result.stats["milp"] = "HiGHS reported infeasible"
        return result
    if dual is None or not np.isfinite(dual):
        return package(ir, "exact", Status.ERROR, np.inf, message=res.message)
    upper = -dual + constant
    upper = loosen_upper(upper + MILP_TOLERANCE * (1 + abs(upper)))
    status = Status.OPTIMAL if res.status == 0 else Status.BOUND
    return package(ir, "exact", status, upper, res.x, None if res.fun is None else -res.fun + constant,
                   tolerance=1e-5, message=res.message, stats={"method": "milp", "binaries": binaries})
