"""Sparse affine and quadratic expressions over the global variable vector ``v``.

An :class:`Affine` is ``A v + a`` (``m`` rows). A :class:`Quadratic` is an affine part
plus factored elementwise products ``S (L v + l) ⊙ (R v + r)``: ``S`` sums or selects
product rows, so a network layer ``z ⊙ (z − W x)`` stays a pair of affine maps instead
of ``n²`` scalar terms. Comparison operators build :class:`~qcqp.constraints.Constraint`
objects, as in cvxpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING, Union

import numpy as np
import scipy.sparse as sp

from qcqp.errors import InputError

if TYPE_CHECKING:
    from qcqp.constraints import Constraint

Operand = Union["Affine", "Quadratic", float, np.ndarray]


def _csr(matrix) -> sp.csr_array:
    return sp.csr_array(matrix, dtype=float)


def widen_columns(M, width: int) -> sp.csr_array:
    """``M`` with zero columns appended up to ``width`` (variables created later, lifted columns)."""
    M = sp.csr_array(M)
    if M.shape[1] == width:
        return M
    return sp.csr_array((M.data, M.indices, M.indptr), shape=(M.shape[0], width))


def _constant_array(value, what: str) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(array)):
        raise InputError(f"{what} contains NaN or infinite values")
    return array


def _constant_matrix(value, what: str) -> np.ndarray | sp.csr_array:
    """A constant operand of ``@``: a scipy.sparse matrix stays sparse (convolutions), anything else
    becomes a float array."""
    if not sp.issparse(value):
        return _constant_array(value, what)
    matrix = sp.csr_array(value, dtype=float)
    if not np.all(np.isfinite(matrix.data)):
        raise InputError(f"{what} contains NaN or infinite values")
    return matrix


class Expression:
    """Common operator surface of affine and quadratic expressions.

    ``scope`` is the :class:`~qcqp.variables.Scope` (the variable space of one
    :class:`~qcqp.problem.Problem`) whose variables the expression uses, ``None`` for
    constants: column ``k`` means different variables in different problems, so combining
    two scopes raises instead of silently aliasing by index.
    """

    __array_ufunc__ = None  # make numpy defer ``W @ x`` and ``2 * x`` to us

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """A 0-d object array: how scipy.sparse learns to defer ``W @ x`` to :meth:`__rmatmul__`."""
        wrapped = np.empty((), dtype=object)
        wrapped[()] = self
        return wrapped
    __hash__ = None  # type: ignore[assignment]

    size: int
    scope: object | None

    def columns(self) -> np.ndarray:
        """Indices of the variables this expression depends on."""
        raise NotImplementedError

    def variable_names(self) -> list[str]:
        """Names of the scope's variable blocks this expression uses."""
        used = set(self.columns().tolist())
        return [var.name for var in getattr(self.scope, "variables", ())
                if used.intersection(range(var.offset, var.offset + var.size))]

    @property
    def shape(self) -> tuple[int, ...]:
        return () if getattr(self, "_scalar", False) else (self.size,)

    def __len__(self) -> int:
        return self.size

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other: Operand):
        return self + (-as_expression(other))

    def __rsub__(self, other: Operand):
        return as_expression(other) + (-self)

    def __radd__(self, other: Operand):
        return self + other

    def __rmul__(self, other: Operand):
        return self * other

    def __pow__(self, power):
        raise TypeError("only an affine expression can be squared (x**2); a quadratic's square has degree 4")

    def __truediv__(self, other: Operand):
        if isinstance(other, Expression):
            raise TypeError("division by an expression is not quadratic")
        divisor = _constant_array(other, "divisor")
        if np.any(divisor == 0):
            raise InputError("division by zero")
        return self * (1.0 / divisor)

    def __le__(self, other: Operand) -> Constraint:
        from qcqp.constraints import Constraint

        return Constraint(self - other, "<=")

    def __ge__(self, other: Operand) -> Constraint:
        from qcqp.constraints import Constraint

        return Constraint(as_expression(other) - self, "<=")

    def __eq__(self, other: Operand) -> Constraint:  # type: ignore[override]
        from qcqp.constraints import Constraint

        return Constraint(self - other, "==")


