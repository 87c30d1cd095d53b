"""The project's own primal–dual interior point for the Shor form (numpy/scipy, always installed).

Standard form ``min ⟨C̃, X⟩`` s.t. ``⟨A_i, X⟩ (+ s_i) = b_i``, ``X ⪰ 0``, ``s >= 0`` (slacks on
the ``<=`` rows), with the HKM search direction and Mehrotra's predictor–corrector. What makes
it fast on the Shor relaxation of a network is the Schur complement
``M_ij = tr(A_i X A_j Z⁻¹)``: every row of the Shor form touches ``P`` in a few rows and columns
(a ReLU's ``z_j (z_j − w_jᵀx − b_j) = 0`` is ``e_z aᵀ + a e_zᵀ``, rank 2, however many inputs
``w_j`` reads), so with ``A_i = U_i B_i U_iᵀ`` (:func:`row_factors`) the whole of ``M`` follows
from ``UᵀXU`` and ``UᵀZ⁻¹U``: ``N·nnz(U) + nnz(U)·R`` flops (``R`` the total rank), where a
sparse-entry formula (SDPA's) pays ``nnz(A_i)·nnz(A_j)`` for every pair of dense rows.

The multipliers are returned as they are; the ``sdp`` backend rebuilds the bound rigorously.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from qcqp import InputError, Status
from qcqp.backends.sdp_solvers import DualSolution, SdpSolver, register_sdp_solver
from qcqp.backends.shor import ShorForm, coefficients_to_matrix
from qcqp.lifting import pair_rows_cols

LANCZOS_DIM = 300
SLAB = 4_000_000  # entries of Schur-complement scratch per slab of rows
DIVERGED = 1e12  # a scaled dual objective beyond this: the primal (the relaxation) is empty
DEFAULTS = {"tol": 1e-7, "max_iter": 100, "step": 0.98}


def row_factors(rows: sp.csr_array, dim: int) -> tuple[sp.csc_array, sp.csr_array, np.ndarray]:
    """Low-rank factors ``A_i = U_i B_i U_iᵀ`` of every row (coefficients over ``utri(P)``).

    Each row takes the cheaper of two forms: *dense on its support* (``U_i`` the unit vectors
    of the indices it touches, ``B_i`` its submatrix) or *stars* (a greedy vertex cover of its
    off-diagonal entries; cover vertex ``k`` with its entries ``a_k`` contributes
    ``e_k a_kᵀ + a_k e_kᵀ``, uncovered diagonal entries stay rank one). Returns ``U``
    (``dim × R``), block-diagonal ``B`` (``R × R``) and the row owning each of the ``R`` columns.
    """
    pr, pc = pair_rows_cols(dim)
    u_rows, u_cols, u_vals, b_rows, b_cols, b_vals, owner = [], [], [], [], [], [], []
    width = 0

    def column(entries, values, row):
        nonlocal width
        u_rows.append(entries)
        u_cols.append(np.full(len(entries), width))
        u_vals.append(values)
        owner.append(row)
        width += 1
        return width - 1

    for r in range(rows.shape[0]):
        k, v = rows.indices[rows.indptr[r]:rows.indptr[r + 1]], rows.data[rows.indptr[r]:rows.indptr[r + 1]]
        keep = v != 0
        i, j, v = pr[k[keep]], pc[k[keep]], v[keep]
        support = np.unique(np.concatenate([i, j]))
        off = i != j
        cover = _vertex_cover(i[off], j[off])
        diag_left = np.setdiff1d(i[~off], cover)
        if support.size <= 2 * cover.size + diag_left.size:
            local = {vertex: column(np.array([vertex]), np.array([1.0]), r) for vertex in support}
            for a, b_, val in zip(i, j, v):
                weight = val if a == b_ else 0.5 * val
                b_rows += [local[a]] if a == b_ else [local[a], local[b_]]
                b_cols += [local[b_]] if a == b_ else [local[b_], local[a]]
                b_vals += [weight] if a == b_ else [weight, weight]
            continue
        assigned = np.zeros(i.size, bool)
        for vertex in cover:  # e_k a_kᵀ + a_k e_kᵀ with a_k[j] = A_kj (and A_kk / 2)
            mine = ~assigned & ((i == vertex) | (j == vertex))
            assigned |= mine
            other = np.where(i[mine] == vertex, j[mine], i[mine])
            e = column(np.array([vertex]), np.array([1.0]), r)
            a = column(other, 0.5 * v[mine], r)  # off-diagonal A_kj = v / 2; diagonal 2 a_k[k] = v
            b_rows += [e, a]
            b_cols += [a, e]
            b_vals += [1.0, 1.0]
        for a, val in zip(i[~assigned], v[~assigned]):  # diagonal entries off the cover
            e = column(np.array([a]), np.array([1.0]), r)
            b_rows.append(e)
            b_cols.append(e)
            b_vals.append(val)
    U = sp.csc_array((np.concatenate(u_vals), (np.concatenate(u_rows), np.concatenate(u_cols))),
                     shape=(dim, width)) if width else sp.csc_array((dim, 0))
    B = sp.csr_array((b_vals, (b_rows, b_cols)), shape=(width, width))
    return U, B, np.array(owner, dtype=np.int64)


def _vertex_cover(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """A small vertex cover of the edges ``(i, j)`` (greedy by degree)."""
    cover = []
    while i.size:
        vertices, counts = np.unique(np.concatenate([i, j]), return_counts=True)
        best = vertices[np.argmax(counts)]
        cover.append(best)
        left = (i != best) & (j != best)
        i, j = i[left], j[left]
    return np.array(cover, dtype=np.int64)


class SchurOperator:
    """``𝒜``, ``𝒜*`` and the Schur complement ``M_ij = tr(A_i X A_j Y)`` of a set of rows.

    With ``G = UᵀXU``, ``H = UᵀYU`` and ``B`` block diagonal, ``M = S (BG ∘ (BH)ᵀ) Sᵀ`` where ``S``
    sums the columns of each row. It is formed a slab of rows at a time (about ``slab`` entries
    of ``R``-wide scratch), so memory stays ``O(N R)`` beside ``M`` itself; unit columns ``e_k``
    of ``U`` only gather entries, the others go through dense BLAS products.
    """

    def __init__(self, rows: sp.csr_array, dim: int, slab: int = SLAB):
        self.rows, self.dim = rows, dim
        self.pr, self.pc = pair_rows_cols(dim)
        self.half = np.where(self.pr == self.pc, 1.0, 0.5)
        U, self.B, owner = row_factors(rows, dim)  # columns grouped by row, in row order
        self.rank = U.shape[1]
        first = U.indptr[:-1].clip(max=max(U.nnz - 1, 0))
        self.unit = (np.diff(U.indptr) == 1) & (U.data[first] == 1.0) if U.nnz else np.zeros(0, bool)
        self.unit_row = np.where(self.unit, U.indices[first] if U.nnz else 0, -1)
        self.dense = U[:, np.flatnonzero(~self.unit)].toarray()
        self.dense_pos = np.cumsum(~self.unit) - 1
        self.owner = sp.csr_array((np.ones(owner.size), (owner, np.arange(owner.size))),
                                  shape=(rows.shape[0], owner.size))
        starts = np.searchsorted(owner, np.arange(rows.shape[0] + 1))  # first column of every row
        width = max(1, slab // max(1, self.rank))
        self.slabs, row = [], 0
        while row < rows.shape[0]:
            stop = max(row + 1, int(np.searchsorted(starts, starts[row] + width, side="right")) - 1)
            stop = min(stop, rows.shape[0])
            self.slabs.append((row, stop, starts[row], starts[stop]))
            row = stop

    def apply(self, X: np.ndarray) -> np.ndarray:
        """``⟨A_i, X⟩`` for every row."""
        return self.rows @ X[self.pr, self.pc]

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``Σ y_i A_i`` as a dense symmetric matrix."""
        coef = (self.rows.T @ y) * self.half
        M = np.zeros((self.dim, self.dim))
        M[self.pr, self.pc] = coef
        M[self.pc, self.pr] = coef
        return M

    def _times_u(self, X: np.ndarray) -> np.ndarray:
        XU = np.empty((self.dim, self.rank))
        XU[:, self.unit] = X[:, self.unit_row[self.unit]]
        XU[:, ~self.unit] = X @ self.dense
        return XU

    def _rows_of_utxu(self, XU: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo:hi`` of ``UᵀXU``."""
        unit = self.unit[lo:hi]
        out = np.empty((hi - lo, self.rank))
        out[unit] = XU[self.unit_row[lo:hi][unit]]
        out[~unit] = self.dense[:, self.dense_pos[lo:hi][~unit]].T @ XU
        return out

    def schur(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        XU, YU = self._times_u(X), self._times_u(Y)
        M = np.empty((self.rows.shape[0], self.rows.shape[0]))
        for r0, r1, lo, hi in self.slabs:
            F = self.B[lo:hi, lo:hi] @ self._rows_of_utxu(XU, lo, hi)  # rows of B G (B is block diagonal)
            LT = (self.B @ self._rows_of_utxu(YU, lo, hi).T).T  # rows of (B H)ᵀ = H B
            M[r0:r1] = (self.owner[r0:r1, lo:hi] @ (self.owner @ (F * LT).T).T)
        return 0.5 * (M + M.T)


def box_moments(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``E[ṽṽᵀ]`` for ``v`` uniform on the box: a positive definite start on the data's own scale."""
    mid, width = 0.5 * (lower + upper), np.maximum(upper - lower, 1e-6 * (1 + np.abs(lower) + np.abs(upper)))
    v = np.concatenate([[1.0], mid])
    return np.outer(v, v) + np.diag(np.concatenate([[0.0], width**2 / 12]))


def dual_start(op: SchurOperator, C: np.ndarray, box: np.ndarray, slack: np.ndarray) -> np.ndarray:
    """Multipliers ``y`` with ``C − Σ y_i A_i ≻ 0`` and ``y < 0`` on the ``<=`` rows: unit weight on
    every ``<=`` row, Gershgorin weights on the box rows ``box`` (row ``k`` is the lifted
    ``(v_k − l_k)(v_k − u_k) <= 0``), then ``y₀`` from the Schur complement of the top-left entry."""
    n = box.size
    y = np.zeros(op.rows.shape[0])
    y[slack] = -1.0
    y[box] = 0.0
    K = (C - op.adjoint(y))[1:, 1:]
    need = 1.0 - np.diag(K) + np.sum(np.abs(K), axis=1) - np.abs(np.diag(K))
    k = np.arange(1, n + 1)
    y[box] = -np.maximum(need, 1e-3) / op.rows[box, k * (k + 1) // 2 + k]  # coefficient of P_kk
    S = C - op.adjoint(y)
    g = S[0, 1:]
    y[0] -= (1.0 + g @ g - S[0, 0]) / op.rows[0, 0]
    return y


def _max_step(L: np.ndarray, dX: np.ndarray) -> float:
    """Largest ``α`` with ``X + α dX ⪰ 0`` for ``X = LLᵀ``, ``inf`` if every ``α`` works: from
    ``λ_min(L⁻¹ dX L⁻ᵀ)``, by Lanczos on large matrices (the step is re-checked by the next
    Cholesky factorisation, so an estimate is enough)."""
    n = L.shape[0]
    if n > LANCZOS_DIM:
        def matvec(v):
            return la.solve_triangular(L, dX @ la.solve_triangular(L, v, lower=True, trans="T"), lower=True)

        try:
            lam = spla.eigsh(spla.LinearOperator((n, n), matvec=matvec, dtype=float), k=1, which="SA",
                             tol=1e-4, return_eigenvectors=False)[0]
            lam -= 1e-3 * abs(lam)
            return np.inf if lam >= 0 else -1.0 / lam
        except spla.ArpackNoConvergence:
            pass
    T = la.solve_triangular(L, dX, lower=True)
    T = la.solve_triangular(L, T.T, lower=True)
    lam = la.eigvalsh(0.5 * (T + T.T), subset_by_index=[0, 0])[0]
    return np.inf if lam >= 0 else -1.0 / lam


def _max_step_lp(s: np.ndarray, ds: np.ndarray) -> float:
    neg = ds < 0
    return float(np.min(-s[neg] / ds[neg])) if np.any(neg) else np.inf


@dataclass
class Iterate:
    """Primal ``(X, s)`` and dual ``(y, Z, w)`` of the scaled standard form."""

    X: np.ndarray
    s: np.ndarray
    y: np.ndarray
    Z: np.ndarray
    w: np.ndarray


class StandardForm:
    """The Shor form as ``min ⟨C, X⟩`` s.t. ``⟨A_i, X⟩ (+ s_i) = b_i``, rows and objective scaled
    to unit Frobenius norm (multipliers are unscaled by :meth:`multipliers`)."""

    def __init__(self, form: ShorForm):
        dim, self.m_e, m_g = form.dim, form.E.shape[0], form.G.shape[0]
        one = sp.csr_array(([1.0], ([0], [0])), shape=(1, form.c.size))
        A = sp.csr_array(sp.vstack([one, form.E, form.G], format="csr"))
        rows, cols = pair_rows_cols(dim)
        weight = np.where(rows == cols, 1.0, 0.5)  # ‖A‖_F² = Σ diag² + Σ off² / 2 over utri coefficients
        self.norms = np.sqrt(A.multiply(A) @ weight)
        self.norms[self.norms == 0] = 1.0
        self.c_norm = max(1.0, float(np.sqrt(form.c**2 @ weight)))
        self.op = SchurOperator(sp.csr_array(sp.diags_array(1.0 / self.norms) @ A), dim)
        self.C = -coefficients_to_matrix(form.c / self.c_norm, dim)
        self.b = np.zeros(A.shape[0])
        self.b[0] = 1.0 / self.norms[0]
        self.slack = np.arange(1 + self.m_e, A.shape[0])  # the <= rows
        self.cone_size = dim + m_g
        self.box = self.slack[:form.lower.size]  # build_shor puts the lifted box rows first
        self.lower, self.upper = form.lower, form.upper

    def start(self) -> Iterate:
        """Primal: the box's moments; dual: strictly feasible (:func:`dual_start`); slacks centred."""
        X = box_moments(self.lower, self.upper)
        y = dual_start(self.op, self.C, self.box, self.slack)
        Z = self.C - self.op.adjoint(y)
        w = -y[self.slack]
        return Iterate(X, np.vdot(X, Z) / X.shape[0] / w, y, 0.5 * (Z + Z.T), w)

    def multipliers(self, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """``(t, y_E, μ)`` of the original Shor form: ``C̃ − Σ y_i A_i = Z`` unscaled, signs flipped."""
        y = -y * self.c_norm / self.norms
        return float(y[0]), y[1:1 + self.m_e], y[1 + self.m_e:]


@register_sdp_solver("ipm")
class InteriorPoint(SdpSolver):
    """Primal–dual interior point (HKM, Mehrotra) with the Schur complement from low-rank row factors."""

    name, module = "ipm", "numpy"

    def memory_bytes(self, form: ShorForm) -> float:
        """``M`` (``m × m``), ``XU`` and ``YU`` (``N × R``, ``R <= 3m``), a slab of scratch and a
        dozen dense ``N × N`` iterates."""
        rows = 1 + form.E.shape[0] + form.G.shape[0]
        return 8.0 * (2 * rows**2 + 2 * form.dim * 3 * rows + 5 * SLAB + 16 * form.dim**2
                      + 6 * (form.E.nnz + form.G.nnz))

    def solve(self, form: ShorForm, time_limit, verbose, settings):
        unknown = [key for key in settings if key not in DEFAULTS]
        if unknown:
            raise InputError(f"unknown ipm setting {unknown[0]!r}; valid: {', '.join(DEFAULTS)}")
        opts = {**DEFAULTS, **settings}
        begin = time.perf_counter()
        problem = StandardForm(form)
        point, status, iterations, short_steps = problem.start(), Status.BOUND, 0, 0
        for iterations in range(1, int(opts["max_iter"]) + 1):
            vectors = _residual_vectors(problem, point)
            residuals = _residuals(problem, point, *vectors)
            if verbose:
                print(f"ipm {iterations:3d}  " + "  ".join(f"{k} {v: .3e}" for k, v in residuals.items()), flush=True)
            if max(residuals["gap"], residuals["pinf"], residuals["dinf"]) < opts["tol"]:
                status = Status.OPTIMAL
                break
            if residuals["dual"] > DIVERGED:  # an improving ray of the dual: the relaxation claims emptiness
                status = Status.INFEASIBLE
                break
            if time_limit is not None and time.perf_counter() - begin > time_limit:
                break
            try:
                step = _step(problem, point, opts["step"], *vectors)
            except (la.LinAlgError, ValueError):  # lost definiteness or a singular Schur complement
                break
            short_steps = short_steps + 1 if min(step[1], step[2]) < 0.05 and residuals["gap"] < 1e-5 else 0
            if short_steps >= 2 or not all(np.all(np.isfinite(a)) for a in vars(step[0]).values()):
                break  # stalled at the limit of the floating-point accuracy: keep the last point
            point = step[0]
        t, y, mu = problem.multipliers(point.y)
        words = {Status.OPTIMAL: "converged", Status.INFEASIBLE: "dual diverged"}
        info = {"solver_status": words.get(status, "stopped"),
                "iterations": iterations, "solver_time": time.perf_counter() - begin, "schur_rank": problem.op.rank}
        return DualSolution(status, t, y, mu, point.X, info)


def _residual_vectors(problem: StandardForm, p: Iterate) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Primal residual ``b − 𝒜X − s``, dual residual ``C − 𝒜*y − Z`` and slack residual ``−y_G − w``."""
    rp = problem.b - problem.op.apply(p.X)
    rp[problem.slack] -= p.s
    return rp, problem.C - problem.op.adjoint(p.y) - p.Z, -p.y[problem.slack] - p.w


def _residuals(problem: StandardForm, p: Iterate, rp: np.ndarray, Rd: np.ndarray, rw: np.ndarray) -> dict:
    pobj, dobj = np.vdot(problem.C, p.X), problem.b @ p.y
    return {"primal": pobj, "dual": dobj, "gap": abs(pobj - dobj) / (1 + abs(pobj) + abs(dobj)),
            "pinf": np.linalg.norm(rp) / (1 + np.linalg.norm(problem.b)),
            "dinf": (np.linalg.norm(Rd) + np.linalg.norm(rw)) / (1 + np.linalg.norm(problem.C)),
            "mu": (np.vdot(p.X, p.Z) + p.s @ p.w) / problem.cone_size}


def _step(problem: StandardForm, p: Iterate, step_factor: float, rp: np.ndarray, Rd: np.ndarray,
          rw: np.ndarray) -> tuple[Iterate, float, float]:
    """One Mehrotra predictor–corrector step along the HKM direction from ``p`` with its residuals;
    returns the new point and the primal and dual step lengths."""
    op, slack = problem.op, problem.slack
    X, s, y, Z, w = p.X, p.s, p.y, p.Z, p.w
    mu = (np.vdot(X, Z) + s @ w) / problem.cone_size
    Lx, Lz = la.cholesky(X, lower=True), la.cholesky(Z, lower=True)
    Zi = la.cho_solve((Lz, True), np.eye(X.shape[0]))
    Zi = 0.5 * (Zi + Zi.T)
    M = op.schur(X, Zi)
    M[slack, slack] += s / w
    factor = _cholesky(M)

    def direction(target, K, k_lp):
        """Solve the Newton system for ``XZ = target I − K`` (and ``s w = target − k_lp``)."""
        XRZ = (X @ Rd + K) @ Zi
        rhs = rp - op.apply(target * Zi - X - 0.5 * (XRZ + XRZ.T))
        rhs[slack] -= (target - s * w - s * rw - k_lp) / w
        dy = la.cho_solve(factor, rhs)
        dZ, dw = Rd - op.adjoint(dy), rw - dy[slack]
        XdZ = (X @ dZ + K) @ Zi
        return target * Zi - X - 0.5 * (XdZ + XdZ.T), (target - s * w - s * dw - k_lp) / w, dy, dZ, dw

    def lengths(dX, ds, dZ, dw, fraction):
        return (min(1.0, fraction * min(_max_step(Lx, dX), _max_step_lp(s, ds))),
                min(1.0, fraction * min(_max_step(Lz, dZ), _max_step_lp(w, dw))))

    dX, ds, dy, dZ, dw = direction(0.0, 0.0, 0.0)
    ap, ad = lengths(dX, ds, dZ, dw, 1.0)
    mu_aff = (np.vdot(X + ap * dX, Z + ad * dZ) + (s + ap * ds) @ (w + ad * dw)) / problem.cone_size
    sigma = min(1.0, max(0.0, mu_aff / mu)) ** max(1.0, 3 * min(ap, ad) ** 2)  # SDPT3's centring rule
    dX, ds, dy, dZ, dw = direction(sigma * mu, dX @ dZ, ds * dw)
    ap, ad = lengths(dX, ds, dZ, dw, min(step_factor, 0.9 + 0.09 * min(ap, ad)))
    X, Z = X + ap * dX, Z + ad * dZ
    return Iterate(0.5 * (X + X.T), s + ap * ds, y + ad * dy, 0.5 * (Z + Z.T), w + ad * dw), ap, ad


def _cholesky(M: np.ndarray):
    """Cholesky of the Schur complement, regularised if the rows are (nearly) dependent."""
    scale = max(1.0, float(np.max(np.abs(np.diag(M)))))
    for shift in (0.0, 1e-14, 1e-12, 1e-10, 1e-8):
        try:
            return la.cho_factor(M + shift * scale * np.eye(M.shape[0]), lower=True)
        except la.LinAlgError:
            continue
    raise la.LinAlgError("Schur complement is singular")
