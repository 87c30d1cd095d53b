"""The Lagrangian of an IR in box-normalised coordinates, as matrix-free quadratic maps.

Every bounded variable is written ``v = m + r ⊙ s`` with ``s ∈ [−1, 1]``. The objective
(row 0) and every constraint row become ``ρ(s) = A s + a + Σ_t S_t (L_t s + l_t) ⊙ (R_t s + r_t)``;
for weights ``w`` the Lagrangian ``wᵀρ(s) = c + gᵀs + ½ sᵀHs`` is only ever touched
through ``H u = Σ_t L_tᵀ(ω_t ⊙ R_t u) + R_tᵀ(ω_t ⊙ L_t u)`` with ``ω_t = S_tᵀw``: for a
network these are forward and backward passes through the weights, so memory stays
linear in the network's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from qcqp import IR
from qcqp.expr import Affine, Quadratic


@dataclass(frozen=True)
class Term:
    S: sp.csr_array
    L: sp.csr_array
    l: np.ndarray
    R: sp.csr_array
    r: np.ndarray


@dataclass(frozen=True)
class QuadMap:
    """Rows ``ρ(s)`` of the objective and constraints in normalised coordinates."""

    A: sp.csr_array
    a: np.ndarray
    terms: tuple[Term, ...]

    @property
    def rows(self) -> int:
        return self.a.size

    @property
    def n(self) -> int:
        return self.A.shape[1]

    def at_center(self) -> tuple[np.ndarray, np.ndarray]:
        """``ρ(0)`` and a bound on the magnitude of its summands."""
        value, magnitude = self.a.copy(), np.abs(self.a)
        for t in self.terms:
            value = value + t.S @ (t.l * t.r)
            magnitude = magnitude + abs(t.S) @ np.abs(t.l * t.r)
        return value, magnitude

    def gradient_hvp(self, w: np.ndarray):
        """``(g, H·)`` of ``wᵀρ`` at ``s = 0``; ``H·`` takes a vector or a matrix of columns."""
        g = self.A.T @ w
        omegas = [t.S.T @ w for t in self.terms]
        for t, om in zip(self.terms, omegas):
            g = g + t.L.T @ (om * t.r) + t.R.T @ (om * t.l)

        def hvp(u: np.ndarray) -> np.ndarray:
            out = np.zeros(u.shape)
            for t, om in zip(self.terms, omegas):
                om = om.reshape((-1,) + (1,) * (u.ndim - 1))
                out += t.L.T @ (om * (t.R @ u)) + t.R.T @ (om * (t.L @ u))
            return out

        return g, hvp

    def lifted(self, V: np.ndarray) -> tuple[np.ndarray, list]:
        """Every row at the lifted point ``X = V Vᵀ`` whose first row is ``V[0]`` (``X₀₀ = ‖V[0]‖²``),
        and each product's factors ``(L V[1:] + l V[0]ᵀ, R V[1:] + r V[0]ᵀ)`` for :meth:`lifted_gradient`."""
        u0, Us = V[0], V[1:]
        value = (self.A @ Us) @ u0 + self.a * (u0 @ u0)
        factors = []
        for t in self.terms:
            left, right = t.L @ Us + np.outer(t.l, u0), t.R @ Us + np.outer(t.r, u0)
            value = value + t.S @ np.sum(left * right, axis=1)
            factors.append((left, right))
        return value, factors

    def lifted_gradient(self, w: np.ndarray, V: np.ndarray, factors: list | None = None) -> np.ndarray:
        """``∂/∂V[1:]`` of ``wᵀρ(V Vᵀ)`` (pass :meth:`lifted`'s factors at the same ``V`` to reuse them)."""
        factors = factors if factors is not None else self.lifted(V)[1]
        out = np.outer(self.A.T @ w, V[0])
        for t, (left, right) in zip(self.terms, factors):
            om = (t.S.T @ w)[:, None]
            out += t.L.T @ (om * right) + t.R.T @ (om * left)
        return out

    def lifted_derivative(self, V: np.ndarray, Y: np.ndarray, factors: list | None = None) -> np.ndarray:
        """Every row's derivative at ``X = V Vᵀ`` along ``V[1:] += t Y`` (the adjoint of
        :meth:`lifted_gradient` in ``w``; ``factors`` as there)."""
        factors = factors if factors is not None else self.lifted(V)[1]
        value = (self.A @ Y) @ V[0]
        for t, (left, right) in zip(self.terms, factors):
            value = value + t.S @ np.sum((t.L @ Y) * right + left * (t.R @ Y), axis=1)
        return value

    def hessian(self, w: np.ndarray, absolute: bool = False) -> sp.csr_array:
        """``H`` of ``wᵀρ`` (sparse); ``absolute``: the same sum over every factor's absolute value
        (the magnitudes the rounding analysis charges)."""
        H = sp.csr_array((self.n, self.n))
        for t in self.terms:
            om = t.S.T @ w
            L, R, om = (abs(t.L), abs(t.R), np.abs(om)) if absolute else (t.L, t.R, om)
            half = L.T @ sp.diags_array(om) @ R
            H = H + half + half.T
        return sp.csr_array(H)


