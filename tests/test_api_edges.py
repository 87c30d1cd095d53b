"""Wrong answers at the API edges: variables of another Problem, infeasible problems, unknown options."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import qcqp
from qcqp import InputError, Status
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


BACKENDS = ["lp", "sdp", "sdp-fo", "exact"]


def _infeasible(kind: str, seed: int):
    """Problems whose infeasibility some relaxation can see (each backend must prove it)."""
    rng = np.random.default_rng(seed)
    n = 3
    p = qcqp.Problem()
    x = p.variable("x", n, lower=-1, upper=1)
    a = rng.normal(size=n)
    p.minimize(x @ rng.normal(size=n) + x[0] * x[1])
    if kind == "linear":  # a·x >= ‖a‖₁ + margin is out of the box
        p.subject_to(a @ x >= np.abs(a).sum() + 0.1 + rng.uniform())
    elif kind == "quadratic":  # a sum of squares below zero
        p.subject_to(x[0] * x[0] + x[1] * x[1] <= -0.5 * rng.uniform(0.2, 1))
    else:  # complementarity: z = relu(x0) forced above the pre-activation's upper bound
        z = p.variable("z", 1, lower=0, upper=1)
        p.subject_to(qcqp.complements(z, z - x[0]), z >= 1.5)
    return p


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["linear", "quadratic", "relu"]), st.integers(0, 10**6))
def test_infeasible_problems_are_proven_infeasible_by_every_backend(kind, seed):
    p = _infeasible(kind, seed)
    for backend in BACKENDS:
        options = {"iterations": 50} if backend == "sdp-fo" else {}
        r = p.solve(backend, **options)
        assert r.status == Status.INFEASIBLE, (backend, r, r.message)
        assert r.bound == np.inf  # minimisation: the empty set's lower bound
        assert r.certificate is not None and r.value is None


def test_lp_farkas_certificate_reverifies():
    """The ray proves the rows empty in exact arithmetic, and the reported ``max 0`` bound is at
    least the exact maximum over the box of the combined rows (which is negative)."""
    from exact_certificates import farkas_max

    from qcqp.backends.lp import LP

    p = _infeasible("linear", 3)
    relaxation = LP().relax(p.compile())
    r = relaxation.solve()
    ray, m = r.certificate["farkas"], relaxation.model
    exact = farkas_max(m, ray["y_ub"], ray["y_eq"])
    assert exact < 0 and r.certificate["max_zero_upper"] >= exact


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 4))
@example(1371, 2)  # sdp-fo: eigenvalues of -1e-300 once made spread_kappa's scaling overflow
def test_feasible_problems_are_never_called_infeasible(seed, n):
    """Constraints built to hold at a random point x0: no backend may claim infeasibility."""
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1, 1, n)
    p = qcqp.Problem()
    x = p.variable("x", n, lower=-1, upper=1)
    a, Q = rng.normal(size=n), rng.normal(size=(n, n))
    p.minimize(x @ Q @ x)
    p.subject_to(a @ x >= a @ x0, x[0] * x[1] <= x0[0] * x0[1], x[0] * x[0] >= x0[0] ** 2 - 1e-9)
    for backend in BACKENDS:
        r = p.solve(backend, **({"iterations": 50} if backend == "sdp-fo" else {}))
        assert r.status != Status.INFEASIBLE, backend
        assert r.bound <= x0 @ Q @ x0 + 1e-7, backend


def test_unknown_options_raise_listing_valid_ones():
    p = qcqp.Problem()
    x = p.variable("x", 2, lower=-1, upper=1)
    p.minimize(x[0] * x[1])
    for backend, valid in [("lp", "time_limit"), ("exact", "node_limit"), ("sdp-fo", "iterations")]:
        with pytest.raises(InputError, match=f"no option 'foo'.*{valid}"):
            p.solve(backend, foo=1)
    with pytest.raises(InputError, match="unknown SDP solver 'nope'; available: .*clarabel"):
        p.solve("sdp", solver="nope")
    with pytest.raises(InputError, match="Clarabel setting 'foo'"):
        p.solve("sdp", solver="clarabel", foo=1)


@pytest.mark.parametrize("backend", ["lp", "sdp", "sdp-fo", "exact"])
def test_builtin_backends_pass_the_conformance_checks(backend):
    from qcqp.testing import check_backend

    check_backend(backend, options={"iterations": 300} if backend == "sdp-fo" else None)


def test_conformance_check_catches_an_unsound_backend():
    from qcqp.testing import check_backend

    @qcqp.register_backend("too-optimistic")
    def optimistic(ir, time_limit: float = 1.0):
        return qcqp.Result("too-optimistic", Status.OPTIMAL, ir.user_value(-1e9))

    try:
        with pytest.raises(AssertionError, match="not above the optimum"):
            check_backend("too-optimistic", linear_only=True)
    finally:
        qcqp.BACKENDS.unregister("too-optimistic")


def test_certify_reports_an_empty_input_set_as_certified_with_the_reason():
    """A backend that proves the encoding infeasible certifies vacuously, and says why."""
    from conftest import random_net

    from qcqp.app.certify import Options, analyse
    from qcqp.frontends.specs import Specification, linf_ball

    @qcqp.register_backend("empty-proof")
    def empty_proof(ir, time_limit: float = 1.0):
        return qcqp.Result("empty-proof", Status.INFEASIBLE, ir.user_value(-np.inf), message="test proof",
                           certificate={"farkas": "stand-in"})

    try:
        net = random_net([3, 4, 3], 1)
        x0 = np.full(3, 0.5)
        a = np.array([1.0, -1.0, 0.0])
        spec = Specification(linf_ball(x0, 0.5), (((a, 1e-3 - a @ net.forward(x0)),),))
        # the atom is 1e-3 > 0 at the centre, the only point the attack evaluates without steps
        # or restarts, and CROWN cannot prove it on the whole unit box: the backend decides
        row = analyse(net, spec, ["empty-proof"], Options(pgd_steps=0, pgd_restarts=0))["empty-proof"]
        assert row["status"] == "certified" and "empty input set" in row["reason"]
        assert row["margin_bound"] > 0
    finally:
        qcqp.BACKENDS.unregister("empty-proof")
