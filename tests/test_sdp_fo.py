"""sdp-fo's low-rank optimiser, its multiplier recovery, and the rigorous eigenvalue bounds behind it."""

import math

import networkx as nx
import numpy as np
import pytest
import scipy.linalg as la
import scipy.sparse as sp
from conftest import random_net
from exact_certificates import lagrangian_bound_holds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_backends import maxcut, random_qcqp

import qcqp
from qcqp.backends import fo_certificate
from qcqp.backends.lagrangian import build_lagrangian
from qcqp.backends.sdp_fo import certify_multipliers
from qcqp.frontends.encode import encode_network
from qcqp.frontends.specs import linf_ball
from qcqp.safe import gershgorin_lower, lambda_min_lower, lambda_min_lower_factored


def random_symmetric(seed: int, n: int, density: float) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    B = sp.random(n, n, density=density, random_state=rng) * rng.normal() * 10
    return sp.csr_array(B + B.T + sp.diags_array(rng.normal(size=n)))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 60), density=st.floats(0.02, 0.5),
       above=st.sampled_from([0.0, 1e-8, 1e-3, 1.0]))
def test_factored_lambda_min_is_rigorous_and_tight(seed, n, density, above):
    S = random_symmetric(seed, n, density)
    exact = la.eigvalsh(S.toarray())[0]
    scale = 1 + np.abs(S.toarray()).sum(axis=1).max()
    bound = lambda_min_lower_factored(S, exact + above * scale)
    assert bound <= exact  # whatever the estimate (a poor one falls back to Gershgorin)
    if above <= 1e-3:
        assert bound >= exact - 5e-3 * scale  # the shift grows 4× per failed factorisation
    if above <= 1e-8:
        assert bound >= exact - 1e-6 * scale
    assert gershgorin_lower(S) <= exact


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 60), density=st.floats(0.02, 0.5),
       low=st.sampled_from([1e-6, 1e-3, 1e-1]), high=st.sampled_from([-1e-3, 0.0, 1e-9, 1e-3]))
def test_refining_toward_the_estimate_stays_rigorous_and_only_tightens(seed, n, density, low, high):
    """Start ``low`` below λ_min, refine toward a ceiling ``high`` around it (an estimate may be off
    either way): never above λ_min, never below the unrefined bound."""
    S = random_symmetric(seed, n, density)
    exact = la.eigvalsh(S.toarray())[0]
    scale = 1 + np.abs(S.toarray()).sum(axis=1).max()
    plain = lambda_min_lower_factored(S, exact - low * scale)
    refined = lambda_min_lower_factored(S, exact - low * scale, ceiling=exact + high * scale, refine_seconds=math.inf)
    assert plain <= refined <= exact
    if high >= 0 and low <= 1e-3:
        assert refined >= exact - 1e-3 * scale


def test_factored_and_dense_bounds_agree():
    S = random_symmetric(7, 300, 0.05)
    dense = lambda_min_lower(S)
    factored = lambda_min_lower_factored(S, la.eigvalsh(S.toarray(), subset_by_index=[0, 0])[0])
    assert factored <= la.eigvalsh(S.toarray())[0]
    assert factored == pytest.approx(dense, abs=1e-7)


def network_problem(seed=3, sizes=(6, 12, 12, 3), eps=0.3):
    net = random_net(list(sizes), seed)
    box = linf_ball(np.random.default_rng(seed).random(sizes[0]), eps)
    return encode_network(net, box).linear_objective(np.array([1.0, -1.0, 0.0]))


def test_certificate_is_the_same_through_the_sparse_factorisation(monkeypatch):
    p = network_problem()
    result = p.solve(backend="sdp-fo")
    qmap, _, _ = build_lagrangian(p.compile())
    dense = certify_multipliers(qmap, result.certificate)
    monkeypatch.setattr(fo_certificate, "DENSE_LIMIT", 0)
    sparse = certify_multipliers(qmap, result.certificate)
    assert sparse == pytest.approx(dense, abs=1e-6)
    cert = result.certificate
    for bound in (dense, sparse):  # each proven by the multipliers in exact arithmetic
        assert lagrangian_bound_holds(qmap, cert.lam, cert.nu, cert.kappa, bound)
    # and a whole solve through the sparse path stays sound
    assert p.solve(backend="sdp-fo").bound <= p.solve(backend="sdp").solver_value + 1e-6


