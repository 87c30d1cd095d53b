"""What every backend returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class Status(StrEnum):
    """How a backend finished. Every status comes with a bound that is valid as computed."""

    OPTIMAL = "optimal"  # solver converged; bound is the corrected dual value
    BOUND = "bound"  # stopped early (time/iterations/inaccurate) with a valid, looser bound
    INFEASIBLE = "infeasible"  # solver reports the relaxation infeasible; bound is trivial
    ERROR = "error"  # solver failed; bound is trivial (±inf)


@dataclass
class Result:
    """Outcome of ``Problem.solve``.

    Attributes
    ----------
    bound
        Valid bound on the optimum in the user's sense: an upper bound for ``maximize``,
        a lower bound for ``minimize``. It holds in floating point (see docs/soundness.md).
    value
        Objective value at the best feasible point found, if any (checked by evaluation).
    point
        That point, by variable name.
    solver_value
        The solver's own optimal value of the relaxation (not a certificate).
    lifted
        The relaxation's lifted matrix ``P`` where a backend has one (``sdp``; ``lp``: its
        product columns in place of ``x̄x̄ᵀ``'s entries); read it by variable with
        :class:`~qcqp.lifting.LiftIndex`.
    relaxed
        The relaxation's own solution in the IR's variables (``lp``: the LP's point, ``sdp``:
        the first column of ``P``), feasible for the relaxation, not necessarily for the problem.
    """

    backend: str
    status: Status
    bound: float
    value: float | None = None
    point: dict[str, np.ndarray] | None = None
    solver_value: float | None = None
    message: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    certificate: Any = None
    lifted: np.ndarray | None = None
    relaxed: np.ndarray | None = None

    @property
    def gap(self) -> float:
        """``|bound − value|`` when a feasible point is known, else ``inf``."""
        return float("inf") if self.value is None else abs(self.bound - self.value)

    def __repr__(self) -> str:
        value = "None" if self.value is None else f"{self.value:.6g}"
        return (f"Result(backend={self.backend!r}, status={self.status.value}, "
                f"bound={self.bound:.6g}, value={value})")
