"""Named variable blocks laid out in one global index space."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from qcqp.errors import InputError
from qcqp.expr import Affine


def _bound_array(value, size: int, name: str, which: str, default: float) -> np.ndarray:
    if value is None:
        return np.full(size, default)
    array = np.asarray(value, dtype=float)
    if np.any(np.isnan(array)):
        raise InputError(f"variable {name!r}: {which} bound contains NaN")
    try:
        return np.broadcast_to(array.reshape(-1) if array.ndim else array, (size,)).copy()
    except ValueError:
        raise InputError(
            f"variable {name!r}: {which} bound has {array.size} entries, expected {size}"
        ) from None


class Scope:
    """The variable index space of one :class:`~qcqp.problem.Problem` (shared by its copies)."""

    def __init__(self, variables: list[Variable]):
        self.variables = variables


class Variable(Affine):
    """A named block ``v[offset : offset + size]`` with elementwise bounds.

    A variable is an :class:`Affine` expression (the identity on its block), so it
    takes part in arithmetic directly.
    """

    def __init__(self, name: str, size: int, offset: int, lower=None, upper=None, scope: Scope | None = None):
        if not name or not isinstance(name, str):
            raise InputError("a variable needs a non-empty string name")
        if int(size) != size or size < 1:
            raise InputError(f"variable {name!r}: size must be a positive integer, got {size!r}")
        size = int(size)
        A = sp.csr_array((np.ones(size), (np.arange(size), offset + np.arange(size))),
                         shape=(size, offset + size))
        super().__init__(A, np.zeros(size), scope=scope)
        self.name = name
        self.offset = offset
        self.lower = _bound_array(lower, size, name, "lower", -np.inf)
        self.upper = _bound_array(upper, size, name, "upper", np.inf)
        bad = np.flatnonzero(self.lower > self.upper)
        if bad.size:
            raise InputError(f"variable {name!r}: lower > upper at index {bad[0]}")

    @property
    def indices(self) -> np.ndarray:
        """Global positions of this block in ``v``."""
        return self.offset + np.arange(self.size)

    def __repr__(self) -> str:
        return f"Variable({self.name!r}, size={self.size})"
