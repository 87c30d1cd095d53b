"""SDPA (primal–dual interior point with a Schur complement; ``pip install 'qcqp-relax[sdpa]'``, GPL-2).

The Shor primal in SDPA's equality form: variables ``(s, vec P)`` with ``s >= 0`` and
``P ⪰ 0``; rows ``P₀₀ = 1``, ``⟨E_r, P⟩ = 0``, ``⟨G_s, P⟩ + s_s = 0``; minimise ``−⟨C, P⟩``.
Its ``m = 1 + #E + #G`` dual multipliers are ours up to sign: ``t = −y₀``, ``y = −y_E``,
``μ = −y_G``. The Schur complement is ``m × m``, so the cost per iteration is about
``m N³ + m² N² + m³``: far below Clarabel's when ``m`` is a few ``N``.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import scipy.sparse as sp

from qcqp import InputError, Status
from qcqp.backends.process import silenced
from qcqp.backends.sdp_solvers import DualSolution, SdpSolver, register_sdp_solver
from qcqp.backends.shor import ShorForm
from qcqp.lifting import pair_rows_cols

STATUS_MAP = {"pdOPT": Status.OPTIMAL, "pdFEAS": Status.BOUND, "dFEAS": Status.BOUND, "pFEAS": Status.BOUND,
              "noINFO": Status.BOUND, "pINF_dFEAS": Status.INFEASIBLE, "pINF": Status.INFEASIBLE,
              "pFEAS_dINF": Status.ERROR, "dINF": Status.ERROR, "pdINF": Status.INFEASIBLE}
DEFAULTS = {"epsilonStar": 1e-7, "epsilonDash": 1e-7, "maxIteration": 100, "lambdaStar": 1e2}
SETTINGS = (*DEFAULTS, "numThreads", "betaStar", "betaBar", "gammaStar")  # what users may set


def utri_to_vec(dim: int) -> sp.csr_array:
    """Map coefficients on the upper triangle to a symmetric ``dim × dim`` matrix, column-major vec."""
    rows, cols = pair_rows_cols(dim)
    k = np.arange(rows.size)
    off = rows != cols
    weight = np.where(off, 0.5, 1.0)
    r = np.concatenate([k, k[off]])
    c = np.concatenate([cols * dim + rows, (rows * dim + cols)[off]])
    v = np.concatenate([weight, weight[off]])
    return sp.csr_array((v, (r, c)), shape=(rows.size, dim * dim))


@register_sdp_solver("sdpa")
class Sdpa(SdpSolver):
    name, module, extra = "sdpa", "sdpap", "sdpa"

    def memory_bytes(self, form: ShorForm) -> float:
        """The dense ``m × m`` Schur complement plus a dozen dense ``N × N`` iterates."""
        rows = 1 + form.E.shape[0] + form.G.shape[0]
        return 8.0 * (rows**2 + 12 * form.dim**2 + 4 * (form.E.nnz + form.G.nnz))

    def solve(self, form: ShorForm, time_limit, verbose, settings):
        import sdpap

        unknown = [key for key in settings if key not in SETTINGS]
        if unknown:
            raise InputError(f"unknown SDPA setting {unknown[0]!r}; valid: {', '.join(SETTINGS)}")
        dim, m_e, m_g = form.dim, form.E.shape[0], form.G.shape[0]
        T = utri_to_vec(dim)
        one = sp.csr_array(([1.0], ([0], [0])), shape=(1, dim * dim))
        rows_P = sp.vstack([one, form.E @ T, form.G @ T], format="csr")
        slack = sp.vstack([sp.csr_array((1 + m_e, m_g)), sp.eye_array(m_g)], format="csr")
        A = sp.csc_matrix(sp.hstack([slack, rows_P], format="csc"))
        b = np.zeros(1 + m_e + m_g)
        b[0] = 1.0
        c = np.concatenate([np.zeros(m_g), -(form.c @ T)])
        K, J = sdpap.SymCone(l=m_g, s=(dim,)), sdpap.SymCone(f=1 + m_e + m_g)
        option = {**DEFAULTS, "numThreads": os.cpu_count() or 1, **settings, "print": "display" if verbose else ""}
        with silenced(verbose), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # its own residual re-check; we re-verify anyway
            x, y, info, timing, _ = sdpap.solve(A, sp.csc_matrix(b[:, None]), sp.csc_matrix(c[:, None]), K, J, option)
        y = -np.asarray(y.todense() if sp.issparse(y) else y, float).ravel()
        x = np.asarray(x.todense() if sp.issparse(x) else x, float).ravel()
        P = x[m_g:].reshape(dim, dim, order="F")
        status = STATUS_MAP.get(info.get("phasevalue", ""), Status.ERROR)
        details = {"solver_status": info.get("phasevalue"), "iterations": info.get("iteration"),
                   "solver_time": timing.get("total")}
        return DualSolution(status, float(y[0]), y[1:1 + m_e], y[1 + m_e:], 0.5 * (P + P.T), details)
