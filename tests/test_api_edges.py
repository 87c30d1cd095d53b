"""Wrong answers at the API edges: variables of another Problem, infeasible problems, unknown options."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import qcqp
from qcqp import InputError
from qcqp.expr import sum_squares

BUILDERS = [  # ways to turn a variable into an expression of its problem
    lambda v: v[0],
    lambda v: v * 2.0 + 1.0,
    lambda v: v[0] * v[1],
    lambda v: v @ np.ones(2),
    lambda v: (v * v).sum(),
    lambda v: np.array([[1.0, 2.0], [0.0, 1.0]]) @ v,
]


def _two_problems():
    p, q = qcqp.Problem(), qcqp.Problem()
    return p, p.variable("y", 2, lower=-1, upper=1), q, q.variable("z", 2, lower=-1, upper=1)


@given(st.sampled_from(BUILDERS), st.sampled_from(BUILDERS), st.sampled_from(["+", "-", "*", "<=", "=="]))
def test_combining_variables_of_two_problems_raises(build_mine, build_theirs, op):
    _, y, q, z = _two_problems()
    mine, theirs = build_mine(z), build_theirs(y)
    if op == "*" and not (isinstance(mine, qcqp.Affine) and isinstance(theirs, qcqp.Affine)):
        return  # not quadratic anyway (TypeError)
    with pytest.raises(InputError, match="'y'"):
        {"+": lambda: mine + theirs, "-": lambda: mine - theirs, "*": lambda: mine * theirs,
         "<=": lambda: mine <= theirs, "==": lambda: mine == theirs}[op]()


@given(st.sampled_from(BUILDERS))
def test_foreign_objective_and_constraint_raise(build):
    _, y, q, _ = _two_problems()
    with pytest.raises(InputError, match="'y' of another Problem"):
        q.minimize(build(y).sum() if build(y).size > 1 else build(y))
    with pytest.raises(InputError, match="'y' of another Problem"):
        q.subject_to(build(y) >= 0.5)


def test_issue_example_is_rejected_not_zero():
    _, y, q, z = _two_problems()
    with pytest.raises(InputError):
        q.minimize(z[0] - y[0])
    q.minimize(z[0] - z[1])  # the same problem written correctly: true value −2
    assert q.solve("lp").bound <= -2 + 1e-6


def test_square_and_sum_squares():
    p = qcqp.Problem()
    x = p.variable("x", 2, lower=-1, upper=1)
    p.maximize(x[0] ** 2 + sum_squares(x))
    assert p.solve("exact").bound == pytest.approx(3.0, abs=1e-5)
    with pytest.raises(TypeError, match=r"\*\*2"):
        x[0] ** 3
    with pytest.raises(TypeError, match="degree 4"):
        (x[0] * x[1]) ** 2
