"""Feasible points for an IR: candidates from a relaxation, a local NLP polish, an exact check.

A relaxation gives a bound; a user also wants a good feasible point and the gap between them.
Candidates come from the relaxation's solution: the first column ``x̄`` of the lifted matrix
``P`` (or the LP's point), MILP answers over the linear rows where variables are two-valued
(binaries, :mod:`qcqp.rounding`), Gaussian samples ``x̄ + L z`` with ``LLᵀ = P[x, x] − x̄x̄ᵀ`` (the
randomised rounding of Goemans–Williamson and its box generalisations), and each sample
rounded to the nearer bound (for ±1 variables this is hyperplane rounding). The best few are
polished by a local solver on the IR's own functions (L-BFGS-B on a box, SLSQP with
constraints, then IPOPT where SLSQP ends infeasible and ``cyipopt`` is installed; further
candidates while none is feasible, within the time budget) and every result is checked on the
IR: a point is returned only if its worst violation is at most ``tolerance``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from qcqp.ir import IR
from qcqp.lifting import lift, pair_rows_cols
from qcqp.rounding import DiscreteStructure

SAMPLES = 64  # Gaussian samples from P (each also rounded to the nearer bound)
POLISHED = 4  # candidates handed to the local solver
POLISHED_WHILE_NONE = 12  # candidates handed to it while none has turned out feasible
SLSQP_MAX_VARIABLES = 400  # SLSQP is dense in n; above this only candidates are checked
FEASIBLE = 1e-9  # worst violation of a point accepted by default


@dataclass(frozen=True)
class LiftedFunctions:
    """Every row of the IR as ``K @ utri(ṽṽᵀ)`` with ``ṽ = [1, v]``: values and Jacobians."""

    objective: sp.csr_array
    inequalities: sp.csr_array  # <= 0
    equalities: sp.csr_array  # == 0
    rows: np.ndarray
    cols: np.ndarray

    @classmethod
    def of(cls, ir: IR) -> LiftedFunctions:
        dim = ir.n + 1
        le = [lift(c.expr, dim) for c in ir.constraints if c.sense == "<="]
        eq = [lift(c.expr, dim) for c in ir.constraints if c.sense == "=="]
        for comp in ir.complementarities:
            eq.append(lift(comp.product(), dim))
            le.append(lift(comp.envelope(), dim))
        objective = lift(ir.objective, dim)

        def stack(parts):
            return sp.csr_array(sp.vstack(parts, format="csr")) if parts else sp.csr_array((0, objective.shape[1]))

        rows, cols = pair_rows_cols(dim)
        return cls(objective, stack(le), stack(eq), rows, cols)

    def _monomials(self, v: np.ndarray) -> np.ndarray:
        tilde = np.concatenate([[1.0], v])
        return tilde[self.rows] * tilde[self.cols]

    def _derivative(self, v: np.ndarray) -> sp.csr_array:
        """``∂ utri(ṽṽᵀ) / ∂v``: entry ``(a, b)`` has ``ṽ_b`` in column ``a`` and ``ṽ_a`` in column ``b``."""
        tilde = np.concatenate([[1.0], v])
        width, dim = self.rows.size, tilde.size
        index = np.arange(width)
        D = sp.csr_array((np.concatenate([tilde[self.cols], tilde[self.rows]]),
                          (np.concatenate([index, index]), np.concatenate([self.rows, self.cols]))), shape=(width, dim))
        return sp.csr_array(D[:, 1:])

    def value(self, K: sp.csr_array, v: np.ndarray) -> np.ndarray:
        return K @ self._monomials(v)

    def jacobian(self, K: sp.csr_array, v: np.ndarray) -> np.ndarray:
        return (K @ self._derivative(v)).toarray()


def candidates(ir: IR, lifted: np.ndarray | None, point: np.ndarray | None, rng: np.random.Generator) -> list:
    """Starting points: ``x̄``, Gaussian samples from ``P`` and their roundings to the nearer bound."""
    lo, hi = ir.lower, ir.upper
    centre = lifted[0, 1:ir.n + 1] if lifted is not None else point[:ir.n] if point is not None else None
    if centre is None or not np.all(np.isfinite(centre)):
        return []
    found = [np.clip(centre, lo, hi)]
    middle = 0.5 * (lo + hi)
    if lifted is not None and not ir.complementarities:  # samples never meet a complementarity
        second = lifted[1:ir.n + 1, 1:ir.n + 1]
        cov = 0.5 * (second + second.T) - np.outer(centre, centre)
        if np.all(np.isfinite(cov)):
            values, vectors = np.linalg.eigh(cov)
            factor = vectors * np.sqrt(np.maximum(values, 0.0))
            for z in rng.standard_normal((SAMPLES, ir.n)):
                sample = centre + factor @ z
                found += [np.clip(sample, lo, hi), np.where(sample >= middle, hi, lo)]
    found.append(np.where(centre >= middle, hi, lo))
    return found


def _polish(ir: IR, f: LiftedFunctions, start: np.ndarray, deadline: float,
            lower: np.ndarray | None = None, upper: np.ndarray | None = None) -> np.ndarray:
    """A local maximiser of the IR's objective from ``start`` (L-BFGS-B on a box, else SLSQP)
    within the IR's bounds or the tighter ``lower``, ``upper``."""
    def negative(v):
        return -f.value(f.objective, v)[0], -f.jacobian(f.objective, v)[0]

    bounds = list(zip(ir.lower if lower is None else lower, ir.upper if upper is None else upper))
    if f.inequalities.shape[0] == 0 and f.equalities.shape[0] == 0:
        return minimize(negative, start, jac=True, method="L-BFGS-B", bounds=bounds).x
    if ir.n > SLSQP_MAX_VARIABLES or time.perf_counter() > deadline:
        return start
    constraints = []
    if f.inequalities.shape[0]:
        constraints.append({"type": "ineq", "fun": lambda v: -f.value(f.inequalities, v),
                            "jac": lambda v: -f.jacobian(f.inequalities, v)})
    if f.equalities.shape[0]:
        constraints.append({"type": "eq", "fun": lambda v: f.value(f.equalities, v),
                            "jac": lambda v: f.jacobian(f.equalities, v)})
    found = minimize(negative, start, jac=True, method="SLSQP", bounds=bounds, constraints=constraints,
                     options={"maxiter": 200}).x
    if ir.max_violation(np.clip(found, ir.lower, ir.upper)) <= FEASIBLE or time.perf_counter() > deadline:
        return found
    return _interior_point(negative, start, bounds, constraints, deadline)


