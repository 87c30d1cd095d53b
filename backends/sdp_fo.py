"""``sdp-fo``: the Shor bound without the Shor matrix (SDP-FO, Dathathri et al. 2020, made to converge).

With the Lagrangian ``c + gᵀs + ½ sᵀHs`` over ``s ∈ [−1, 1]^N`` (multipliers ``λ >= 0``
for ``<=`` rows, free ``ν`` for ``==`` rows) and ``M = [[0, gᵀ], [g, H]]``, every ``κ >= 0``
gives the bound ``f = c + ½ Σ_i [κ_i − λ⁻_min(diag κ − M)]⁺``. Two optimisers propose
multipliers: ``low-rank`` (default) solves the primal as a Burer–Monteiro factor by an
augmented Lagrangian and recovers the multipliers from it (:mod:`qcqp.backends.low_rank`);
``adam`` minimises ``f`` directly by projected Adam (the original SDP-FO), with ``λ_min``
from a dense ``eigh`` (small ``N``) or warm-started LOBPCG (large ``N``). Both are matrix-free.
The *reported* bound re-evaluates the best proposals with a rigorous lower bound on
``λ_min`` (:func:`~qcqp.backends.fo_certificate.certify_multipliers`); an iterative
eigenvalue, which lies above ``λ_min``, never enters it.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
from scipy.sparse.linalg import LinearOperator, lobpcg

from qcqp import IR, Backend, InputError, Relaxation, Result, Status, register_backend
from qcqp.backend import package
from qcqp.backends.fo_certificate import Multipliers, certify_multipliers, lagrangian_matrix, lowest_pair, spread_kappa
from qcqp.backends.highs import LPSolution, solve_linear_model
from qcqp.backends.lagrangian import QuadMap, build_lagrangian
from qcqp.backends.linear import build_linear_model
from qcqp.backends.low_rank import AugmentedLagrangian, recover_multipliers
from qcqp.optim import Adam

ADAM_DENSE_LIMIT = 700  # adam: dense eigenvalues in the loop up to this size, LOBPCG above
STALL = 5  # low-rank: checks in a row without a tol-sized move of the bound or the primal before stopping
SADDLE = 1e-4  # low-rank: a nearly feasible primal whose recovered λ_min is below −SADDLE (1 + max κ) is a saddle


class _Eigen:
    """``λ_min`` and its eigenvector of ``diag κ − M(w)``: dense, or LOBPCG warm-started from
    the previous step's eigenvector (an estimate: it only steers the optimiser)."""

    def __init__(self, qmap: QuadMap, dense: bool, maxiter: int = 40):
        self.qmap, self.dense, self.vector, self.maxiter = qmap, dense, None, maxiter

    def __call__(self, w: np.ndarray, kappa: np.ndarray) -> tuple[float, np.ndarray]:
        if self.dense:
            M = lagrangian_matrix(self.qmap, w).toarray()
            vals, vecs = la.eigh(np.diag(kappa) - M, subset_by_index=[0, 0])
            return float(vals[0]), vecs[:, 0]
        g, hvp = self.qmap.gradient_hvp(w)

        def matvec(u):
            u = np.ravel(u)
            out = kappa * u
            out[0] -= g @ u[1:]
            out[1:] -= g * u[0] + hvp(u[1:])
            return out

        op = LinearOperator((kappa.size, kappa.size), matvec=matvec, dtype=float,
                            matmat=lambda U: np.column_stack([matvec(col) for col in U.T]))
        if self.vector is None:
            self.vector = np.random.default_rng(0).normal(size=(kappa.size, 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-convergence only degrades this step's gradient
            vals, vecs = lobpcg(op, self.vector, largest=False, maxiter=self.maxiter, tol=1e-7)
        self.vector = vecs
        return float(vals[0]), vecs[:, 0]


def _value_and_gradient(qmap: QuadMap, rho0: np.ndarray, mult: Multipliers, eigen: _Eigen):
    """Estimated ``f`` and its (sub)gradient in ``(λ, ν, κ)``."""
    w = mult.weights()
    lam_min, u = eigen(w, mult.kappa)
    lam_neg = min(lam_min, 0.0)
    active = (mult.kappa - lam_neg > 0).astype(float)
    value = float(w @ rho0) + 0.5 * float(np.sum(np.maximum(mult.kappa - lam_neg, 0.0)))
    d_w = rho0.copy()
    d_kappa = 0.5 * active
    if lam_min < 0:
        count = active.sum()
        d_w += count * (qmap.lifted(u[:, None])[0] - rho0 * u[0] ** 2)
        d_kappa -= 0.5 * count * u**2
    m_le = mult.lam.size
    return value, -d_w[1:1 + m_le], -d_w[1 + m_le:], d_kappa


def _lp_multipliers(ir: IR, lp: LPSolution, m_le: int, m_eq: int) -> Multipliers | None:
    """The LP relaxation's multipliers, when its rows are exactly our linear rows.

    That holds when every product sits in a complementarity (networks): the LP is then
    the IR's linear rows, the complementarity hulls and the box, in the same order as
    :func:`build_lagrangian`, and the product equalities start at ``ν = 0``.
    """
    if ir.objective.products or not all(con.is_linear for con in ir.constraints):
        return None
    if lp.y_ub is None or lp.y_ub.size != m_le:
        return None
    products = sum(comp.size for comp in ir.complementarities)
    return Multipliers(np.maximum(lp.y_ub, 0.0), np.concatenate([lp.y_eq, np.zeros(products)]),
                       np.zeros(ir.n + 1))


def _initial(qmap: QuadMap, ir: IR, lp: LPSolution | None, m_le: int, m_eq: int) -> Multipliers:
    """Multipliers from the LP (where it applies) or zero, then ``κ`` making ``diag κ − M``
    diagonally dominant (Gershgorin), so the first bound is already valid and, from the LP,
    equal to the LP's."""
    mult = _lp_multipliers(ir, lp, m_le, m_eq) if lp is not None else None
    mult = mult or Multipliers(np.zeros(m_le), np.zeros(m_eq), np.zeros(qmap.n + 1))
    M = lagrangian_matrix(qmap, mult.weights())
    diagonal = M.diagonal()
    off_diagonal = abs(M) @ np.ones(M.shape[0]) - np.abs(diagonal)
    mult.kappa = np.maximum(diagonal + off_diagonal, 0.0)
    return mult


@dataclass(frozen=True)
class LagrangianRelaxation(Relaxation):
    """The IR's Lagrangian as matrix-free quadratic maps (row 0 is the objective)."""

    qmap: QuadMap
    m_le: int
    m_eq: int


def _adam(qmap: QuadMap, mult: Multipliers, clock: _Clock, iterations: int, lr: float, patience: int,
          dense: bool, check_every: int, verbose: bool) -> tuple[Multipliers, float, int]:
    """Projected Adam on ``f(λ, ν, κ)`` (the original SDP-FO); returns the last point, the best
    estimated dual value and the steps taken. Checkpoints go to ``clock``."""
    eigen = _Eigen(qmap, dense)
    rho0, _ = qmap.at_center()
    scale = max(float(np.mean(mult.kappa)), 1e-3)
    sizes = {"lam": mult.lam.size, "nu": mult.nu.size, "kappa": mult.kappa.size}
    opt = {key: Adam(size, lr * scale, eps=1e-12) for key, size in sizes.items()}
    best_estimate, stale, step = np.inf, 0, 0
    for step in range(iterations):
        value, d_lam, d_nu, d_kappa = _value_and_gradient(qmap, rho0, mult, eigen)
        if not np.isfinite(best_estimate) or value < best_estimate - 1e-6 * (1 + abs(best_estimate)):
            best_estimate, stale = value, 0
        else:
            stale += 1
        if stale >= patience or clock.expired():
            break
        decay = 1.0 - step / iterations
        mult.lam = np.maximum(mult.lam - opt["lam"].step(d_lam, decay), 0.0)
        mult.nu = mult.nu - opt["nu"].step(d_nu, decay)
        mult.kappa = np.maximum(mult.kappa - opt["kappa"].step(d_kappa, decay), 0.0)
        if (step + 1) % check_every == 0:
            clock.check(mult)
        if verbose and step % 100 == 0:
            print(f"sdp-fo step {step}: f ≈ {value:.6g}, best rigorous {clock.best_bound:.6g}")
    return mult, best_estimate, step + 1


def _low_rank(qmap: QuadMap, m_le: int, m_eq: int, start: Multipliers | None, point: np.ndarray | None,
              clock: _Clock, iterations: int, rank: int, tol: float, verbose: bool) -> tuple[Multipliers, float, int]:
    """Burer–Monteiro augmented Lagrangian; multipliers recovered from the factor, ``κ`` spread
    and certified at most a third of the time; a saddle point is left along the recovered
    dual's negative eigenvector.

    Stops when the best rigorous bound is within ``tol`` (relative) of the primal value, or
    after ``STALL`` checks in a row in which neither it nor the primal value moved by that.
    """
    solver = AugmentedLagrangian(qmap, m_le, m_eq, rank, point, start)
    primal, mult, step, spent, since, stalled = -np.inf, start, 0, 0.0, time.perf_counter(), 0
    previous = -np.inf
    for step in range(iterations):
        primal, violation = solver.step(deadline=None if clock.deadline is None else clock.deadline - spent)
        last = step == iterations - 1 or clock.expired()
        if time.perf_counter() - since >= 2.0 * spent or last:
            since = time.perf_counter()
            before = clock.best_bound
            mult = recover_multipliers(qmap, m_le, m_eq, solver.factor(), solver.multipliers(), solver.scale)
            if violation <= SADDLE:  # only a nearly feasible primal can be a saddle point
                lowest, direction = lowest_pair(qmap, mult)
                if lowest < -SADDLE * (1.0 + np.max(mult.kappa)):
                    solver.escape(direction)
            clock.check(spread_kappa(qmap, mult))
            spent = time.perf_counter() - since
            since = time.perf_counter()
            scale = tol * (1.0 + abs(clock.best_bound))
            steady = before - clock.best_bound < scale and abs(primal - previous) < scale
            stalled, previous = (stalled + 1 if steady else 0), primal
            if verbose:
                print(f"sdp-fo outer {step}: primal {primal:.6g}, violation {violation:.1e}, "
                      f"best rigorous {clock.best_bound:.6g}")
            if (clock.best_bound - primal <= scale and violation <= tol) or stalled >= STALL:
                break
        if last:
            break
    return mult, primal, step + 1


class _Clock:
    """Time limit and the any-time record: every checkpoint is certified and the best kept."""

    def __init__(self, qmap: QuadMap, time_limit: float | None):
        self.qmap, self.time_limit, self.start = qmap, time_limit, time.perf_counter()
        self.best_bound, self.best, self.trace = np.inf, None, []

    @property
    def deadline(self) -> float | None:
        return None if self.time_limit is None else self.start + self.time_limit

    def expired(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def check(self, mult: Multipliers) -> float:
        bound = certify_multipliers(self.qmap, mult)
        self.trace.append((time.perf_counter() - self.start, bound))
        if bound < self.best_bound:
            self.best_bound, self.best = bound, mult.copy()
        return bound


@register_backend("sdp-fo")
class SDPFO(Backend):
    """First-order SDP dual with an any-time rigorous bound."""

    name = "sdp-fo"

    def relax(self, ir: IR) -> LagrangianRelaxation:
        qmap, m_le, m_eq = build_lagrangian(ir)
        return LagrangianRelaxation(ir, self, qmap, m_le, m_eq)

    def solve(self, relaxation: LagrangianRelaxation, method: str = "low-rank", time_limit: float | None = 60.0,
              iterations: int | None = None, init: str = "lp", rank: int = 10, tol: float = 1e-4,
              lr: float = 0.1, patience: int = 500, eig: str = "auto", check_every: int | None = None,
              verbose: bool = False) -> Result:
        """Optimise the dual; report the best rigorously re-verified bound.

        Parameters
        ----------
        method
            ``"low-rank"`` (default): a Burer–Monteiro primal by augmented Lagrangian, its
            multipliers recovered by least squares and certified; ``"adam"``: projected Adam
            on the dual directly (the original SDP-FO).
        time_limit, iterations
            Stop after this many seconds or iterations (outer iterations for ``low-rank``,
            default 500; steps for ``adam``, default 2000).
        init
            ``"lp"``: start from the LP relaxation's multipliers and point where they apply,
            so the result is never worse than ``lp``, and report ``infeasible`` when the LP
            relaxation is proven empty (its verified Farkas certificate); ``"zero"``: from zero.
        rank, tol
            ``low-rank``: columns of the factor; it stops when the rigorous bound is within
            ``tol`` (relative) of the primal value, or when neither has moved by that in five
            checks in a row.
        lr, patience, eig, check_every
            ``adam``: step size relative to the multipliers' scale; steps without a 1e-6
            relative improvement before stopping; ``"dense"``, ``"iterative"`` (LOBPCG) or
            ``"auto"`` (dense up to 700 variables) eigenvalues; steps between rigorous checks
            (default 25 dense, 100 iterative).
        """
        if method not in ("low-rank", "adam") or eig not in ("auto", "dense", "iterative") \
                or init not in ("lp", "zero"):
            raise InputError(f"sdp-fo: method must be low-rank or adam, eig auto, dense or iterative, init lp or "
                             f"zero; got method={method!r}, eig={eig!r}, init={init!r}")
        if rank < 1:
            raise InputError(f"sdp-fo: rank must be at least 1; got {rank}")
        ir, qmap, m_le, m_eq = relaxation.ir, relaxation.qmap, relaxation.m_le, relaxation.m_eq
        clock = _Clock(qmap, time_limit)
        lp = solve_linear_model(build_linear_model(ir)) if init == "lp" else None
        if lp is not None and lp.status == Status.INFEASIBLE:
            return package(ir, self.name, Status.INFEASIBLE, -np.inf, message=lp.message, certificate=lp.certificate)
        mult = _initial(qmap, ir, lp, m_le, m_eq)
        clock.check(mult)
        point = None
        if lp is not None and lp.x is not None:
            middle, radius = 0.5 * (ir.lower + ir.upper), 0.5 * (ir.upper - ir.lower)
            point = (lp.x[:ir.n] - middle) / np.where(radius > 0, radius, 1.0)
        if method == "adam":
            dense = eig == "dense" or (eig == "auto" and qmap.n + 1 <= ADAM_DENSE_LIMIT)
            mult, estimate, steps = _adam(qmap, mult, clock, iterations or 2000, lr, patience, dense,
                                          check_every or (25 if dense else 100), verbose)
            clock.check(mult)
        else:
            mult, estimate, steps = _low_rank(qmap, m_le, m_eq, mult if lp is not None else None, point, clock,
                                              iterations or 500, rank, tol, verbose)
        status = Status.BOUND if np.isfinite(clock.best_bound) else Status.ERROR
        result = package(ir, self.name, status, clock.best_bound, solver_value=estimate,
                         message=f"{method}: {steps} iterations", certificate=clock.best)
        result.stats.update(method=method, iterations=steps, time=time.perf_counter() - clock.start,
                            trace=[(seconds, ir.user_value(bound)) for seconds, bound in clock.trace])
        return result
