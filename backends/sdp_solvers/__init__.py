"""Adapters that take the project's own Shor form (never a cvxpy canonicalisation) to an SDP solver.

Every adapter returns multipliers ``(t, y, μ)`` of the dual LMI and, where it has one, the
lifted matrix ``P``; the ``sdp`` backend rebuilds the bound from the multipliers rigorously,
so a low-accuracy or stopped solver still gives a valid bound. Adapters register in
:data:`SDP_SOLVERS` (entry-point group ``qcqp.sdp_solvers`` for third parties).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from qcqp import InputError, Registry, Status
from qcqp.backends.shor import ShorForm
from qcqp.lifting import pair_rows_cols


@dataclass
class DualSolution:
    """What an adapter returns. ``status`` follows the adapter's status map:
    ``INFEASIBLE`` means the solver *claims* the relaxation is infeasible (unproven)."""

    status: Status
    t: float
    y: np.ndarray
    mu: np.ndarray
    P: np.ndarray | None = None
    info: dict = field(default_factory=dict)


class SdpSolver:
    """Interface of an adapter: ``available()`` and ``solve(form, ...) -> DualSolution``."""

    name: str = ""
    module: str = ""  # the Python module it needs
    extra: str = ""  # the pip extra that installs it

    def available(self) -> bool:
        from importlib.util import find_spec

        return find_spec(self.module) is not None

    def memory_bytes(self, form: ShorForm) -> float:
        """Rough peak memory of a solve (dense ``N × N`` iterates and the row data)."""
        return 8.0 * (12 * form.dim**2 + 3 * (form.E.nnz + form.G.nnz))

    def solve(self, form: ShorForm, time_limit: float | None, verbose: bool, settings: dict) -> DualSolution:
        raise NotImplementedError


@contextlib.contextmanager
def silenced(verbose: bool) -> Iterator[None]:
    """Mute a compiled solver's own printing (C ``stdout``/``stderr``) unless ``verbose``."""
    if verbose:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _instance(name: str, adapter):
    return adapter() if isinstance(adapter, type) else adapter


SDP_SOLVERS = Registry("SDP solver", "qcqp.sdp_solvers", adapt=_instance)


def register_sdp_solver(name: str):
    """Decorator registering an :class:`SdpSolver` subclass under ``name``."""
    return SDP_SOLVERS.register(name)


def available_memory() -> float:
    """Bytes of memory available now (``MemAvailable``), or the physical memory."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def pattern_density(form: ShorForm) -> float:
    """Share of the off-diagonal entries of ``P`` that the objective or some row touches."""
    touched = np.unique(np.concatenate([form.E.indices, form.G.indices, np.flatnonzero(form.c)]))
    rows, cols = pair_rows_cols(form.dim)
    off = int(np.sum(rows[touched] != cols[touched]))
    return off / max(1.0, form.dim * (form.dim - 1) / 2)


def choose_solver(form: ShorForm) -> str:
    """The installed solver expected to be fastest for this shape (measured: docs/benchmarks.md).

    A Schur-complement interior point costs about ``m N³ + m² N² + m³`` per iteration (``ipm``
    less where rows are dense but of low rank: a network's ReLU rows), Clarabel's dense PSD
    block about ``N⁶``, far less when the pattern of ``P`` is sparse enough for its chordal
    decomposition. Measured: with ``m`` a few ``N`` and a dense pattern (network margins,
    density 0.45–0.7) ``ipm`` wins, SDPA next; where every row touches only a few entries of
    ``P`` (BoxQP's box rows and separated RLT cuts) SDPA's sparse-entry Schur formula beats
    ``ipm``'s factors 3–10×; with ``m >> N`` (BoxQP's McCormick rows) or a sparse pattern
    (MaxCut, density < 0.1) Clarabel is faster and tighter. Among the installed solvers whose
    memory estimate fits, the first of the preference order.
    """
    rows = 1 + form.E.shape[0] + form.G.shape[0]
    schur_wins = (form.dim >= SCHUR_MIN_DIM and rows <= SCHUR_MAX_ROWS_PER_DIM * form.dim
                  and pattern_density(form) >= SCHUR_MIN_DENSITY)
    entry_sparse = form.E.nnz + form.G.nnz <= FEW_ENTRIES_PER_ROW * (rows - 1)
    order = (["sdpa", "ipm"] if entry_sparse else ["ipm", "sdpa"]) + ["clarabel", "scs"] if schur_wins \
        else ["clarabel", "ipm", "sdpa", "scs"]
    memory = available_memory()
    for name in order:
        adapter = SDP_SOLVERS.get(name)
        if adapter.available() and adapter.memory_bytes(form) <= memory:
            return name
    return order[0]


SCHUR_MIN_DIM = 20
SCHUR_MAX_ROWS_PER_DIM = 8
SCHUR_MIN_DENSITY = 0.2
FEW_ENTRIES_PER_ROW = 4  # mean entries of P per row up to which SDPA's sparse Schur formula wins


def check_memory(adapter: SdpSolver, form: ShorForm) -> None:
    """Refuse a solve that would not fit in memory, naming the alternatives that would."""
    need, have = adapter.memory_bytes(form), available_memory()
    if need > have:
        fitting = [name for name in SDP_SOLVERS.names() if SDP_SOLVERS.get(name).available()
                   and SDP_SOLVERS.get(name).memory_bytes(form) <= have]
        others = f" or solver={' / '.join(repr(name) for name in fitting)}" if fitting else ""
        raise InputError(f"sdp: solver {adapter.name!r} would need about {need / 2**30:.1f} GiB for a "
                         f"{form.dim} x {form.dim} lifted matrix with {form.E.shape[0] + form.G.shape[0]} rows "
                         f"({have / 2**30:.1f} GiB available); use sdp-fo (matrix-free){others}")


def prove_infeasible(form: ShorForm, time_limit: float | None) -> dict | None:
    """A verified certificate that the relaxation is empty, or ``None``.

    Clarabel solves ``min t`` over ``t e₀e₀ᵀ + Σ y_r E_r + Σ μ_s G_s ⪰ 0``, ``μ >= 0``, ``t >= −1``
    (the dual of ``max 0``, kept bounded). Multipliers whose rigorous bound on ``max 0`` is
    negative prove that no ``P`` satisfies the relaxation.
    """
    from qcqp.backends.sdp_solvers.clarabel import solve_dual_lmi
    from qcqp.backends.shor import dual_upper_bound

    if SDP_SOLVERS.get("clarabel").memory_bytes(form) > available_memory():
        return None  # too large to try: the claim stays unproven
    zero = replace(form, c=np.zeros_like(form.c))
    sol = solve_dual_lmi(zero, zero.c, -1.0, time_limit, False, {})
    if not (np.isfinite(sol.t) and np.all(np.isfinite(sol.y)) and np.all(np.isfinite(sol.mu))):
        return None
    proof, lam = dual_upper_bound(zero, sol.t, sol.y, sol.mu)
    if proof < 0:
        return {"ray": {"t": sol.t, "y": sol.y, "mu": sol.mu}, "lambda_min_lower": lam, "max_zero_upper": proof}
    return None


from qcqp.backends.sdp_solvers import clarabel, cvxpy_primal, ipm, scs, sdpa  # noqa: E402,F401  (built-ins register on import)