def _interior_point(negative, start: np.ndarray, bounds: list, constraints: list, deadline: float) -> np.ndarray:
    """IPOPT from ``start`` where SLSQP ends infeasible (the ``nlp`` extra; ``start`` without it):
    on QPLIB's packing problems (hundreds of ``>=`` distance rows) it reaches points SLSQP does not."""
    try:
        from cyipopt import minimize_ipopt
    except ImportError:
        return start
    options = {"print_level": 0, "sb": "yes", "max_iter": 500, "tol": 1e-9, "constr_viol_tol": 1e-10,
               "max_cpu_time": max(deadline - time.perf_counter(), 0.1)}
    return minimize_ipopt(lambda v: negative(v)[0], start, jac=lambda v: negative(v)[1], bounds=bounds,
                          constraints=constraints, options=options).x


def best_point(ir: IR, lifted: np.ndarray | None = None, point: np.ndarray | None = None,
               tolerance: float = FEASIBLE, time_budget: float = 10.0, seed: int = 0) -> tuple[np.ndarray | None, dict]:
    """The best feasible point found from a relaxation's solution, and how it was found.

    Parameters
    ----------
    lifted
        The relaxation's lifted matrix ``P`` (``sdp``), or ``None``.
    point
        A relaxation's point in the IR's variables (``lp``), used when ``lifted`` is ``None``.
    tolerance
        Largest constraint violation accepted (checked on the IR itself).
    time_budget
        Seconds for the local solver; candidates are always checked.
    """
    deadline = time.perf_counter() + time_budget
    starts = candidates(ir, lifted, point, np.random.default_rng(seed))
    if not starts:
        return None, {"candidates": 0}

    def score(v):  # feasible points first, then by objective
        return (ir.max_violation(v) <= tolerance, ir.objective_value(v))

    starts.sort(key=score, reverse=True)
    polishable = not ir.complementarities  # a complementarity's local NLP is degenerate; rounding only
    f = LiftedFunctions.of(ir) if polishable else None
    box_only = polishable and f.inequalities.shape[0] == 0 and f.equalities.shape[0] == 0
    pool = list(starts[:1])
    if polishable and (discrete := DiscreteStructure.of(f)) is not None:
        pool += _discrete_points(ir, f, discrete, starts[0], tolerance, deadline)
    feasible = [v for v in pool if ir.max_violation(v) <= tolerance]
    for number, start in enumerate(starts if polishable else []):
        # POLISHED starts (more while none is feasible); all of them on a box (L-BFGS-B is cheap)
        if time.perf_counter() > deadline or (not box_only and number >= (POLISHED if feasible else
                                                                           POLISHED_WHILE_NONE)):
            break
        pool.append(np.clip(_polish(ir, f, start, deadline), ir.lower, ir.upper))
        feasible += [pool[-1]] if ir.max_violation(pool[-1]) <= tolerance else []
    stats = {"candidates": len(starts), "polished": len(pool) - 1}
    if not feasible:
        return None, stats
    return max(feasible, key=ir.objective_value), stats


def _discrete_points(ir: IR, f: LiftedFunctions, discrete: DiscreteStructure, start: np.ndarray,
                     tolerance: float, deadline: float) -> list[np.ndarray]:
    """MILP answers over the linear rows (:mod:`qcqp.rounding`); those that miss other quadratic
    rows are polished in the continuous variables with the two-valued ones fixed."""
    found = []
    for v in discrete.points(lambda u: f.jacobian(f.objective, u)[0], start, ir.lower, ir.upper, deadline):
        found.append(v)
        if ir.max_violation(v) > tolerance and time.perf_counter() < deadline:
            lower, upper = ir.lower.copy(), ir.upper.copy()
            lower[discrete.index] = upper[discrete.index] = v[discrete.index]
            found.append(np.clip(_polish(ir, f, v, deadline, lower, upper), lower, upper))
    return found


__all__ = ["LiftedFunctions", "best_point", "candidates"]
