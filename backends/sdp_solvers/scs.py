"""SCS (first-order splitting, MIT; ``pip install 'qcqp-relax[scs]'``) on the dual LMI.

Low accuracy but cheap iterations and little memory: a fallback for lifted matrices too
large for an interior point. Its multipliers, however inaccurate, give a rigorous bound.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from qcqp import InputError, Status
from qcqp.backends.process import silenced
from qcqp.backends.sdp_solvers import DualSolution, SdpSolver, register_sdp_solver
from qcqp.backends.sdp_solvers.clarabel import lmi_columns, svec_scale
from qcqp.backends.shor import ShorForm
from qcqp.lifting import pair_index

STATUS_MAP = {"solved": Status.OPTIMAL, "solved_inaccurate": Status.BOUND, "unbounded": Status.INFEASIBLE,
              "unbounded_inaccurate": Status.INFEASIBLE, "infeasible": Status.ERROR,
              "infeasible_inaccurate": Status.ERROR}


def scs_order(dim: int) -> np.ndarray:
    """Our upper-triangle index of each entry of SCS's column-major lower triangle."""
    cols = np.repeat(np.arange(dim), np.arange(dim, 0, -1))
    rows = np.concatenate([np.arange(j, dim) for j in range(dim)])
    return pair_index(rows, cols)


@register_sdp_solver("scs")
class Scs(SdpSolver):
    name, module, extra = "scs", "scs", "scs"

    def solve(self, form: ShorForm, time_limit, verbose, settings):
        import scs

        m_e, m_g = form.E.shape[0], form.G.shape[0]
        order = scs_order(form.dim)
        nonneg = sp.hstack([sp.csr_array((m_g, 1 + m_e)), -sp.eye_array(m_g)], format="csc")
        A = sp.csc_matrix(sp.vstack([nonneg, -sp.csr_array(lmi_columns(form))[order]], format="csc"))
        b = np.concatenate([np.zeros(m_g), -(svec_scale(form.dim) * form.c)[order]])
        q = np.zeros(1 + m_e + m_g)
        q[0] = 1.0
        options = {"verbose": verbose, "eps_abs": 1e-7, "eps_rel": 1e-7, "max_iters": 100000, **settings}
        if time_limit is not None:
            options["time_limit_secs"] = float(time_limit)
        try:
            solver = scs.SCS({"A": A, "b": b, "c": q}, {"l": m_g, "s": [form.dim]}, **options)
        except (TypeError, ValueError) as error:
            raise InputError(f"SCS setting rejected: {error}") from None
        with silenced(verbose):
            sol = solver.solve()
        x, svec = sol["x"], np.zeros(form.c.size)
        svec[order] = sol["y"][m_g:]
        utri = svec * svec_scale(form.dim)
        P = np.zeros((form.dim, form.dim))
        rows, cols = np.triu_indices(form.dim)
        P[rows, cols] = utri[pair_index(rows, cols)]
        P = P + np.triu(P, 1).T
        info = {"solver_status": sol["info"]["status"], "iterations": sol["info"]["iter"],
                "solver_time": sol["info"]["solve_time"] / 1000.0}
        status = STATUS_MAP.get(sol["info"]["status"], Status.BOUND)
        return DualSolution(status, float(x[0]), x[1:1 + m_e], x[1 + m_e:], P, info)