@pytest.mark.parametrize("sizes", [(6, 12, 12, 3), (8, 20, 20, 20, 3)])
def test_low_rank_reaches_the_shor_optimum(sizes):
    p = network_problem(sizes=sizes)
    shor = p.solve(backend="sdp", solver="ipm").solver_value
    fo = p.solve(backend="sdp-fo", tol=1e-6)
    assert fo.bound <= shor + 1e-7 * (1 + abs(shor))  # a lower bound of the minimum (ipm's value: ~1e-8)
    assert fo.bound >= shor - 1e-3 * (1 + abs(shor))
    seconds, bounds = zip(*fo.stats["trace"])  # the any-time record: the best checkpoint is reported
    assert fo.stats["method"] == "low-rank" and list(seconds) == sorted(seconds) and max(bounds) == fo.bound


def test_low_rank_is_exact_on_maxcut_and_adam_is_close():
    shor = 2.5 * (1 + np.cos(np.pi / 5))
    assert maxcut(nx.cycle_graph(5), "sdp-fo").bound == pytest.approx(shor, abs=1e-6)
    adam = maxcut(nx.cycle_graph(5), "sdp-fo", method="adam")
    assert shor - 1e-9 <= adam.bound <= shor * 1.01


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4), quadratic=st.booleans())
def test_adam_never_below_sdp(seed, n, quadratic):
    p, _, _ = random_qcqp(seed, n, quadratic)
    fo = p.solve(backend="sdp-fo", method="adam", iterations=300)
    sdp = p.solve(backend="sdp")
    if np.isfinite(sdp.bound):
        assert fo.bound >= sdp.solver_value - 1e-6 * (1 + abs(sdp.solver_value))


@pytest.mark.parametrize("method", ["low-rank", "adam"])
def test_time_limit_is_kept_and_the_bound_stays_valid(method):
    """A limit that has passed by the first check stops the solve there, whatever the machine's
    speed: one iteration, the LP start and one checkpoint certified (the unlimited solve takes
    many); the bound reported is still valid and never worse than the LP start."""
    p = network_problem(seed=5, sizes=(10, 40, 40, 40, 3), eps=0.5)
    quick = p.solve(backend="sdp-fo", method=method, time_limit=1e-9)
    assert quick.stats["iterations"] == 1 and len(quick.stats["trace"]) <= 3
    assert p.solve(backend="sdp-fo", method=method, iterations=50).stats["iterations"] > 1
    assert quick.bound <= p.solve(backend="sdp").solver_value + 1e-6
    assert quick.bound >= p.solve(backend="lp").bound - 1e-9  # never worse than its LP start


def test_reported_bound_is_proven_exactly_by_its_certificate():
    """Exact rational arithmetic confirms the reported bound from the multipliers alone, and
    the rounding charges it carries are small: 1e-6 less would not be proven."""
    p = network_problem()
    r = p.solve(backend="sdp-fo")
    ir = p.compile()
    qmap, _, _ = build_lagrangian(ir)
    cert, bound = r.certificate, ir.sign * r.bound  # the maximisation form the certificate speaks
    assert lagrangian_bound_holds(qmap, cert.lam, cert.nu, cert.kappa, bound)
    assert not lagrangian_bound_holds(qmap, cert.lam, cert.nu, cert.kappa, bound - 1e-6 * (1 + abs(bound)))


@pytest.mark.parametrize("options, message", [({"method": "newton"}, "method must be"),
                                              ({"rank": 0}, "rank must be at least 1")])
def test_bad_options_raise(options, message):
    with pytest.raises(qcqp.InputError, match=message):
        network_problem().solve(backend="sdp-fo", **options)

