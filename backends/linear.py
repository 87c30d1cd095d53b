"""Linear relaxation of an IR: McCormick envelopes, secant/tangent cuts, complementarity hulls.

Shared by the ``lp`` backend and the branch and bound of ``exact``. A product term is
linearised either per entry (``v_a v_b`` → one lifted column, shared across rows, with
McCormick envelopes from the variable box) when its rows are short, or per row
(``f_j g_j`` → one column with McCormick envelopes of the two affine factors) when they
are long, which keeps memory linear in the size of the factors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from qcqp import IR, InputError
from qcqp.expr import Affine, Quadratic, widen_columns
from qcqp.interval import affine_bounds, product_bounds
from qcqp.lifting import expands, lift, pair_rows_cols


@dataclass
class LinearModel:
    """``max c·x + c0`` s.t. ``A_ub x <= b_ub``, ``A_eq x = b_eq``, ``lower <= x <= upper``.

    The first ``n`` columns are the problem's variables; ``entries`` maps each lifted
    column to the pair of variables ``(a, b)`` it stands for (``-1`` for row products).
    """

    n: int
    c: np.ndarray
    c0: float
    A_ub: sp.csr_array
    b_ub: np.ndarray
    A_eq: sp.csr_array
    b_eq: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    entries: np.ndarray  # (k, 2): variable pair of each lifted column, or (-1, -1)


@dataclass
class _Builder:
    n: int
    lower: np.ndarray
    upper: np.ndarray
    ub_rows: list = field(default_factory=list)  # (sparse rows over all columns, rhs)
    eq_rows: list = field(default_factory=list)
    col_lower: list = field(default_factory=list)
    col_upper: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    pair_columns: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.n + len(self.col_lower)

    def add_columns(self, lo: np.ndarray, hi: np.ndarray, pairs: np.ndarray) -> np.ndarray:
        start = self.width
        self.col_lower += list(lo)
        self.col_upper += list(hi)
        self.entries += [tuple(p) for p in pairs]
        return start + np.arange(len(lo))

    def bilinear(self, F: Affine, G: Affine, square: np.ndarray, pairs: np.ndarray) -> np.ndarray:
        """New columns ``w_k ≈ F_k(v) G_k(v)`` with their envelopes; returns their indices."""
        fl, fu = affine_bounds(F.A, F.a, self.lower, self.upper)
        gl, gu = affine_bounds(G.A, G.a, self.lower, self.upper)
        if not np.all(np.isfinite(np.concatenate([fl, fu, gl, gu]))):
            raise InputError("the linear relaxation needs finite bounds on every variable in a product")
        wl, wu = product_bounds(fl, fu, gl, gu, square)
        cols = self.add_columns(np.nextafter(wl, -np.inf), np.nextafter(wu, np.inf), pairs)
        k = len(cols)
        W = sp.csr_array((np.ones(k), (np.arange(k), cols)), shape=(k, self.width))
        Fv, Gv = widen_columns(F.A, self.width), widen_columns(G.A, self.width)
        mid = 0.5 * (fl + fu)
        cuts = [  # (sign of w, alpha on g, beta on f, rows): sign*w <= sign*(alpha g + beta f - alpha beta)
            (-1, fl, gl, ~square), (-1, fu, gu, ~square), (1, fu, gl, ~square), (1, fl, gu, ~square),
            (-1, fl, fl, square), (-1, fu, fu, square), (-1, mid, mid, square), (1, fu, fl, square),
        ]
        for sign, alpha, beta, rows in cuts:
            if not rows.any():
                continue
            D = sp.diags_array(np.where(rows, 1.0, 0.0))
            lhs = sign * W - sign * (sp.diags_array(alpha) @ Gv + sp.diags_array(beta) @ Fv)
            rhs = sign * (alpha * G.a + beta * F.a - alpha * beta)
            keep = np.flatnonzero(rows)
            self.ub_rows.append((sp.csr_array(D @ lhs)[keep], rhs[keep]))
        return cols

    def linearize(self, expr: Affine | Quadratic) -> tuple[sp.csr_array, np.ndarray]:
        """``expr(v)`` as ``M x + m`` over the (growing) column set."""
        quad = expr if isinstance(expr, Quadratic) else Quadratic(expr)
        M, m = widen_columns(quad.affine.A, self.width), quad.affine.a.copy()
        parts = []
        for term in quad.products:
            if expands(term, self.n):
                parts.append(self._expanded(Quadratic(quad.affine * 0.0, (term,))))
            else:
                square = _same_rows(term.left, term.right)
                cols = self.bilinear(term.left.padded(self.n), term.right.padded(self.n), square,
                                     np.full((term.left.size, 2), -1))
                k = len(cols)
                sel = sp.csr_array((np.ones(k), (np.arange(k), cols)), shape=(k, self.width))
                parts.append((term.S @ sel, np.zeros(term.S.shape[0])))
        for P, p in parts:
            M = widen_columns(M, self.width) + widen_columns(P, self.width)
            m = m + p
        return sp.csr_array(M), m

    def _expanded(self, quad: Quadratic) -> tuple[sp.csr_array, np.ndarray]:
        K = lift(quad, self.n + 1).tocoo()
        rows_of, cols_of = pair_rows_cols(self.n + 1)
        a, b = rows_of[K.col], cols_of[K.col]
        constant = (a == 0) & (b == 0)
        linear = (a == 0) & (b > 0)
        quadratic = a > 0
        m = np.zeros(K.shape[0])
        np.add.at(m, K.row[constant], K.data[constant])
        needed = sorted({(int(i), int(j)) for i, j in zip(a[quadratic] - 1, b[quadratic] - 1)}
                        - set(self.pair_columns))
        if needed:
            pairs = np.array(needed)
            eye = sp.eye_array(self.n, format="csr")
            F, G = Affine(eye[pairs[:, 0]], np.zeros(len(pairs))), Affine(eye[pairs[:, 1]], np.zeros(len(pairs)))
            cols = self.bilinear(F, G, pairs[:, 0] == pairs[:, 1], pairs)
            self.pair_columns.update(zip(needed, cols))
        col = np.where(linear, b - 1, 0)
        qcols = [self.pair_columns[(int(i) - 1, int(j) - 1)] for i, j in zip(a[quadratic], b[quadratic])]
        col[quadratic] = qcols
        keep = ~constant
        M = sp.csr_array((K.data[keep], (K.row[keep], col[keep])), shape=(K.shape[0], self.width))
        return M, m


def build_linear_model(ir: IR, lower=None, upper=None, fixings=()) -> LinearModel:
    """The LP relaxation of ``ir`` over the box ``[lower, upper]`` (default: the IR's bounds).

    ``fixings`` are ``(complementarity index, row, "f" | "g")`` triples forcing one side to 0.
    """
    lower = ir.lower if lower is None else lower
    upper = ir.upper if upper is None else upper
    builder = _Builder(ir.n, lower, upper)
    c, c0 = builder.linearize(ir.objective)
    for con in ir.constraints:
        M, m = builder.linearize(con.expr)
        (builder.eq_rows if con.sense == "==" else builder.ub_rows).append((M, -m))
    for comp in ir.complementarities:
        hull = comp.envelope()
        builder.ub_rows.append((hull.A, -hull.a))
    for index, row, side in fixings:
        comp = ir.complementarities[index]
        expr = (comp.f if side == "f" else comp.g)[row]
        builder.eq_rows.append((expr.A, -expr.a))
    width = builder.width
    A_ub, b_ub = _stack(builder.ub_rows, width)
    A_eq, b_eq = _stack(builder.eq_rows, width)
    return LinearModel(
        n=ir.n, c=widen_columns(c, width).toarray().ravel(), c0=float(c0[0]),
        A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
        lower=np.concatenate([lower, builder.col_lower]),
        upper=np.concatenate([upper, builder.col_upper]),
        entries=np.array(builder.entries, dtype=int).reshape(-1, 2),
    )


def with_lifted_rows(model: LinearModel, rows: sp.csr_array) -> LinearModel:
    """``model`` plus rows ``r · utri(P) <= 0`` written over the lifted matrix (separated cuts).

    ``P₀₀`` is 1, ``P₀ᵢ`` variable ``i`` and ``P_ij`` the product column of ``(i, j)``; a pair
    the model has no column for gets one, with its McCormick envelope, as in the model itself.
    """
    n = model.n
    builder = _Builder(n, model.lower[:n], model.upper[:n])
    builder.col_lower, builder.col_upper = list(model.lower[n:]), list(model.upper[n:])
    builder.entries = [tuple(pair) for pair in model.entries]
    builder.pair_columns = {(int(a), int(b)): n + k for k, (a, b) in enumerate(model.entries) if a >= 0}
    pr, pc = pair_rows_cols(n + 1)
    K = sp.csr_array(rows).tocoo()
    a, b = pr[K.col], pc[K.col]
    product = a > 0
    needed = sorted({(int(i) - 1, int(j) - 1) for i, j in zip(a[product], b[product])} - set(builder.pair_columns))
    if needed:
        pairs = np.array(needed)
        eye = sp.eye_array(n, format="csr")
        F, G = Affine(eye[pairs[:, 0]], np.zeros(len(pairs))), Affine(eye[pairs[:, 1]], np.zeros(len(pairs)))
        builder.pair_columns.update(zip(needed, builder.bilinear(F, G, pairs[:, 0] == pairs[:, 1], pairs)))
    constant = (a == 0) & (b == 0)
    col = np.where(a == 0, b - 1, 0)
    col[product] = [builder.pair_columns[(int(i) - 1, int(j) - 1)] for i, j in zip(a[product], b[product])]
    rhs = np.zeros(K.shape[0])
    np.add.at(rhs, K.row[constant], -K.data[constant])
    width = builder.width
    cuts = sp.csr_array((K.data[~constant], (K.row[~constant], col[~constant])), shape=(K.shape[0], width))
    A_ub, b_ub = _stack([(model.A_ub, model.b_ub), *builder.ub_rows, (cuts, rhs)], width)
    return LinearModel(n=n, c=np.concatenate([model.c, np.zeros(width - model.c.size)]), c0=model.c0,
                       A_ub=A_ub, b_ub=b_ub, A_eq=widen_columns(model.A_eq, width), b_eq=model.b_eq,
                       lower=np.concatenate([model.lower[:n], builder.col_lower]),
                       upper=np.concatenate([model.upper[:n], builder.col_upper]),
                       entries=np.array(builder.entries, dtype=int).reshape(-1, 2))


def _stack(rows: list, width: int) -> tuple[sp.csr_array, np.ndarray]:
    if not rows:
        return sp.csr_array((0, width)), np.zeros(0)
    return (sp.csr_array(sp.vstack([widen_columns(M, width) for M, _ in rows], format="csr")),
            np.concatenate([np.asarray(r, float) for _, r in rows]))


def _same_rows(left: Affine, right: Affine) -> np.ndarray:
    """Rows where the two factors are the same affine function (a square)."""
    same = np.isclose(left.a, right.a, rtol=0, atol=0)
    diff = abs(left.padded(max(left.n, right.n)).A - right.padded(max(left.n, right.n)).A)
    return same & (np.asarray(diff.sum(axis=1)).ravel() == 0)
