"""Adapters that take the project's own Shor form (never a cvxpy canonicalisation) to an SDP solver.

Every adapter returns multipliers ``(t, y, μ)`` of the dual LMI and, where it has one, the
lifted matrix ``P``; the ``sdp`` backend rebuilds the bound from the multipliers rigorously,
so a low-accuracy or stopped solver still gives a valid bound. Adapters register in
:data:`SDP_SOLVERS` (entry-point group ``qcqp.sdp_solvers`` for third parties); the built-in
ones are imported on the registry's first use, so importing a backend loads none of them. Which
solver ``auto`` picks: :mod:`qcqp.backends.sdp_solvers.auto`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qcqp import Registry, Status
from qcqp.backends.shor import ShorForm


@dataclass
class DualSolution:
    """What an adapter returns. ``status`` follows the adapter's status map:
    ``INFEASIBLE`` means the solver *claims* the relaxation is infeasible (unproven)."""

    status: Status
    t: float
    y: np.ndarray
    mu: np.ndarray
    P: np.ndarray | None = None
    info: dict = field(default_factory=dict)


class SdpSolver:
    """Interface of an adapter: ``available()`` and ``solve(form, ...) -> DualSolution``."""

    name: str = ""
    module: str = ""  # the Python module it needs
    extra: str = ""  # the pip extra that installs it

    def available(self) -> bool:
        from importlib.util import find_spec

        return find_spec(self.module) is not None

    def memory_bytes(self, form: ShorForm) -> float:
        """Rough peak memory of a solve (dense ``N × N`` iterates and the row data)."""
        return 8.0 * (12 * form.dim**2 + 3 * (form.E.nnz + form.G.nnz))

    def solve(self, form: ShorForm, time_limit: float | None, verbose: bool, settings: dict) -> DualSolution:
        raise NotImplementedError


def _instance(name: str, adapter):
    return adapter() if isinstance(adapter, type) else adapter


BUILTINS = tuple(f"qcqp.backends.sdp_solvers.{name}" for name in ("clarabel", "cvxpy_primal", "ipm", "scs", "sdpa"))
SDP_SOLVERS = Registry("SDP solver", "qcqp.sdp_solvers", adapt=_instance, builtins=BUILTINS)  # loaded on first use


def register_sdp_solver(name: str):
    """Decorator registering an :class:`SdpSolver` subclass under ``name``."""
    return SDP_SOLVERS.register(name)
