"""Valid inequalities on the lifted matrix ``P`` beyond Shor's, found by separation.

Both families hold for every rank-one ``P = ṽṽᵀ`` with ``v`` in the box, so adding any of
them keeps the relaxation a relaxation (and every bound valid):

* **RLT** (McCormick): ``(v_i − l_i)(v_j − l_j) >= 0``, ``(u_i − v_i)(u_j − v_j) >= 0``,
  ``(v_i − l_i)(u_j − v_j) >= 0``, ``(u_i − v_i)(v_j − l_j) >= 0`` for every pair ``i < j``
  (with the lifted box rows: the "doubly nonnegative" relaxation on a box);
* **RLT of linear rows**: ``(b_r − a_r·v)(v_k − l_k) >= 0`` and ``(b_r − a_r·v)(u_k − v_k) >= 0``
  for every linear inequality ``a_r·v <= b_r`` of the problem and every variable ``k``
  (part of the ``rlt`` family);
* **triangle**: with ``y = (2v − l − u)/(u − l)`` in ``[−1, 1]``,
  ``s_ij y_i y_j + s_jk y_j y_k + s_ik y_i y_k >= −1`` for every triple and the four sign
  patterns with ``s_ij s_jk s_ik = 1`` (a multilinear function is smallest at a vertex of the
  box, where the left side is at least −1). For ±1 variables these are MaxCut's triangles.

There are ``O(n²)`` and ``O(n³)`` of them, so :func:`separate` returns only the rows most
violated by a given ``P``, as rows over ``utri(P)`` like the rest of the Shor form.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

from qcqp import IR
from qcqp.expr import widen_columns
from qcqp.lifting import pair_index, triangle_size

TRIANGLE_SIGNS = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
MAX_TRIANGLE_VARIABLES = 150  # triples are enumerated: O(n³) memory and time per round
MIN_TRIANGLE_WIDTH = 1e-6  # relative: narrower variables are left out of triangles (α = 2/width)


def _rows(entries: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], count: int, dim: int) -> sp.csr_array:
    """``count`` rows from ``(row, a, b, value)`` arrays: coefficient ``value`` on ``P[a, b]``."""
    row = np.concatenate([e[0] for e in entries])
    col = pair_index(np.concatenate([e[1] for e in entries]), np.concatenate([e[2] for e in entries]))
    val = np.concatenate([e[3] for e in entries])
    rows = sp.csr_array((val, (row, col)), shape=(count, triangle_size(dim)))
    rows.sum_duplicates()
    return rows


def rlt_violations(P: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    """Violations of the four RLT rows of every pair ``i < j``: array of shape (4, pairs) and the pairs."""
    n = lower.size
    x = P[0, 1:n + 1]
    X = P[1:n + 1, 1:n + 1]
    i, j = np.triu_indices(n, 1)
    xi, xj, Xij = x[i], x[j], X[i, j]
    li, ui, lj, uj = lower[i], upper[i], lower[j], upper[j]
    products = np.stack([  # each product >= 0, written out in P
        Xij - lj * xi - li * xj + li * lj,
        Xij - uj * xi - ui * xj + ui * uj,
        -Xij + uj * xi + li * xj - li * uj,
        -Xij + lj * xi + ui * xj - ui * lj,
    ])
    return -products, (i, j)


def rlt_rows(kinds: np.ndarray, i: np.ndarray, j: np.ndarray, lower, upper, dim: int) -> sp.csr_array:
    """The chosen RLT rows as ``<= 0`` rows over ``utri(P)`` (``kinds`` index the four products)."""
    li, ui, lj, uj = lower[i], upper[i], lower[j], upper[j]
    sign = np.array([1.0, 1.0, -1.0, -1.0])[kinds]  # coefficient of P_ij in the product
    ci = np.choose(kinds, [-lj, -uj, uj, lj])  # coefficient of v_i
    cj = np.choose(kinds, [-li, -ui, li, ui])
    c0 = np.choose(kinds, [li * lj, ui * uj, -li * uj, -ui * lj])
    r = np.arange(kinds.size)
    zero = np.zeros(kinds.size, dtype=int)
    return _rows([(r, i + 1, j + 1, -sign), (r, zero, i + 1, -ci), (r, zero, j + 1, -cj), (r, zero, zero, -c0)],
                 kinds.size, dim)


def linear_rlt_violations(P: np.ndarray, A: np.ndarray, b: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    """Violations of ``(b_r − a_r·v)(v_k − l_k) >= 0`` and ``(b_r − a_r·v)(u_k − v_k) >= 0``: shape (2, m·n)."""
    n = lower.size
    x, X = P[0, 1:n + 1], P[1:n + 1, 1:n + 1]
    slack = b - A @ x  # E[b − a·v]
    times_v = b[:, None] * x[None, :] - A @ X  # E[(b − a·v) v_k]
    low = times_v - lower[None, :] * slack[:, None]
    up = upper[None, :] * slack[:, None] - times_v
    return -np.stack([low.ravel(), up.ravel()])


def linear_rlt_rows(kinds: np.ndarray, flat: np.ndarray, A: np.ndarray, b: np.ndarray, lower, upper,
                    dim: int) -> sp.csr_array:
    """The chosen rows (``flat`` indexes ``(r, k)`` row-major; kind 0: with ``l_k``, 1: with ``u_k``)."""
    m, n = A.shape
    r, k = np.divmod(flat, n)
    side = np.where(kinds == 0, 1.0, -1.0)  # +(v_k − l_k) or −(v_k − u_k)
    bound = np.where(kinds == 0, lower[k], upper[k])
    cols = np.arange(n)
    rows = np.arange(kinds.size)
    zero = np.zeros(kinds.size, dtype=int)
    # −side · (b − a·v)(v_k − bound): expand and negate every term
    entries = [(rows, zero, k + 1, -side * b[r]), (rows, zero, zero, side * b[r] * bound)]
    a_rows = A[r]  # (count, n)
    entries.append((np.repeat(rows, n), np.tile(cols, kinds.size) + 1, np.repeat(k, n) + 1,
                    (side[:, None] * a_rows).ravel()))
    entries.append((np.repeat(rows, n), np.zeros(kinds.size * n, dtype=int), np.tile(cols, kinds.size) + 1,
                    (-side[:, None] * bound[:, None] * a_rows).ravel()))
    return _rows(entries, kinds.size, dim)


def _scaling(lower: np.ndarray, upper: np.ndarray):
    """``y = α v + β`` maps ``[l, u]`` onto ``[−1, 1]`` (``α = 2/(u − l)``); 0 for (nearly) fixed variables."""
    width = upper - lower
    free = width > MIN_TRIANGLE_WIDTH * (1 + np.abs(lower) + np.abs(upper))
    safe = np.where(free, width, 1.0)
    return np.where(free, 2.0 / safe, 0.0), np.where(free, -(upper + lower) / safe, 0.0), free


def triangle_violations(P: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    """Violations ``−1 − Σ s y y`` of the triangle rows: array (4, triples) and the triples."""
    n = lower.size
    alpha, beta, free = _scaling(lower, upper)
    x, X = P[0, 1:n + 1], P[1:n + 1, 1:n + 1]
    Y = np.outer(alpha, alpha) * X + np.outer(alpha * x, beta) + np.outer(beta, alpha * x) + np.outer(beta, beta)
    free = np.flatnonzero(free)  # a fixed variable has no triangle worth a row
    triples = np.array(list(itertools.combinations(free, 3)), dtype=int).reshape(-1, 3)
    i, j, k = triples.T
    terms = np.stack([Y[i, j], Y[j, k], Y[i, k]])
    return -1.0 - TRIANGLE_SIGNS @ terms, (i, j, k)


def triangle_rows(kinds, i, j, k, lower, upper, dim: int) -> sp.csr_array:
    """The chosen triangle rows ``−1 − Σ s_ab y_a y_b <= 0`` over ``utri(P)``."""
    alpha, beta, _ = _scaling(lower, upper)
    signs = TRIANGLE_SIGNS[kinds]
    r = np.arange(kinds.size)
    zero = np.zeros(kinds.size, dtype=int)
    entries = [(r, zero, zero, -np.ones(kinds.size))]
    for s, a, b in ((signs[:, 0], i, j), (signs[:, 1], j, k), (signs[:, 2], i, k)):
        # −s (α_a α_b P_ab + α_a β_b P_0a + β_a α_b P_0b + β_a β_b)
        entries += [(r, a + 1, b + 1, -s * alpha[a] * alpha[b]), (r, zero, a + 1, -s * alpha[a] * beta[b]),
                    (r, zero, b + 1, -s * beta[a] * alpha[b]), (r, zero, zero, -s * beta[a] * beta[b])]
    return _rows(entries, kinds.size, dim)


CUT_FAMILIES = {"rlt": ("rlt",), "rlt+triangle": ("rlt", "triangle"), "triangle": ("triangle",)}
CUTS_PER_ROUND = 5  # separated rows added per round, per row of P


def linear_rows(ir: IR, limit: int = 10**6) -> tuple[np.ndarray, np.ndarray] | None:
    """``(A, b)`` of the IR's linear inequalities ``A v <= b`` (dense; ``None`` if more than ``limit`` entries)."""
    parts = [con.expr for con in ir.constraints if con.is_linear and con.sense == "<="]
    if not parts or sum(p.size for p in parts) * ir.n > limit:
        return None
    A = np.vstack([widen_columns(p.A, ir.n).toarray() for p in parts])
    return A, -np.concatenate([p.a for p in parts])



