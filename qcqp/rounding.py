"""Feasible points of problems with two-valued variables: a MILP over the linear rows.

Rounding a relaxation's point one variable at a time rarely meets assignment rows
(``Σ_j x_ij = 1``) or packing rows (``x_i + x_j <= 1``) exactly. Here every variable that a
single-variable quadratic equality confines to two consecutive integers (the QPLIB reader's
binaries ``x² = x`` and the bits of its integer expansions) is integral in a MILP over all the
problem's linear rows, whose objective is the problem's objective linearised at a starting
point; the linearisation is repeated at each answer (successive linearisation) while it
improves. Quadratic rows other than the two-valued ones are not in the MILP: the caller
re-checks each point on the IR and may polish the continuous variables with the discrete ones
fixed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, milp

LINEARISATIONS = 5  # MILPs per start at most (each at the previous answer)


@dataclass(frozen=True)
class DiscreteStructure:
    """The two-valued variables ``index`` (values ``low``, ``low + 1``) and the linear rows
    ``A_ub v <= b_ub``, ``A_eq v = b_eq`` of a problem lifted as in :class:`~qcqp.primal.LiftedFunctions`."""

    index: np.ndarray
    low: np.ndarray
    A_ub: sp.csr_array
    b_ub: np.ndarray
    A_eq: sp.csr_array
    b_eq: np.ndarray

    @classmethod
    def of(cls, f) -> DiscreteStructure | None:
        """From lifted functions ``f`` (rows over ``utri(ṽṽᵀ)``); ``None`` without two-valued variables."""
        index, low = _two_valued(f.equalities, f.rows, f.cols)
        if not index.size:
            return None
        A_ub, b_ub = _linear_part(f.inequalities, f.rows, f.cols)
        A_eq, b_eq = _linear_part(f.equalities, f.rows, f.cols)
        return cls(index, low, A_ub, b_ub, A_eq, b_eq)

    def points(self, gradient, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
               deadline: float) -> list[np.ndarray]:
        """MILP answers from ``start``: maximise ``gradient(v) · v`` over the linear rows with the
        two-valued variables integral, re-linearised at each answer while it changes."""
        found, point = [], start
        lower, upper = lower.copy(), upper.copy()
        lower[self.index], upper[self.index] = self.low, self.low + 1.0
        integrality = np.zeros(start.size)
        integrality[self.index] = 1
        constraints = []
        if self.A_ub.shape[0]:
            constraints.append(LinearConstraint(self.A_ub, -np.inf, self.b_ub))
        if self.A_eq.shape[0]:
            constraints.append(LinearConstraint(self.A_eq, self.b_eq, self.b_eq))
        for _ in range(LINEARISATIONS):
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            res = milp(-gradient(point), constraints=constraints, integrality=integrality,
                       bounds=(lower, upper), options={"time_limit": left, "disp": False})
            if res.x is None:
                break
            answer = res.x.copy()
            answer[self.index] = np.round(answer[self.index])  # integral to HiGHS's tolerance: make it exact
            if found and np.array_equal(answer, found[-1]):
                break
            found.append(answer)
            point = answer
        return found


def _two_valued(E: sp.csr_array, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Variables ``k`` with an equality ``c (v_k − r)(v_k − r − 1) = 0`` for an integer ``r``: ``(k's, r's)``."""
    index, low = {}, {}
    E = E.tocsr()
    for r in range(E.shape[0]):
        entries = E.indices[E.indptr[r]:E.indptr[r + 1]]
        values = E.data[E.indptr[r]:E.indptr[r + 1]]
        a, b = rows[entries], cols[entries]
        ks = np.unique(np.concatenate([a, b]))
        ks = ks[ks > 0]
        if ks.size != 1:
            continue
        k = int(ks[0])
        square = values[(a == k) & (b == k)].sum()
        linear = values[(a == 0) & (b == k)].sum()
        constant = values[(a == 0) & (b == 0)].sum()
        if square == 0:
            continue
        # roots r, r + 1: sum 2r + 1 = −linear/square, product r (r + 1) = constant/square
        r = round((-linear / square - 1.0) / 2.0)
        if -linear == square * (2 * r + 1) and constant == square * r * (r + 1):
            index[k - 1], low[k - 1] = k - 1, float(r)
    keys = sorted(index)
    return np.array(keys, dtype=int), np.array([low[k] for k in keys])


def _linear_part(K: sp.csr_array, rows: np.ndarray, cols: np.ndarray) -> tuple[sp.csr_array, np.ndarray]:
    """The rows of ``K`` without quadratic entries as ``A v (<= or =) b``."""
    K = K.tocsc()
    quadratic = np.asarray(abs(K[:, np.flatnonzero(rows > 0)]).sum(axis=1)).ravel()
    linear = K[np.flatnonzero(quadratic == 0)]
    first = np.flatnonzero(rows == 0)  # entries (0, c) in order of c: the constant, then v's coefficients
    return sp.csr_array(linear[:, first[1:]]), -linear[:, first[:1]].toarray().ravel()
