"""Optimised (α-CROWN / β-CROWN style) bounds: sound against samples and the exact MILP,
never looser than the CROWN bound they start from."""

from dataclasses import replace

import numpy as np
from conftest import random_net
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qcqp.frontends.bounds import crown_bounds, linear_objective_bound
from qcqp.frontends.encode import encode_network
from qcqp.frontends.optimized_bounds import alpha_crown_bounds, optimize, optimized_lower
from qcqp.frontends.specs import linf_ball


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), eps=st.floats(0.05, 0.6), leaky=st.booleans())
def test_optimised_bounds_lie_between_crown_and_the_exact_minimum(seed, eps, leaky):
    net = random_net([4, 8, 8, 6, 3], seed, scale=2.0)
    if leaky:
        net = replace(net, activations=("leaky_relu:0.1",) * 3)
    rng = np.random.default_rng(seed)
    box = linf_ball(rng.random(4), eps)
    x = rng.uniform(box.lower, box.upper, (400, 4))
    pre = alpha_crown_bounds(net, box.lower, box.upper)
    for (lo, hi), values in zip(pre, net.pre_activations(x)):
        assert np.all(values >= lo) and np.all(values <= hi)
    c = rng.normal(size=3)
    crown = linear_objective_bound(net, c, pre, box.lower, box.upper)
    optimised = float(optimized_lower(net, 3, c, pre[:3], box.lower, box.upper)[0])
    exact = encode_network(net, box, pre).linear_objective(c).solve(backend="exact")
    point = exact.point["x"]  # a feasible point: its margin is at least the true minimum
    tol = 1e-9 * (1 + abs(crown))
    assert crown - tol <= optimised <= float(net.forward(point[None, :])[0] @ c)
    assert optimised <= np.min(net.forward(x) @ c)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), side=st.sampled_from([1.0, -1.0]))
def test_split_multipliers_keep_the_bound_valid_on_the_split_domain(seed, side):
    """A domain ``side · ŷ_1[j] >= 0``: its bound (per-row intervals, β optimised) holds for
    every sample in the domain, and is never below the CROWN bound it starts from."""
    net = random_net([3, 6, 6, 2], seed, scale=2.0)
    rng = np.random.default_rng(seed)
    box = linf_ball(rng.random(3), 0.5)
    pre = crown_bounds(net, box.lower, box.upper)
    unstable = np.flatnonzero((pre[1][0] < 0) & (pre[1][1] > 0))
    if unstable.size == 0:
        return
    j = int(unstable[0])
    lo1, hi1 = pre[1][0].copy(), pre[1][1].copy()
    (lo1 if side > 0 else hi1)[j] = 0.0
    domain = [pre[0], (lo1[None, :], hi1[None, :])]
    split = np.zeros((1, 6))
    split[0, j] = side
    c = rng.normal(size=2)
    with_beta = optimized_lower(net, 2, c, domain, box.lower, box.upper, splits=[None, split], steps=40)[0]
    crown = linear_objective_bound(net, c, domain, box.lower, box.upper)
    x = rng.uniform(box.lower, box.upper, (4000, 3))
    inside = side * net.pre_activations(x)[1][:, j] >= 0
    assert with_beta >= crown - 1e-9 * (1 + abs(crown))
    if inside.any():
        assert with_beta <= np.min(net.forward(x[inside]) @ c)


def test_rows_of_nan_start_afresh():
    """A warm start's NaN rows are searched from CROWN's slopes, the others from their own."""
    net = random_net([3, 8, 8, 2], 7, scale=2.0)
    box = linf_ball(np.full(3, 0.5), 0.4)
    pre = crown_bounds(net, box.lower, box.upper)
    C = np.array([[1.0, -1.0], [-1.0, 1.0]])
    cold = optimize(net, 2, C, pre[:2], box.lower, box.upper, steps=10)
    warm = [np.vstack([np.full(a.shape[1], np.nan), a[1]]) for a in cold.alpha]
    mixed = optimize(net, 2, C, pre[:2], box.lower, box.upper, steps=10, alpha=warm)
    assert mixed.upper[0] == cold.upper[0]
    assert mixed.upper[1] <= cold.upper[1] + 1e-9 * (1 + abs(cold.upper[1]))
