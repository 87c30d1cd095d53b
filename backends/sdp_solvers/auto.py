"""``solver="auto"``: the installed SDP solver expected to be fastest for a Shor form, and the
memory check every solve passes first."""

from __future__ import annotations

import numpy as np

from qcqp import InputError
from qcqp.backends.process import available_memory
from qcqp.backends.sdp_solvers import SDP_SOLVERS, SdpSolver
from qcqp.backends.shor import ShorForm
from qcqp.lifting import pair_rows_cols


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