class Affine(Expression):
    """``A v + a``: ``A`` is sparse ``(m, n)``, ``a`` has length ``m``."""

    def __init__(self, A, a, scalar: bool = False, scope: object | None = None):
        self.A = _csr(A)
        self.a = np.asarray(a, dtype=float).reshape(-1)
        if self.A.shape[0] != self.a.size:
            raise InputError(f"affine map has {self.A.shape[0]} rows but offset has {self.a.size}")
        self._scalar = scalar and self.a.size == 1
        self.scope = scope

    def columns(self) -> np.ndarray:
        return np.unique(self.A.indices)

    @classmethod
    def constant(cls, value) -> Affine:
        array = _constant_array(value, "constant")
        flat = array.reshape(-1)
        return cls(sp.csr_array((flat.size, 0)), flat, scalar=array.ndim == 0)

    @property
    def size(self) -> int:
        return self.a.size

    @property
    def n(self) -> int:
        return self.A.shape[1]

    def padded(self, n: int) -> Affine:
        return Affine(widen_columns(self.A, n), self.a, self._scalar, self.scope)

    def evaluate(self, v: np.ndarray) -> np.ndarray:
        return self.A @ v[: self.n] + self.a

    def sum(self) -> Affine:
        ones = sp.csr_array(np.ones((1, self.size)))
        return Affine(ones @ self.A, [self.a.sum()], scalar=True, scope=self.scope)

    def __getitem__(self, index) -> Affine:
        rows = np.arange(self.size)[index]
        scalar = np.ndim(rows) == 0
        rows = np.atleast_1d(rows)
        return Affine(self.A[rows], self.a[rows], scalar=scalar, scope=self.scope)

    def __add__(self, other: Operand):
        other = as_expression(other)
        if isinstance(other, Quadratic):
            return other + self
        m = _broadcast_size(self, other, "+")
        n = max(self.n, other.n)
        left, right = self._broadcast(m).padded(n), other._broadcast(m).padded(n)
        return Affine(left.A + right.A, left.a + right.a, scalar=self._scalar and other._scalar,
                      scope=joint_scope(self, other))

    def __mul__(self, other: Operand):
        if isinstance(other, Expression):
            return Quadratic.product(self, as_expression(other))
        factor = _constant_array(other, "coefficient")
        if factor.ndim == 0:
            return Affine(self.A * float(factor), self.a * float(factor), self._scalar, self.scope)
        factor = factor.reshape(-1)
        m = _broadcast_size(self, Affine.constant(factor), "*")
        base = self._broadcast(m)
        D = sp.diags_array(np.broadcast_to(factor, (m,)))
        return Affine(D @ base.A, base.a * factor, scope=self.scope)

    def __pow__(self, power) -> Quadratic:
        if not (isinstance(power, Real) and power == 2):
            raise TypeError(f"only the square (**2) of an expression is quadratic, got **{power!r}")
        return self * self

    def __matmul__(self, other: Operand):
        if isinstance(other, Expression):
            other = as_expression(other)
            if self.size != other.size:
                raise InputError(f"cannot take the dot product of sizes {self.size} and {other.size}")
            return (self * other).sum()
        matrix = _constant_matrix(other, "matrix")
        if matrix.shape[0] != self.size:
            raise InputError(f"shapes ({self.size},) and {matrix.shape} are not aligned for @")
        if matrix.ndim == 1:
            return Affine(sp.csr_array(matrix[None, :]) @ self.A, [matrix @ self.a], scalar=True, scope=self.scope)
        return _left_multiply(matrix.T, self)

    def __rmatmul__(self, other: Operand):
        matrix = _constant_matrix(other, "matrix")
        if matrix.shape[-1] != self.size:
            raise InputError(f"shapes {matrix.shape} and ({self.size},) are not aligned for @")
        if matrix.ndim == 1:
            return self.__matmul__(matrix)
        return _left_multiply(matrix, self)

    def _broadcast(self, m: int) -> Affine:
        if self.size == m:
            return self
        rows = np.zeros(m, dtype=int)
        return Affine(self.A[rows], self.a[rows], scope=self.scope)

    def __repr__(self) -> str:
        return f"Affine(size={self.size}, nnz={self.A.nnz})"


@dataclass(frozen=True)
class Product:
    """Rows ``S (L v + l) ⊙ (R v + r)`` of a quadratic expression."""

    S: sp.csr_array
    left: Affine
    right: Affine

    def padded(self, n: int) -> Product:
        return Product(self.S, self.left.padded(n), self.right.padded(n))


