"""The Shor lifting ``P = [1 vᵀ; v V] ⪰ 0`` and linear maps on it.

Every quadratic row ``φ_r(v)`` becomes a linear function ``⟨M_r, P⟩`` of the lifted
matrix. We store all rows of an expression as one sparse matrix ``K`` over the upper
triangle of ``P`` in column-major order (index ``j (j + 1) / 2 + i`` for ``i <= j``, the
order Clarabel's PSD cone uses), so ``φ(v) = K · utri(vvᵀ)`` with ``ṽ = [1, v]``.
Factored products ``(L v + l) ⊙ (R v + r)`` expand row by row into ``nnz(L_j) nnz(R_j)``
entries, which for a network layer is the size of its weight matrix.

:class:`LiftIndex` gives the symbolic block indexing of the paper: ``P[x]`` is the block
standing for ``x``, ``P[x, z]`` for ``x zᵀ``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from qcqp.expr import Affine, Product, Quadratic
from qcqp.variables import Variable


def triangle_size(dim: int) -> int:
    return dim * (dim + 1) // 2


def pair_index(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Column-major upper-triangle index of the unordered pair ``{i, j}``."""
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    return hi * (hi + 1) // 2 + lo


def pair_rows_cols(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pair_index`: row and column of every upper-triangle entry."""
    cols = np.repeat(np.arange(dim), np.arange(1, dim + 1))
    rows = np.arange(triangle_size(dim)) - cols * (cols + 1) // 2
    return rows, cols


def homogenize(expr: Affine) -> sp.csr_array:
    """``[a | A]``: the affine map as a linear map of ``ṽ = [1, v]``."""
    return sp.csr_array(sp.hstack([sp.csr_array(expr.a[:, None]), expr.A], format="csr"))


def _expand_products(L: sp.csr_array, R: sp.csr_array):
    """All ``(row, a, b, L_ra R_rb)`` for the rows of two sparse matrices of equal height."""
    nl, nr = np.diff(L.indptr), np.diff(R.indptr)
    row_of_l = np.repeat(np.arange(L.shape[0]), nl)
    reps = nr[row_of_l]
    p = np.repeat(np.arange(L.nnz), reps)
    offsets = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    q = np.repeat(R.indptr[row_of_l], reps) + offsets
    return row_of_l[p], L.indices[p], R.indices[q], L.data[p] * R.data[q]


def lift(expr: Affine | Quadratic, dim: int) -> sp.csr_array:
    """Matrix ``K`` with ``expr(v) = K @ utri(ṽ ṽᵀ)`` for ``ṽ = [1, v]`` of length ``dim``."""
    quad = expr if isinstance(expr, Quadratic) else Quadratic(expr)
    width = triangle_size(dim)
    H = homogenize(quad.affine.padded(dim - 1)).tocoo()
    K = sp.csr_array((H.data, (H.row, pair_index(0, H.col))), shape=(quad.size, width))
    for term in quad.products:
        L, R = homogenize(term.left.padded(dim - 1)), homogenize(term.right.padded(dim - 1))
        row, a, b, val = _expand_products(L, R)
        pairs = sp.csr_array((val, (row, pair_index(a, b))), shape=(L.shape[0], width))
        K = K + term.S @ pairs
    K.sum_duplicates()
    return sp.csr_array(K)


EXPAND_PAIRS_PER_ROW = 8
EXPAND_PAIRS_ALWAYS = 5000


def expands(term: Product, n: int) -> bool:
    """Relax this product per entry (short rows: ``v_a v_b`` shared across rows) rather than per row?"""
    L, R = homogenize(term.left.padded(n)), homogenize(term.right.padded(n))
    pairs = int(np.sum(np.diff(L.indptr) * np.diff(R.indptr)))
    return pairs <= max(EXPAND_PAIRS_PER_ROW * L.shape[0], EXPAND_PAIRS_ALWAYS)


def entry_pairs(quad: Quadratic, n: int) -> set[tuple[int, int]]:
    """Variable pairs ``(a, b)``, ``a <= b``, whose products are relaxed per entry (see :func:`expands`)."""
    pairs: set[tuple[int, int]] = set()
    zero = Affine(sp.csr_array((quad.size, n)), np.zeros(quad.size))
    rows_of, cols_of = pair_rows_cols(n + 1)
    for term in quad.products:
        if expands(term, n):
            K = lift(Quadratic(zero, (term,)), n + 1).tocoo()
            a, b = rows_of[K.col], cols_of[K.col]
            keep = a > 0
            pairs |= set(zip((a[keep] - 1).tolist(), (b[keep] - 1).tolist()))
    return pairs


def lift_point(v: np.ndarray) -> np.ndarray:
    """``utri(ṽ ṽᵀ)`` for a point ``v``: the rank-one lift."""
    tilde = np.concatenate([[1.0], v])
    rows, cols = pair_rows_cols(tilde.size)
    return tilde[rows] * tilde[cols]


def to_matrix(utri: np.ndarray, dim: int) -> np.ndarray:
    """Symmetric matrix from its upper triangle (column-major order)."""
    rows, cols = pair_rows_cols(dim)
    M = np.zeros((dim, dim))
    M[rows, cols] = utri
    M[cols, rows] = utri
    return M


class LiftIndex:
    """Symbolic block indexing of ``P`` by variable: ``P[x]``, ``P[x, z]``, ``P[1]``.

    ``LiftIndex(variables).wrap(matrix)`` returns an object indexable by variables; it
    works for numpy arrays and cvxpy expressions alike.
    """

    def __init__(self, variables: Sequence[Variable]):
        self.variables = tuple(variables)
        self.dim = 1 + sum(var.size for var in self.variables)

    def block(self, var: Variable | int) -> slice:
        """Rows/columns of ``P`` that stand for ``var`` (``1`` for the constant)."""
        if isinstance(var, int):
            if var != 1:
                raise KeyError("only the constant 1 can index P besides variables")
            return slice(0, 1)
        if not any(var is known for known in self.variables):
            raise KeyError(f"variable {var.name!r} is not part of this lifting")
        return slice(1 + var.offset, 1 + var.offset + var.size)

    def wrap(self, matrix) -> LiftedMatrix:
        return LiftedMatrix(self, matrix)


class LiftedMatrix:
    """A lifted matrix ``P`` (numpy or cvxpy) read by variable blocks."""

    def __init__(self, index: LiftIndex, matrix):
        self.index = index
        self.matrix = matrix

    def __getitem__(self, key):
        if isinstance(key, tuple):
            first, second = key
            return self.matrix[self.index.block(first), self.index.block(second)]
        return self.matrix[0, self.index.block(key)]

    def __repr__(self) -> str:
        return f"LiftedMatrix(dim={self.index.dim})"
