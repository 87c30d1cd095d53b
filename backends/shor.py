"""The Shor relaxation of an IR as linear functions of the lifted matrix ``P``.

``max ⟨C, P⟩`` s.t. ``⟨E_r, P⟩ = 0``, ``⟨G_s, P⟩ <= 0``, ``P₀₀ = 1``, ``P ⪰ 0``, where each
row is stored as coefficients on the upper triangle of ``P`` (see :mod:`qcqp.lifting`).
Besides the IR's own constraints it adds

* for every variable ``(x − l) ⊙ (x − u) <= 0``, i.e. ``diag P[x, x] <= (l + u) ⊙ P[x] − l ⊙ u``,
  which with ``P ⪰ 0`` implies the bounds themselves;
* for every complementarity its linear hull and ``f ⊙ g = 0``;
* (linear ``<=`` rows that hold on the whole box are left out: the lifted box rows imply them);
* for every pair of variables whose product the LP linearises per entry, the four lifted
  McCormick inequalities (products of bound constraints);
* optionally (the ``rlt`` families) products of the linear rows: every linear equality
  ``g(v) = 0`` times every variable (``g(v) v_k = 0``) and every linear inequality
  ``g(v) <= 0`` times the bounds of its own variables (``g(v)(v_k − l_k) <= 0``,
  ``g(v)(u_k − v_k) <= 0``). With binaries ``v² = v`` these fix products at once: an
  assignment row ``Σ_j v_ij = 1`` gives ``P[v_ij, v_ik] = 0``, an edge row ``v_i + v_j <= 1``
  gives ``P[v_i, v_j] <= 0``.

So the SDP is never looser than the LP: on networks (the hull) and on generic problems.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from qcqp import IR
from qcqp.expr import Affine, Quadratic, widen_columns
from qcqp.lifting import LiftIndex, entry_pairs, lift, pair_rows_cols
from qcqp.safe import EPS, lambda_min_lower, loosen_upper


@dataclass(frozen=True)
class ShorForm:
    """Coefficient rows over ``utri(P)``, the trace bound ``T >= tr P`` and the variables' box."""

    index: LiftIndex
    c: np.ndarray  # objective coefficients (maximise)
    E: sp.csr_array  # equality rows (= 0)
    G: sp.csr_array  # inequality rows (<= 0)
    trace_bound: float
    lower: np.ndarray
    upper: np.ndarray

    @property
    def dim(self) -> int:
        return self.index.dim


def build_shor(ir: IR, mccormick: bool = True, linear_products: bool = False) -> ShorForm:
    """Lift every constraint of ``ir``; all variables must be bounded (for ``T``). Without
    ``mccormick``, the plain Shor relaxation (no lifted McCormick rows of multiplied pairs);
    with ``linear_products``, the products of linear rows (:func:`linear_product_rows`)."""
    ir.require_bounds("sdp")
    dim = ir.n + 1
    eye = sp.eye_array(ir.n, format="csr")
    x = Affine(eye, np.zeros(ir.n))
    # (x − l) ⊙ (x − u) <= 0 lifted, with P ⪰ 0 (so V_ii >= x_i²), implies l <= x <= u.
    eq, le = [], [lift((x - ir.lower) * (x - ir.upper), dim)]
    for con in ir.constraints:
        expr = con.expr if con.sense == "==" else _not_implied_by_box(con.expr, ir)
        (eq if con.sense == "==" else le).append(lift(expr, dim))
    for comp in ir.complementarities:
        eq.append(lift(comp.product(), dim))
        le.append(lift(_not_implied_by_box(comp.envelope(), ir), dim))
    le += _mccormick_rows(ir, x, dim) if mccormick else []
    if linear_products:
        eq_products, le_products = linear_product_rows(ir, x, dim)
        eq, le = eq + eq_products, le + le_products
    c = lift(ir.objective, dim).toarray().ravel()
    width = c.size
    E = sp.csr_array(sp.vstack(eq, format="csr")) if eq else sp.csr_array((0, width))
    G = sp.csr_array(sp.vstack(le, format="csr"))
    trace = 1.0 + math.fsum(np.maximum(ir.lower**2, ir.upper**2))
    return ShorForm(LiftIndex(ir.variables), c, E, G, float(np.nextafter(trace * (1 + 4 * EPS), np.inf)),
                    ir.lower, ir.upper)