class Quadratic(Expression):
    """Affine part plus a tuple of factored :class:`Product` terms, all with ``m`` rows."""

    def __init__(self, affine: Affine, products: tuple[Product, ...] = ()):
        self.affine = affine
        self.products = tuple(products)
        self._scalar = affine._scalar
        self.scope = joint_scope(affine, *(side for t in self.products for side in (t.left, t.right)))

    def columns(self) -> np.ndarray:
        parts = [self.affine.columns()] + [side.columns() for t in self.products for side in (t.left, t.right)]
        return np.unique(np.concatenate(parts))

    @classmethod
    def product(cls, left: Affine, right: Expression) -> Quadratic:
        if not isinstance(right, Affine):
            raise TypeError("the product of a quadratic with an expression is not quadratic")
        m = _broadcast_size(left, right, "*")
        scalar = left._scalar and right._scalar
        left, right = left._broadcast(m), right._broadcast(m)
        zero = Affine(sp.csr_array((m, 0)), np.zeros(m), scalar=scalar, scope=joint_scope(left, right))
        return cls(zero, (Product(sp.eye_array(m, format="csr"), left, right),))

    @property
    def size(self) -> int:
        return self.affine.size

    @property
    def n(self) -> int:
        return max([self.affine.n] + [max(t.left.n, t.right.n) for t in self.products])

    def padded(self, n: int) -> Quadratic:
        return Quadratic(self.affine.padded(n), tuple(t.padded(n) for t in self.products))

    def evaluate(self, v: np.ndarray) -> np.ndarray:
        value = self.affine.evaluate(v)
        for term in self.products:
            value = value + term.S @ (term.left.evaluate(v) * term.right.evaluate(v))
        return value

    def _map_rows(self, M: sp.csr_array, scalar: bool) -> Quadratic:
        affine = Affine(M @ self.affine.A, M @ self.affine.a, scalar=scalar, scope=self.affine.scope)
        return Quadratic(affine, tuple(Product(M @ t.S, t.left, t.right) for t in self.products))

    def sum(self) -> Quadratic:
        return self._map_rows(sp.csr_array(np.ones((1, self.size))), scalar=True)

    def __getitem__(self, index) -> Quadratic:
        rows = np.arange(self.size)[index]
        scalar = np.ndim(rows) == 0
        rows = np.atleast_1d(rows)
        return self._map_rows(sp.eye_array(self.size, format="csr")[rows], scalar)

    def __add__(self, other: Operand) -> Quadratic:
        other = as_expression(other)
        joint_scope(self, other)
        m = _broadcast_size(self, other, "+")
        other_q = other if isinstance(other, Quadratic) else Quadratic(other)
        left, right = self._broadcast(m), other_q._broadcast(m)
        return Quadratic(left.affine + right.affine, left.products + right.products)

    def __mul__(self, other: Operand) -> Quadratic:
        if isinstance(other, Expression):
            raise TypeError("the product of a quadratic with an expression is not quadratic")
        factor = _constant_array(other, "coefficient")
        m = _broadcast_size(self, Affine.constant(factor), "*")
        base = self._broadcast(m)
        return base._map_rows(sp.diags_array(np.broadcast_to(factor.reshape(-1), (m,))).tocsr(),
                              scalar=self._scalar and factor.ndim == 0)

    def __rmatmul__(self, other: Operand) -> Quadratic:
        matrix = _constant_matrix(other, "matrix")
        if matrix.ndim != 2 or matrix.shape[1] != self.size:
            raise InputError(f"shapes {matrix.shape} and ({self.size},) are not aligned for @")
        return self._map_rows(_csr(matrix), scalar=False)

    def __matmul__(self, other: Operand) -> Quadratic:
        if isinstance(other, Expression):
            raise TypeError("the product of a quadratic with an expression is not quadratic")
        vector = _constant_array(other, "vector")
        if vector.shape != (self.size,):
            raise InputError(f"shapes ({self.size},) and {vector.shape} are not aligned for @")
        return self._map_rows(_csr(vector[None, :]), scalar=True)

    def _broadcast(self, m: int) -> Quadratic:
        if self.size == m:
            return self
        return self._map_rows(_csr(np.ones((m, 1))), scalar=False)

    def __repr__(self) -> str:
        return f"Quadratic(size={self.size}, products={len(self.products)})"


def _left_multiply(matrix: np.ndarray, expr: Affine) -> Affine:
    M = _csr(matrix)
    return Affine(M @ expr.A, matrix @ expr.a, scope=expr.scope)


def joint_scope(*exprs: Expression) -> object | None:
    """The one Problem that the variables of ``exprs`` belong to (``None``: constants only)."""
    owners = [e for e in exprs if e.scope is not None]
    for other in owners[1:]:
        if other.scope is not owners[0].scope:
            mine, theirs = owners[0].variable_names(), other.variable_names()
            raise InputError(f"cannot combine variables of two Problems: {', '.join(map(repr, mine))} and "
                             f"{', '.join(map(repr, theirs))} were created by different Problem objects")
    return owners[0].scope if owners else None


def _broadcast_size(left: Expression, right: Expression, op: str) -> int:
    if left.size == right.size:
        return left.size
    if left.size == 1:
        return right.size
    if right.size == 1:
        return left.size
    raise InputError(f"shapes ({left.size},) and ({right.size},) do not match for {op}")


def sum_squares(expr: Operand) -> Quadratic:
    """``Σ_i expr_i²`` (as in cvxpy), a scalar quadratic."""
    expr = as_expression(expr)
    if not isinstance(expr, Affine):
        raise TypeError("sum_squares needs an affine expression")
    return (expr * expr).sum()


def vstack(parts: list[Affine]) -> Affine:
    """Stack affine expressions row-wise (padded to a common number of variables)."""
    n = max(part.n for part in parts)
    return Affine(sp.vstack([part.padded(n).A for part in parts], format="csr"),
                  np.concatenate([part.a for part in parts]), scope=joint_scope(*parts))


def as_expression(value: Operand) -> Affine | Quadratic:
    """Wrap numbers and arrays as constant :class:`Affine` expressions."""
    if isinstance(value, (Affine, Quadratic)):
        return value
    if isinstance(value, (Real, np.ndarray, list, tuple, np.generic)):
        return Affine.constant(value)
    raise TypeError(f"cannot use {type(value).__name__} in a qcqp expression")
