"""MaxCut values and soundness of every backend on random nonconvex problems."""

import math

import networkx as nx
import numpy as np
import pytest
from exact_certificates import lagrangian_bound_holds
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import qcqp
from qcqp.backends.fo_certificate import Multipliers
from qcqp.backends.lagrangian import build_lagrangian
from qcqp.backends.sdp_fo import certify_multipliers
from qcqp.backends.sdp_solvers import SDP_SOLVERS


def maxcut(graph, backend, **options):
    p = qcqp.Problem()
    x = p.variable("x", graph.number_of_nodes(), lower=-1, upper=1)
    p.maximize(sum((1 - x[i] * x[j]) * 0.5 for i, j in graph.edges()))
    p.subject_to(x * x == 1)
    return p.solve(backend=backend, **options)


SOLVERS = [name for name in SDP_SOLVERS.names() if SDP_SOLVERS.get(name).available()]


@pytest.mark.parametrize("solver", SOLVERS)
def test_maxcut_five_cycle(solver):
    shor = 2.5 * (1 + np.cos(np.pi / 5))
    r = maxcut(nx.cycle_graph(5), "sdp", solver=solver)
    assert r.bound == pytest.approx(shor, abs=1e-4)
    assert r.bound >= shor - 1e-9  # a valid upper bound never undercuts the SDP value
    e = maxcut(nx.cycle_graph(5), "exact")
    assert e.value == 4 and e.bound == pytest.approx(4, abs=1e-4)


def test_maxcut_petersen():
    g = nx.petersen_graph()
    assert maxcut(g, "sdp").bound == pytest.approx(12.5, abs=1e-4)
    assert maxcut(g, "exact").bound == pytest.approx(12, abs=1e-4)
    assert maxcut(g, "lp").bound >= 12.5 - 1e-6


def at_most(a, b, rel):
    """``a <= b`` up to a relative tolerance (infinite values compare exactly)."""
    return a <= b or (np.isfinite(b) and a <= b + rel * (1 + abs(b)))


def random_qcqp(seed, n, quadratic_constraint):
    rng = np.random.default_rng(seed)
    p = qcqp.Problem()
    lower = rng.uniform(-2, 0, n)
    x = p.variable("x", n, lower=lower, upper=lower + rng.uniform(0.2, 2.5, n))
    Q = rng.normal(size=(n, n))
    p.maximize(x @ Q @ x + rng.normal(size=n) @ x)
    if quadratic_constraint:
        p.subject_to(x[0] * x[1] - 0.5 * x[n - 1] * x[n - 1] <= 0.3)
        p.subject_to(rng.normal(size=n) @ x <= 1.0)
    return p, x, rng


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4), quadratic=st.booleans())
def test_bounds_sandwich_feasible_points(seed, n, quadratic):
    p, x, rng = random_qcqp(seed, n, quadratic)
    exact = p.solve(backend="exact", time_limit=math.inf)
    sdp, lp = p.solve(backend="sdp"), p.solve(backend="lp")
    assert at_most(exact.bound, sdp.bound, 1e-5)
    assert at_most(exact.bound, lp.bound, 1e-6)
    ir = p.compile()
    samples = rng.uniform(ir.lower, ir.upper, size=(400, ir.n))
    for v in samples:
        if ir.max_violation(v) == 0:
            value = ir.user_value(ir.objective_value(v))
            assert value <= min(exact.bound, sdp.bound, lp.bound) + 1e-9
    if exact.value is not None:
        assert exact.value <= min(sdp.bound, lp.bound) + 1e-9


@pytest.mark.parametrize("solver", SOLVERS)
def test_sdp_solvers_agree(solver):
    p, _, _ = random_qcqp(7, 4, True)
    reference, other = p.solve(backend="sdp", solver="clarabel"), p.solve(backend="sdp", solver=solver)
    assert other.bound == pytest.approx(reference.bound, rel=1e-4, abs=1e-6)
    assert other.stats["solver"] == solver


def test_complementarity_problem_uses_milp():
    p = qcqp.Problem()
    x = p.variable("x", 1, lower=-1, upper=1)
    z = p.variable("z", 1, lower=0, upper=1)
    p.subject_to(qcqp.complements(z, z - x))
    p.maximize(z - 0.5 * x)  # max of relu(x) - x/2 over [-1, 1] is 0.5 (at both ends)
    exact = p.solve(backend="exact")
    assert exact.stats["method"] == "milp"
    assert exact.bound == pytest.approx(0.5, abs=1e-5)
    assert p.solve(backend="lp").bound >= 0.5 - 1e-9
    assert p.solve(backend="sdp").bound >= 0.5 - 1e-9


def test_sdp_fo_maxcut_close_to_shor():
    r = maxcut(nx.cycle_graph(5), "sdp-fo")
    shor = 2.5 * (1 + np.cos(np.pi / 5))
    assert shor - 1e-9 <= r.bound <= shor * 1.01
    assert r.status == qcqp.Status.BOUND


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4), quadratic=st.booleans())
def test_sdp_fo_never_below_sdp(seed, n, quadratic):
    p, _, _ = random_qcqp(seed, n, quadratic)
    fo = p.solve(backend="sdp-fo", iterations=300)
    exact = p.solve(backend="exact", time_limit=math.inf)
    if exact.value is not None:  # a feasible value: the optimum is at least this
        assert fo.bound >= exact.value - 1e-9
    if np.isfinite(exact.bound):  # feasible: the SDP's optimum is a valid comparison
        sdp = p.solve(backend="sdp")
        assert fo.bound >= sdp.solver_value - 1e-6 * (1 + abs(sdp.solver_value))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4), quadratic=st.booleans(), shrink=st.floats(0, 1),
       noise=st.floats(0, 1))
def test_sdp_fo_certificates_prove_their_bounds_exactly(seed, n, quadratic, shrink, noise):
    """The optimiser's multipliers and perturbed ones (``κ`` shrunk: an indefinite matrix, a large
    eigenvalue charge) certify bounds that exact rational arithmetic confirms and that no
    feasible point of the exact search exceeds."""
    p, _, rng = random_qcqp(seed, n, quadratic)
    r = p.solve(backend="sdp-fo", iterations=200)
    assume(isinstance(r.certificate, Multipliers))  # not an LP infeasibility proof
    ir = p.compile()
    qmap, _, _ = build_lagrangian(ir)
    cert = r.certificate
    perturbed = Multipliers(cert.lam * (1 + noise * rng.random(cert.lam.size)),
                            cert.nu + noise * rng.normal(size=cert.nu.size), shrink * cert.kappa)
    optimum = p.solve(backend="exact", time_limit=math.inf)
    for mult, bound in [(cert, ir.sign * r.bound), (perturbed, certify_multipliers(qmap, perturbed))]:
        assert lagrangian_bound_holds(qmap, mult.lam, mult.nu, mult.kappa, bound)
        if optimum.value is not None:
            assert bound >= ir.sign * optimum.value - 1e-9


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4), quadratic=st.booleans())
def test_sdp_never_looser_than_lp(seed, n, quadratic):
    p, _, _ = random_qcqp(seed, n, quadratic)
    sdp, lp = p.solve(backend="sdp"), p.solve(backend="lp")
    if np.isfinite(lp.bound) and sdp.status == qcqp.Status.OPTIMAL:
        assert at_most(sdp.bound, lp.bound, 1e-5)
