"""``sdp``: Shor relaxation (SDP-CERT). The dual LMI goes straight to Clarabel.

The dual ``min t`` s.t. ``S = t e₀e₀ᵀ + Σ y_r E_r + Σ μ_s G_s − C ⪰ 0``, ``μ >= 0`` has a
slack ``S`` with structural zeros wherever no constraint couples two variables, which
Clarabel's chordal decomposition exploits; a primal ``P ⪰ 0`` variable is dense by
construction. ``formulation="cvxpy"`` solves the readable primal through cvxpy instead;
both report the same rigorous bound, rebuilt from the multipliers by
:func:`~qcqp.backends.shor.dual_upper_bound`.
"""

from __future__ import annotations

import time

import clarabel
import numpy as np
import scipy.sparse as sp

from qcqp import IR, InputError, Result, Status, register_backend
from qcqp.backends.shor import ShorForm, build_shor, dual_upper_bound
from qcqp.lifting import pair_rows_cols, to_matrix

SOLVED = {"Solved"}


def _svec_scale(dim: int) -> np.ndarray:
    rows, cols = pair_rows_cols(dim)
    return np.where(rows == cols, 1.0, 1.0 / np.sqrt(2.0))


def solve_dual_clarabel(form: ShorForm, time_limit: float | None = None, verbose: bool = False,
                        **settings):
    """Solve the dual LMI with Clarabel; returns ``(status, t, y, μ, P or None, info)``."""
    m_e, m_g = form.E.shape[0], form.G.shape[0]
    D = sp.diags_array(_svec_scale(form.dim))
    e0 = sp.csr_array(([1.0], ([0], [0])), shape=(form.c.size, 1))
    lmi = -(D @ sp.hstack([e0, form.E.T, form.G.T], format="csc"))
    nonneg = sp.hstack([sp.csr_array((m_g, 1 + m_e)), -sp.eye_array(m_g)], format="csc")
    A = sp.csc_matrix(sp.vstack([nonneg, lmi], format="csc"))
    b = np.concatenate([np.zeros(m_g), -(D @ form.c)])
    q = np.zeros(1 + m_e + m_g)
    q[0] = 1.0
    opts = clarabel.DefaultSettings()
    opts.verbose = verbose
    if time_limit is not None:
        opts.time_limit = float(time_limit)
    for key, value in settings.items():
        if not hasattr(opts, key):
            raise InputError(f"unknown Clarabel setting {key!r}")
        setattr(opts, key, value)
    cones = [clarabel.NonnegativeConeT(m_g), clarabel.PSDTriangleConeT(form.dim)]
    solver = clarabel.DefaultSolver(sp.csc_matrix((q.size, q.size)), q, A, b, cones, opts)
    sol = solver.solve()
    x = np.asarray(sol.x)
    z = np.asarray(sol.z)[m_g:] * _svec_scale(form.dim)  # svec: off-diagonals carry √2
    P = to_matrix(z, form.dim) if np.all(np.isfinite(z)) else None
    info = {"solver_status": str(sol.status), "iterations": sol.iterations,
            "solver_time": sol.solve_time}
    return str(sol.status), x[0], x[1:1 + m_e], x[1 + m_e:], P, info


def solve_primal_cvxpy(form: ShorForm, solver: str = "CLARABEL", **options):
    """The readable primal ``max ⟨C, P⟩`` with ``P ⪰ 0`` in cvxpy (a cross-check; dense)."""
    import cvxpy as cp

    rows, cols = pair_rows_cols(form.dim)
    P = cp.Variable((form.dim, form.dim), PSD=True)
    p = P[rows, cols]
    one, eq, le = P[0, 0] == 1, form.E @ p == 0, form.G @ p <= 0
    problem = cp.Problem(cp.Maximize(form.c @ p), [one, le] + ([eq] if form.E.shape[0] else []))
    problem.solve(solver=solver, **options)
    y = eq.dual_value if form.E.shape[0] else np.zeros(0)
    status = "Solved" if problem.status == cp.OPTIMAL else problem.status
    mu = le.dual_value if le.dual_value is not None else np.zeros(form.G.shape[0])
    t = one.dual_value if one.dual_value is not None else np.inf
    info = {"solver_status": problem.status, "solver_time": problem.solver_stats.solve_time}
    return status, float(t), np.asarray(y if y is not None else 0.0), np.asarray(mu), P.value, info


MAX_DIM = 400  # beyond this Clarabel may spend minutes before its first iteration


@register_backend("sdp")
def solve_sdp(ir: IR, formulation: str = "dual", time_limit: float | None = None,
              verbose: bool = False, max_dim: int = MAX_DIM, **settings) -> Result:
    """Shor SDP relaxation with a rigorous bound.

    Parameters
    ----------
    formulation
        ``"dual"`` (default): the dual LMI assembled here and handed to Clarabel.
        ``"cvxpy"``: the primal with a PSD variable through cvxpy (slower; cross-check).
    time_limit
        Seconds for the solver; whatever multipliers it returns still give a valid bound.
    max_dim
        Refuse lifted matrices larger than this: an interior-point solver needs memory
        and time far beyond a first-order method there (use ``sdp-fo``).
    settings
        Extra Clarabel settings (e.g. ``tol_gap_rel=1e-9``).
    """
    if ir.n + 1 > max_dim:
        raise InputError(f"sdp: the lifted matrix would be {ir.n + 1} x {ir.n + 1} (> max_dim={max_dim}); "
                         "use sdp-fo for problems this large (or, in Python, solve(..., max_dim=N) to try anyway)")
    start = time.perf_counter()
    form = build_shor(ir)
    built = time.perf_counter()
    if formulation == "dual":
        status, t, y, mu, P, info = solve_dual_clarabel(form, time_limit, verbose, **settings)
    elif formulation == "cvxpy":
        status, t, y, mu, P, info = solve_primal_cvxpy(form, verbose=verbose, **settings)
    else:
        raise InputError(f"unknown sdp formulation {formulation!r}; use 'dual' or 'cvxpy'")
    solved = time.perf_counter()
    finite = np.isfinite(t) and np.all(np.isfinite(y)) and np.all(np.isfinite(mu))
    upper, lam = dual_upper_bound(form, t, y, mu) if finite else (np.inf, -np.inf)
    result = _package(ir, status, upper, t, P)
    result.certificate = {"t": t, "y": y, "mu": mu, "lambda_min_lower": lam}
    result.stats.update(info, relax_time=built - start, solve_time=solved - built,
                        certify_time=time.perf_counter() - solved, dim=form.dim,
                        equalities=form.E.shape[0], inequalities=form.G.shape[0])
    return result


def _package(ir: IR, status: str, upper: float, t: float, P) -> Result:
    if not np.isfinite(upper):
        return Result("sdp", Status.ERROR, ir.user_value(np.inf), message=f"solver status {status}")
    value = point = None
    if P is not None:
        v = np.clip(P[0, 1:], ir.lower, ir.upper)
        if ir.max_violation(v) <= 1e-9:
            value, point = ir.user_value(ir.objective_value(v)), ir.split(v)
    code = Status.OPTIMAL if status in SOLVED else Status.BOUND
    return Result("sdp", code, ir.user_value(upper), value=value, point=point, solver_value=ir.user_value(t),
                  message=f"solver status {status}", lifted=P)
