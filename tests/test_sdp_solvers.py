"""Every SDP solver adapter is sound on random problems, also when stopped early, and agrees
with the others at convergence; the automatic choice and the memory guard."""

import numpy as np
import pytest
from conftest import random_net
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_backends import random_qcqp

import qcqp
from qcqp.backends.sdp_solvers import SDP_SOLVERS, choose_solver
from qcqp.backends.shor import build_shor
from qcqp.frontends.encode import encode_network
from qcqp.frontends.specs import linf_ball

SOLVERS = [name for name in SDP_SOLVERS.names() if SDP_SOLVERS.get(name).available()]
FAST = [name for name in SOLVERS if name != "cvxpy"]
STOPPED = {"clarabel": {"max_iter": 3}, "sdpa": {"maxIteration": 3}, "scs": {"max_iters": 20}, "ipm": {"max_iter": 3}}


def feasible_value(exact) -> float:
    """The value of exact's verified feasible point (a lower bound on the optimum), ``-inf`` if none."""
    return exact.value if exact.value is not None else -np.inf


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4), quadratic=st.booleans())
def test_every_solver_bound_is_above_the_exact_optimum(seed, n, quadratic):
    p, _, _ = random_qcqp(seed, n, quadratic)
    best = feasible_value(p.solve(backend="exact", time_limit=20))
    for solver in FAST:
        r = p.solve(backend="sdp", solver=solver)
        assert r.bound >= best - 1e-7 * (1 + abs(best)), (solver, r.bound, best)
        if r.value is not None:
            assert r.value <= r.bound + 1e-9


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4))
def test_stopped_solvers_still_give_valid_bounds(seed, n):
    p, _, _ = random_qcqp(seed, n, True)
    best = feasible_value(p.solve(backend="exact", time_limit=20))
    for solver in FAST:
        r = p.solve(backend="sdp", solver=solver, **STOPPED[solver])
        assert r.bound >= best - 1e-7 * (1 + abs(best)), (solver, r.bound, best)
        assert r.status in (qcqp.Status.BOUND, qcqp.Status.OPTIMAL, qcqp.Status.ERROR)


@pytest.mark.parametrize("solver", FAST)
def test_network_margin_agrees_across_solvers(solver):
    net = random_net([5, 8, 8, 3], 11)
    x0 = np.full(5, 0.5)
    enc = encode_network(net, linf_ball(x0, 0.2))
    c = np.array([1.0, -1.0, 0.0])
    reference = enc.solve("sdp", c, solver="clarabel", tol_gap_rel=1e-9, tol_gap_abs=1e-9)
    other = enc.solve("sdp", c, solver=solver)
    exact = enc.solve("exact", c)
    assert other.bound <= exact.bound + 1e-7  # a lower bound of the minimum margin
    tolerance = 1e-3 if solver == "scs" else 1e-5
    assert other.bound == pytest.approx(reference.bound, abs=tolerance * (1 + abs(reference.bound)))


def test_auto_prefers_a_schur_complement_method_on_network_margins():
    net = random_net([20, 16, 16, 3], 2)
    enc = encode_network(net, linf_ball(np.full(20, 0.5), 0.3))
    form = build_shor(enc.problem.with_objective(enc.objective(np.array([1.0, -1.0, 0.0]))).compile())
    expected = "sdpa" if SDP_SOLVERS.get("sdpa").available() else "clarabel"
    assert choose_solver(form) == expected


def test_auto_prefers_clarabel_when_rows_far_outnumber_the_matrix():
    rng = np.random.default_rng(0)
    p = qcqp.Problem()
    x = p.variable("x", 25, lower=0, upper=1)
    Q = rng.normal(size=(25, 25))
    p.maximize(x @ (Q + Q.T) @ x)  # every pair gets four lifted McCormick rows: m ~ 2 n²
    assert choose_solver(build_shor(p.compile())) == "clarabel"


def test_missing_solver_is_a_one_line_hint(monkeypatch):
    adapter = SDP_SOLVERS.get("sdpa")
    monkeypatch.setattr(type(adapter), "available", lambda self: False)
    p, _, _ = random_qcqp(1, 3, True)
    with pytest.raises(qcqp.InputError, match=r"pip install 'qcqp-relax\[sdpa\]'"):
        p.solve(backend="sdp", solver="sdpa")


def test_auto_prefers_clarabel_on_sparse_patterns():
    p = qcqp.Problem()
    x = p.variable("x", 40, lower=-1, upper=1)
    p.maximize(sum((1 - x[i] * x[(i + 1) % 40]) * 0.5 for i in range(40)))  # MaxCut on a cycle
    p.subject_to(x * x == 1)
    assert choose_solver(build_shor(p.compile())) == "clarabel"
