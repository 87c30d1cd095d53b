"""Certificates re-checked in exact rational arithmetic, sharing nothing with the code that made them.

The backends evaluate their certificates in floating point with every rounding error charged
(:mod:`qcqp.safe`); re-running that evaluation cannot reveal a mistake in it. These checks take
the same data — every float is an exact dyadic rational — and redo the argument exactly:
:func:`lagrangian_bound_holds` for an SDP-FO dual point, :func:`farkas_max` for an LP's
infeasibility ray.
"""

from __future__ import annotations

from fractions import Fraction
from math import lcm

import numpy as np
import scipy.sparse as sp


def _rational(values) -> list[Fraction]:
    return [Fraction(float(v)) for v in np.ravel(values)]


def _entries(matrix) -> list[tuple[int, int, Fraction]]:
    coo = sp.coo_array(matrix)
    return [(int(i), int(j), Fraction(float(v))) for i, j, v in zip(coo.row, coo.col, coo.data)]


def _transpose_times(matrix, vector: list[Fraction], size: int) -> list[Fraction]:
    """``matrixᵀ vector``, exactly."""
    out = [Fraction(0)] * size
    for i, j, v in _entries(matrix):
        out[j] += v * vector[i]
    return out


def exact_lagrangian(qmap, w: list[Fraction]):
    """``c``, ``g`` and ``H`` of ``wᵀρ(s) = c + gᵀs + ½ sᵀHs`` for the rows
    ``ρ(s) = A s + a + Σ_t S_t (L_t s + l_t) ⊙ (R_t s + r_t)``, in rationals (``H`` as a dict)."""
    n = qmap.A.shape[1]
    c = sum((wi * ai for wi, ai in zip(w, _rational(qmap.a))), Fraction(0))
    g = _transpose_times(qmap.A, w, n)
    H: dict[tuple[int, int], Fraction] = {}
    for t in qmap.terms:
        omega = _transpose_times(t.S, w, t.S.shape[1])
        l_, r_ = _rational(t.l), _rational(t.r)
        c += sum((o * a * b for o, a, b in zip(omega, l_, r_)), Fraction(0))
        for k, (rows_l, rows_r) in enumerate(zip(_row_lists(t.L), _row_lists(t.R))):
            if omega[k] == 0:
                continue
            for i, a in rows_l:  # ω_k (L_k s)(R_k s): H gains ω_k (L_kᵀ R_k + R_kᵀ L_k)
                g[i] += omega[k] * a * r_[k]
                for j, b in rows_r:
                    H[i, j] = H.get((i, j), Fraction(0)) + omega[k] * a * b
                    H[j, i] = H.get((j, i), Fraction(0)) + omega[k] * a * b
            for j, b in rows_r:
                g[j] += omega[k] * b * l_[k]
    return c, g, H


def _row_lists(matrix) -> list[list[tuple[int, Fraction]]]:
    rows: list[list[tuple[int, Fraction]]] = [[] for _ in range(matrix.shape[0])]
    for i, j, v in _entries(matrix):
        rows[i].append((j, v))
    return rows


def positive_definite(matrix: list[list[Fraction]]) -> bool:
    """Exactly: every leading minor positive (Sylvester), by fraction-free Bareiss elimination
    on the matrix scaled to integers."""
    n = len(matrix)
    scale = 1
    for row in matrix:
        for v in row:
            scale = lcm(scale, v.denominator)
    a = [[int(v * scale) for v in row] for row in matrix]
    previous = 1
    for k in range(n):
        if a[k][k] <= 0:
            return False
        for i in range(k + 1, n):
            for j in range(k + 1, n):
                a[i][j] = (a[i][j] * a[k][k] - a[i][k] * a[k][j]) // previous
        previous = a[k][k]
    return True


def lagrangian_bound_holds(qmap, lam, nu, kappa, bound: float) -> bool:
    """Does the dual point ``(λ >= 0, ν, κ >= 0)`` prove ``max ρ₀(s) <= bound`` over ``s ∈ [−1, 1]^N``?

    With ``M = [[0, gᵀ], [g, H]]``, ``x = (1, s)`` and ``diag κ − M ⪰ μ I`` (``μ <= 0``),
    ``wᵀρ(s) = c + ½ xᵀMx <= c + ½ Σ (κ_i − μ)``; the largest ``μ`` that keeps this ``<= bound``
    is ``μ* = (Σ κ − 2 (bound − c)) / (N + 1)`` (or 0): the bound holds iff
    ``diag κ − M − μ* I`` is positive definite (semidefinite, up to an exact tie)."""
    if np.any(np.asarray(lam) < 0) or np.any(np.asarray(kappa) < 0):
        return False
    w = [Fraction(1)] + [-v for v in _rational(lam)] + [-v for v in _rational(nu)]
    c, g, H = exact_lagrangian(qmap, w)
    k = _rational(kappa)
    slack = Fraction(float(bound)) - c
    mu = min(Fraction(0), (sum(k, Fraction(0)) - 2 * slack) / len(k))
    if sum((ki - mu for ki in k), Fraction(0)) > 2 * slack:
        return False
    size = len(k)
    S = [[Fraction(0)] * size for _ in range(size)]
    for i in range(size):
        S[i][i] = k[i] - mu
    for i, gi in enumerate(g):
        S[0][i + 1] -= gi
        S[i + 1][0] -= gi
    for (i, j), h in H.items():
        S[i + 1][j + 1] -= h
    return positive_definite(S)


def farkas_max(model, y_ub, y_eq) -> Fraction:
    """``max`` over the variable box of ``y_ubᵀ(b_ub − A_ub x) + y_eqᵀ(b_eq − A_eq x)``, exactly
    (``y_ub >= 0``). Every ``x`` meeting the rows makes it ``>= 0``: negative proves them empty."""
    y_ub = [max(Fraction(0), v) for v in _rational(y_ub)]
    y_eq = _rational(y_eq)
    n = model.c.size
    r = [a + b for a, b in zip(_transpose_times(model.A_ub, y_ub, n), _transpose_times(model.A_eq, y_eq, n))]
    total = sum((y * b for y, b in zip(y_ub, _rational(model.b_ub))), Fraction(0)) \
        + sum((y * b for y, b in zip(y_eq, _rational(model.b_eq))), Fraction(0))
    for ri, lo, hi in zip(r, np.ravel(model.lower), np.ravel(model.upper)):
        if ri == 0:
            continue
        end = lo if ri > 0 else hi  # where −r_i x_i is largest
        if not np.isfinite(end):
            return Fraction(10**400)  # unbounded along this variable: no proof
        total -= ri * Fraction(float(end))
    return total
