"""Branch and bound on activation splits: never contradicts the exact MILP, and decides."""

import math
from dataclasses import replace

import numpy as np
import pytest
from conftest import random_net
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qcqp import InputError
from qcqp.frontends.encode import encode_network
from qcqp.frontends.optimized_bounds import alpha_crown_bounds
from qcqp.frontends.relu_split import split_search, supports
from qcqp.frontends.specs import linf_ball


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), shift=st.floats(-0.3, 0.3), leaky=st.booleans())
def test_split_search_agrees_with_the_exact_minimum(seed, shift, leaky):
    """``d`` puts the margin's true minimum at ``shift``: the search must prove it positive,
    or show an input where it is not, consistently with the MILP's optimum."""
    net = random_net([3, 10, 10, 2], seed, scale=2.0)
    if leaky:
        net = replace(net, activations=("leaky_relu:0.1",) * 2)
    rng = np.random.default_rng(seed)
    box = linf_ball(rng.random(3), 0.4)
    pre = alpha_crown_bounds(net, box.lower, box.upper)
    c = np.array([1.0, -1.0])
    exact = encode_network(net, box, pre).linear_objective(c).solve(backend="exact")
    best = float(net.forward(exact.point["x"][None, :])[0] @ c)  # the minimum, up to the MILP's gap
    d = shift - best
    search = split_search(net, c, d, pre, box.lower, box.upper, deadline=math.inf)
    assert search.bound <= best + d + 1e-9
    if search.status == "certified":
        assert search.bound > 0 and best + d > 0
    if search.status == "falsified":
        # the search's own float check; at shift 0 the true margin is 0 and rounding may differ by an ulp
        assert float(net.forward(search.counterexample[None, :])[0] @ c) + d <= 1e-12 * (1 + abs(d))
        assert np.all(search.counterexample >= box.lower) and np.all(search.counterexample <= box.upper)
    if abs(shift) > 0.05:
        assert search.status == ("certified" if shift > 0 else "falsified")


def test_split_search_refuses_activations_without_one_kink():
    net = replace(random_net([2, 4, 2], 0), activations=("hardtanh",))
    box = linf_ball(np.zeros(2), 0.1)
    assert not supports(net)
    with pytest.raises(InputError, match="kink"):
        split_search(net, np.array([1.0, -1.0]), 0.0, alpha_crown_bounds(net, box.lower, box.upper),
                     box.lower, box.upper, deadline=math.inf)
