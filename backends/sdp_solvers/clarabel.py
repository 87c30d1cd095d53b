"""Clarabel (interior point, Apache-2.0, default install) on the dual LMI.

``min t`` s.t. ``S = t e₀e₀ᵀ + Σ y_r E_r + Σ μ_s G_s − C ⪰ 0``, ``μ >= 0``. Clarabel factors
the KKT system of the PSD block (dense in ``N²`` unknowns), but its chordal decomposition
exploits the structural zeros of ``S``; it wins when rows far outnumber ``N``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from qcqp import InputError, Status
from qcqp.backends.process import available_memory
from qcqp.backends.sdp_solvers import DualSolution, SdpSolver, register_sdp_solver
from qcqp.backends.shor import ShorForm
from qcqp.lifting import pair_rows_cols, to_matrix

STATUS_MAP = {
    "Solved": Status.OPTIMAL, "AlmostSolved": Status.BOUND, "MaxIterations": Status.BOUND,
    "MaxTime": Status.BOUND, "InsufficientProgress": Status.BOUND, "CallbackTerminated": Status.BOUND,
    "DualInfeasible": Status.INFEASIBLE, "AlmostDualInfeasible": Status.INFEASIBLE,
    "PrimalInfeasible": Status.ERROR, "AlmostPrimalInfeasible": Status.ERROR, "NumericalError": Status.ERROR,
}


def svec_scale(dim: int) -> np.ndarray:
    """Clarabel's svec weights on the column-major upper triangle: off-diagonals carry √2."""
    rows, cols = pair_rows_cols(dim)
    return np.where(rows == cols, 1.0, 1.0 / np.sqrt(2.0))


def lmi_columns(form: ShorForm) -> sp.csc_array:
    """``[e₀ | Eᵀ | Gᵀ]`` in svec scaling: column ``k`` is ``svec`` of the matrix multiplying variable ``k``."""
    e0 = sp.csr_array(([1.0], ([0], [0])), shape=(form.c.size, 1))
    return sp.diags_array(svec_scale(form.dim)) @ sp.hstack([e0, form.E.T, form.G.T], format="csc")


def solve_dual_lmi(form: ShorForm, c: np.ndarray, t_floor: float | None, time_limit: float | None,
                   verbose: bool, settings: dict):
    """Clarabel on ``min t`` over the LMI with objective ``c`` (and ``t >= t_floor`` if given)."""
    import clarabel

    m_e, m_g = form.E.shape[0], form.G.shape[0]
    lmi = -lmi_columns(form)
    nonneg = sp.hstack([sp.csr_array((m_g, 1 + m_e)), -sp.eye_array(m_g)], format="csc")
    blocks, rhs, cones = [nonneg], [np.zeros(m_g)], [clarabel.NonnegativeConeT(m_g)]
    if t_floor is not None:  # −t + s = −t_floor, s >= 0
        blocks.append(sp.csr_array(([-1.0], ([0], [0])), shape=(1, 1 + m_e + m_g)))
        rhs.append(np.array([-t_floor]))
        cones.append(clarabel.NonnegativeConeT(1))
    A = sp.csc_matrix(sp.vstack(blocks + [lmi], format="csc"))
    b = np.concatenate(rhs + [-(svec_scale(form.dim) * c)])
    q = np.zeros(1 + m_e + m_g)
    q[0] = 1.0
    opts = clarabel.DefaultSettings()
    opts.verbose = verbose
    if time_limit is not None:
        opts.time_limit = float(time_limit)
    for key, value in (merge_setting(form) | settings).items():
        if not hasattr(opts, key):
            raise InputError(f"unknown Clarabel setting {key!r}")
        setattr(opts, key, value)
    solver = clarabel.DefaultSolver(sp.csc_matrix((q.size, q.size)), q, A, b,
                                    cones + [clarabel.PSDTriangleConeT(form.dim)], opts)
    sol = solver.solve()
    x, z = np.asarray(sol.x), np.asarray(sol.z)[len(b) - c.size:] * svec_scale(form.dim)
    P = to_matrix(z, form.dim) if np.all(np.isfinite(z)) else None
    info = {"solver_status": str(sol.status), "iterations": sol.iterations, "solver_time": sol.solve_time}
    return DualSolution(STATUS_MAP.get(str(sol.status), Status.ERROR), float(x[0]), x[1:1 + m_e],
                        x[1 + m_e:], P, info)


def merge_setting(form: ShorForm) -> dict:
    """Clique merging for Clarabel's chordal decomposition, chosen by the pattern of ``P``.

    Clarabel's default (``clique_graph``) never returned on some sparse patterns (digits CNN
    margins: its memory grew past 8 GiB until the process died), so sparse patterns merge
    parent–child cliques only: as fast there and on MaxCut and BoxQP. Dense patterns (MLP
    margins) keep ``clique_graph``, measured 6× faster on them (docs/benchmarks.md).
    """
    from qcqp.backends.sdp_solvers.auto import SCHUR_MIN_DENSITY, pattern_density

    sparse = pattern_density(form) < SCHUR_MIN_DENSITY
    return {"chordal_decomposition_merge_method": "parent_child"} if sparse else {}


@register_sdp_solver("clarabel")
class Clarabel(SdpSolver):
    name, module = "clarabel", "clarabel"

    def memory_bytes(self, form: ShorForm) -> float:
        """The KKT system holds the PSD block's Hessian: dense in the ``N(N+1)/2`` cone entries."""
        return 8.0 * (form.c.size**2 + 3 * (form.E.nnz + form.G.nnz))

    def solve(self, form, time_limit, verbose, settings):
        return solve_dual_lmi(form, form.c, None, time_limit, verbose, settings)


def prove_infeasible(form: ShorForm, time_limit: float | None) -> dict | None:
    """A verified certificate that the relaxation is empty, or ``None``.

    Clarabel solves ``min t`` over ``t e₀e₀ᵀ + Σ y_r E_r + Σ μ_s G_s ⪰ 0``, ``μ >= 0``, ``t >= −1``
    (the dual of ``max 0``, kept bounded). Multipliers whose rigorous bound on ``max 0`` is
    negative prove that no ``P`` satisfies the relaxation.
    """
    from qcqp.backends.shor import dual_upper_bound

    if Clarabel().memory_bytes(form) > available_memory():
        return None  # too large to try: the claim stays unproven
    zero = replace(form, c=np.zeros_like(form.c))
    sol = solve_dual_lmi(zero, zero.c, -1.0, time_limit, False, {})
    if not (np.isfinite(sol.t) and np.all(np.isfinite(sol.y)) and np.all(np.isfinite(sol.mu))):
        return None
    proof, lam = dual_upper_bound(zero, sol.t, sol.y, sol.mu)
    if proof < 0:
        return {"ray": {"t": sol.t, "y": sol.y, "mu": sol.mu}, "lambda_min_lower": lam, "max_zero_upper": proof}
    return None