def _not_implied_by_box(expr, ir: IR):
    """``expr <= 0`` without the linear rows that hold on the whole box (e.g. a ReLU's ``z >= 0``
    when ``z``'s lower bound is 0): the lifted box rows with ``P ⪰ 0`` already imply them, and
    every row dropped shrinks the Schur complement of an interior point. Dropping a row can
    only enlarge the relaxation, so the test needs no rounding analysis to keep bounds valid."""
    if not isinstance(expr, Affine):
        return expr
    A = widen_columns(expr.A, ir.n)
    hi = A.maximum(0) @ ir.upper + A.minimum(0) @ ir.lower + expr.a
    return expr[np.flatnonzero(~(hi <= 0))]


def _mccormick_rows(ir: IR, x: Affine, dim: int) -> list:
    """Lifted McCormick inequalities (products of bound constraints, RLT) for every pair
    the LP linearises per entry, so the SDP is never looser than the LP there."""
    pairs = set()
    for expr in (ir.objective, *(con.expr for con in ir.constraints)):
        if isinstance(expr, Quadratic):
            pairs |= entry_pairs(expr, ir.n)
    pairs = np.array(sorted((a, b) for a, b in pairs if a != b)).reshape(-1, 2)
    if not pairs.size:
        return []
    xa, xb = x[pairs[:, 0]], x[pairs[:, 1]]
    la, ua, lb, ub = ir.lower[pairs[:, 0]], ir.upper[pairs[:, 0]], ir.lower[pairs[:, 1]], ir.upper[pairs[:, 1]]
    products = [(xa - la) * (xb - lb), (ua - xa) * (ub - xb), (xa - la) * (ub - xb), (ua - xa) * (xb - lb)]
    return [lift(-product, dim) for product in products]  # each product >= 0


LINEAR_PRODUCTS = 20_000  # most product rows of each kind (equalities, inequalities) built up front


def linear_product_rows(ir: IR, x: Affine, dim: int) -> tuple[list, list]:
    """Lifted products of linear rows: each equality ``g = 0`` times every variable (``g v_k = 0``),
    each inequality ``g <= 0`` times the distance of its own variables to their bounds
    (``g (v_k − l_k) <= 0``, ``g (u_k − v_k) <= 0``); each kind only if it has at most
    ``LINEAR_PRODUCTS`` rows (the products with other variables' bounds are separated instead)."""
    eq, le = [], []
    for con in ir.constraints:
        if not con.is_linear:
            continue
        g = con.expr.padded(ir.n)
        if con.sense == "==" and g.size * ir.n <= LINEAR_PRODUCTS:
            eq.append(lift(g[np.repeat(np.arange(g.size), ir.n)] * x[np.tile(np.arange(ir.n), g.size)], dim))
        elif con.sense == "<=":
            row, k = g.A.tocoo().coords
            if 2 * row.size <= LINEAR_PRODUCTS and row.size:
                le += [lift(g[row] * (x[k] - ir.lower[k]), dim), lift(g[row] * (ir.upper[k] - x[k]), dim)]
    return eq, le


def coefficients_to_matrix(coef: np.ndarray, dim: int) -> np.ndarray:
    """Symmetric ``M`` with ``⟨M, P⟩ = coef · utri(P)`` (off-diagonal coefficients halved)."""
    rows, cols = pair_rows_cols(dim)
    half = np.where(rows == cols, coef, 0.5 * coef)
    M = np.zeros((dim, dim))
    M[rows, cols] = half
    M[cols, rows] = half
    return M


def dual_upper_bound(form: ShorForm, t: float, y: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
    """Rigorous upper bound from any multipliers ``(t, y, μ >= 0)`` of the Shor SDP.

    With ``S = t e₀e₀ᵀ + Σ y_r E_r + Σ μ_s G_s − C``, every feasible ``P`` has
    ``⟨C, P⟩ = t + Σ μ_s ⟨G_s, P⟩ − ⟨S, P⟩ <= t − min(0, λ_min(S)) tr P``, and
    ``tr P <= T``, so ``⟨C, P⟩ <= t − min(0, λ_min(S)) T``. ``λ_min`` is
    bounded below rigorously, including the error of forming ``S`` in floating point.
    Returns ``(bound, λ_min lower bound)``.
    """
    mu = np.maximum(mu, 0.0)
    coef = form.E.T @ y + form.G.T @ mu - form.c
    coef[0] += t
    magnitude = abs(form.E).T @ np.abs(y) + abs(form.G).T @ mu + np.abs(form.c)
    magnitude[0] += abs(t)
    terms = np.diff(form.E.tocsc().indptr) + np.diff(form.G.tocsc().indptr) + 2.0
    forming = float(np.linalg.norm(2.0 * terms * EPS * magnitude)) * math.sqrt(2.0)
    lam = lambda_min_lower(coefficients_to_matrix(coef, form.dim), forming)
    bound = t - min(0.0, lam) * form.trace_bound
    return loosen_upper(float(np.nextafter(bound + EPS * abs(bound), np.inf))), lam
