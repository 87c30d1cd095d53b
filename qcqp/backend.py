"""The backend protocol: ``relax(ir) -> Relaxation`` once, ``solve(relaxation, **options) -> Result`` many times.

A :class:`Relaxation` is the hand-off record between the two halves (in the spirit of
cvxpy's ``inverse_data`` and jax_verify's single verification instance): it keeps the IR it
came from and whatever the backend built from it (an LP model, a Shor form, a Lagrangian
map). :meth:`Relaxation.with_objective` swaps only the objective, so a margin certificate
builds its relaxation once per instance and solves it for every target.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qcqp.errors import InputError
from qcqp.expr import Quadratic
from qcqp.ir import IR
from qcqp.result import Result, Status


@dataclass(frozen=True)
class Relaxation:
    """An IR and what a backend built from it. Subclasses add their model and override
    :meth:`rebuild_objective` when they can swap the objective without rebuilding."""

    ir: IR
    backend: Backend

    def with_objective(self, objective: Quadratic, sense: str = "min") -> Relaxation:
        """The same relaxation with another objective (``sense`` ``"min"`` or ``"max"``)."""
        ir = self.ir.with_objective(objective, sense)
        return self.rebuild_objective(ir)

    def rebuild_objective(self, ir: IR) -> Relaxation:
        """Default: relax the new IR from scratch."""
        return self.backend.relax(ir)

    def solve(self, **options) -> Result:
        """Solve with the backend that built this relaxation (options checked first)."""
        self.backend.check_options(options)
        return self.backend.solve(self, **options)

    def bounds(self, objectives: list[Quadratic], sense: str = "min", deadline: float | None = None) -> np.ndarray:
        """Valid bounds (below for ``"min"``, above for ``"max"``) on many objectives over this
        relaxation, e.g. every neuron of a layer. Objectives left when ``time.perf_counter()``
        passes ``deadline`` get the trivial bound (``∓inf``)."""
        bound_of = self.bounder(deadline)
        out = np.full(len(objectives), -np.inf if sense == "min" else np.inf)
        for k, objective in enumerate(objectives):
            if deadline is not None and time.perf_counter() > deadline:
                break
            out[k] = bound_of(self.with_objective(objective, sense))
        return out

    def bounder(self, deadline: float | None = None) -> Callable[[Relaxation], float]:
        """What :meth:`bounds` calls on each objective's relaxation: one solve (an error gives
        the trivial bound), given the time left before ``deadline`` where the backend takes a
        time limit. Backends that re-solve a changed objective cheaply override this."""
        timed = deadline is not None and "time_limit" in self.backend.option_names()
        return lambda relaxation: relaxation.solve(**({"time_limit": time_left(deadline)} if timed else {})).bound


class Backend:
    """A relaxation family with its solver(s). Register instances with :func:`register_backend`.

    Subclasses implement :meth:`relax` (optional: the default keeps only the IR) and
    :meth:`solve`, whose keyword arguments are the backend's options.
    """

    name: str = ""
    lifts_products: bool = True  # False: products enter only through McCormick bounds on the box

    def relax(self, ir: IR) -> Relaxation:
        return Relaxation(ir, self)

    def solve(self, relaxation: Relaxation, **options) -> Result:
        raise NotImplementedError(f"backend {self.name!r} does not implement solve")

    def signature(self) -> Callable:
        """The function whose keyword parameters are this backend's options."""
        return self.solve

    def option_names(self) -> list[str]:
        """The named options (parameters of :meth:`solve` after the relaxation)."""
        return keyword_names(self.signature())[0]

    def takes_settings(self) -> bool:
        """Whether extra keywords are passed on (e.g. to a solver, which checks them)."""
        return keyword_names(self.signature())[1]

    def check_options(self, options: dict) -> None:
        """Raise :class:`InputError` for an unknown option, listing the valid ones."""
        valid = self.option_names()
        unknown = [key for key in options if key not in valid and not self.takes_settings()]
        if unknown:
            raise InputError(f"backend {self.name!r} has no option {unknown[0]!r}; "
                             f"valid options: {', '.join(valid) or '(none)'}")

    def run(self, ir: IR, **options) -> Result:
        """Relax and solve in one go (what :meth:`Problem.solve` does), timing both."""
        self.check_options(options)
        start = time.perf_counter()
        relaxation = self.relax(ir)
        built = time.perf_counter()
        result = self.solve(relaxation, **options)
        result.stats.setdefault("relax_time", built - start)
        result.stats.setdefault("solve_time", time.perf_counter() - built)
        return result


class FunctionBackend(Backend):
    """A plain ``solve(ir, **options) -> Result`` function used as a backend (plug-ins)."""

    def __init__(self, name: str, function: Callable[..., Result]):
        self.name, self.function = name, function

    def solve(self, relaxation: Relaxation, **options) -> Result:
        return self.function(relaxation.ir, **options)

    def signature(self) -> Callable:
        return self.function


MIN_SOLVE_TIME = 0.01  # seconds: what a solve gets when its deadline has (nearly) passed


def time_left(deadline: float | None) -> float | None:
    """Seconds from now to ``deadline`` (``time.perf_counter``), at least ``MIN_SOLVE_TIME``;
    ``None`` without a deadline."""
    return None if deadline is None else max(deadline - time.perf_counter(), MIN_SOLVE_TIME)


def keyword_names(function: Callable) -> tuple[list[str], bool]:
    """Names of the parameters after the first, and whether it also takes ``**kwargs``."""
    params = list(inspect.signature(function).parameters.values())[1:]
    named = [p.name for p in params if p.kind is not p.VAR_KEYWORD]
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def as_backend(name: str, obj: Any) -> Backend:
    """A :class:`Backend` instance from a Backend subclass, instance or plain function."""
    if isinstance(obj, Backend):
        return obj
    if isinstance(obj, type) and issubclass(obj, Backend):
        backend = obj()
        backend.name = backend.name or name
        return backend
    if callable(obj):
        return FunctionBackend(name, obj)
    raise InputError(f"backend {name!r}: expected a Backend or a solve(ir, **options) function")


def package(ir: IR, backend: str, status: Status, upper: float, point: np.ndarray | None = None,
            solver_value: float | None = None, tolerance: float = 1e-9, **fields) -> Result:
    """A :class:`Result` in the user's sense from a maximisation-form upper bound.

    ``point`` (a candidate in the IR's variable space) is kept only if it satisfies the IR
    within ``tolerance`` after clipping to the box; its objective is evaluated afresh.
    An infeasible status gets the bound ``−∞`` (maximisation form); an error ``+∞``.
    """
    if status == Status.INFEASIBLE:
        upper = -np.inf
    elif status == Status.ERROR or not np.isfinite(upper):
        status, upper = Status.ERROR, np.inf
    value = found = None
    if point is not None and status != Status.INFEASIBLE and np.all(np.isfinite(point[: ir.n])):
        v = np.clip(point[: ir.n], ir.lower, ir.upper)
        if ir.max_violation(v) <= tolerance:
            value, found = ir.user_value(ir.objective_value(v)), ir.split(v)
    return Result(backend, status, ir.user_value(upper), value=value, point=found,
                  solver_value=None if solver_value is None else ir.user_value(solver_value), **fields)


__all__ = ["Backend", "FunctionBackend", "Relaxation", "as_backend", "keyword_names", "package"]