def separate(P: np.ndarray, lower: np.ndarray, upper: np.ndarray, families: tuple[str, ...], count: int,
             tolerance: float = 1e-6, linear: tuple[np.ndarray, np.ndarray] | None = None,
             ) -> tuple[sp.csr_array | None, float]:
    """The ``count`` rows of ``families`` most violated by ``P`` (by more than ``tolerance``) and the
    largest violation. ``linear`` is ``(A, b)`` of the problem's linear rows ``A v <= b``."""
    dim = lower.size + 1
    found = []
    if "rlt" in families:
        viol, (i, j) = rlt_violations(P, lower, upper)
        found.append(("rlt", viol, (i, j)))
    if "rlt" in families and linear is not None and linear[0].size:
        found.append(("linear", linear_rlt_violations(P, *linear, lower, upper), None))
    if "triangle" in families and lower.size >= 3 and lower.size <= MAX_TRIANGLE_VARIABLES:
        viol, (i, j, k) = triangle_violations(P, lower, upper)
        found.append(("triangle", viol, (i, j, k)))
    scored = []  # (violations, family, kind, indices of violated rows, the variables of every row)
    for name, viol, where in found:
        for kind in range(viol.shape[0]):
            idx = np.flatnonzero(viol[kind] > tolerance)
            scored.append((viol[kind, idx], name, kind, idx, where))
    values = np.concatenate([s[0] for s in scored]) if scored else np.zeros(0)
    if not values.size:
        return None, 0.0
    worst = float(values.max())
    cutoff = np.sort(values)[-min(count, values.size)]
    rows = []
    for value, name, kind, idx, where in scored:
        chosen = idx[value >= cutoff]
        if not chosen.size:
            continue
        kinds = np.full(chosen.size, kind)
        if name == "rlt":
            rows.append(rlt_rows(kinds, where[0][chosen], where[1][chosen], lower, upper, dim))
        elif name == "linear":
            rows.append(linear_rlt_rows(kinds, chosen, *linear, lower, upper, dim))
        else:
            rows.append(triangle_rows(kinds, where[0][chosen], where[1][chosen], where[2][chosen], lower, upper, dim))
    return sp.csr_array(sp.vstack(rows, format="csr")), worst