def _normalise(expr: Affine | Quadratic, m: np.ndarray, r: np.ndarray, n: int):
    quad = expr if isinstance(expr, Quadratic) else Quadratic(expr)
    D = sp.diags_array(r)
    aff = quad.affine.padded(n)
    terms = []
    for t in quad.products:
        L, R = t.left.padded(n), t.right.padded(n)
        terms.append(Term(sp.csr_array(t.S), sp.csr_array(L.A @ D), L.A @ m + L.a,
                          sp.csr_array(R.A @ D), R.A @ m + R.a))
    return sp.csr_array(aff.A @ D), aff.A @ m + aff.a, terms


def _merge(terms: list[Term]) -> tuple[Term, ...]:
    """One term holding every product row: fewer, larger sparse products per matvec."""
    if len(terms) <= 1:
        return tuple(terms)
    return (Term(sp.csr_array(sp.hstack([t.S for t in terms], format="csr")),
                 sp.csr_array(sp.vstack([t.L for t in terms], format="csr")), np.concatenate([t.l for t in terms]),
                 sp.csr_array(sp.vstack([t.R for t in terms], format="csr")), np.concatenate([t.r for t in terms])),)


def build_lagrangian(ir: IR) -> tuple[QuadMap, int, int]:
    """The objective (row 0), the ``<=`` rows, then the ``==`` rows; returns ``(map, m_le, m_eq)``.

    Complementarities contribute their hull (``<=``) and ``f ⊙ g = 0``.
    """
    ir.require_bounds("sdp-fo")
    m, r = 0.5 * (ir.lower + ir.upper), 0.5 * (ir.upper - ir.lower)
    le = [con.expr for con in ir.constraints if con.sense == "<="]
    eq = [con.expr for con in ir.constraints if con.sense == "=="]
    for comp in ir.complementarities:
        le.append(comp.envelope())
        eq.append(comp.product())
    blocks = [ir.objective] + le + eq
    rows = [b.size for b in blocks]
    offsets = np.concatenate([[0], np.cumsum(rows)])
    total = int(offsets[-1])
    As, as_, terms = [], [], []
    for k, block in enumerate(blocks):
        A, a, block_terms = _normalise(block, m, r, ir.n)
        As.append(A)
        as_.append(a)
        place = sp.csr_array((np.ones(rows[k]), (offsets[k] + np.arange(rows[k]), np.arange(rows[k]))),
                             shape=(total, rows[k]))
        terms += [Term(sp.csr_array(place @ t.S), t.L, t.l, t.R, t.r) for t in block_terms]
    qmap = QuadMap(sp.csr_array(sp.vstack(As, format="csr")), np.concatenate(as_), _merge(terms))
    return qmap, sum(b.size for b in le), sum(b.size for b in eq)
