"""Exact bounds on a box's linear pieces: rigorous, and equal to the exact minimum."""

import math

import numpy as np
from conftest import random_net
from hypothesis import given, settings
from hypothesis import strategies as st

from qcqp import Status
from qcqp.frontends.encode import encode_network
from qcqp.frontends.input_split import layer_bounds
from qcqp.frontends.linear_pieces import exact_combination, piece_bounds, unstable_neurons
from qcqp.frontends.specs import Box


def _box_bounds(net, lo, hi):
    return [(low[0], high[0]) for low, high in layer_bounds(net, lo[None, :], hi[None, :])]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10**6))
def test_a_single_atom_is_bounded_by_its_exact_minimum(seed):
    """Pieces enumerate every phase of the unstable neurons: the bound is the MILP's minimum,
    never above it, and the point returned where it is <= 0 reaches it."""
    rng = np.random.default_rng(seed)
    net = random_net([2, 4, 3, 2], seed)
    lo = rng.uniform(-1, 0, 2)
    hi = lo + rng.uniform(0.2, 1.0, 2)
    a = rng.normal(size=2)
    b = float(-np.median(net.forward(rng.uniform(lo, hi, (50, 2))) @ a))
    pre = _box_bounds(net, lo, hi)
    pieces = piece_bounds(net, (((a, b),),), pre, lo, hi)
    exact = encode_network(net, Box(lo, hi, 0.5 * (lo + hi))).solve("exact", a, b, time_limit=math.inf)
    assert exact.status == Status.OPTIMAL
    attained = float(net.forward(exact.point["x"]) @ a + b)  # the MILP's point, evaluated by the network
    assert exact.bound - 1e-6 <= pieces.bounds[0] <= attained
    if pieces.point is not None:
        assert pieces.bounds[0] <= 1e-9
        assert float(net.forward(pieces.point) @ a + b) <= 1e-7
    assert sum(idx.size for idx in unstable_neurons(net, pre)) <= 7


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10**6))
def test_a_conjunction_is_bounded_below_its_least_maximum(seed):
    """"Output 0 is the largest" (±1 atoms, combined exactly): the bound holds on a fine grid and
    is close to the grid's least maximum (the LP over each piece is exact)."""
    net = random_net([2, 4, 3, 3], seed)
    lo, hi = np.full(2, -0.5), np.full(2, 0.5)
    atoms = tuple((np.eye(3)[j] - np.eye(3)[0], 0.0) for j in (1, 2))  # y_j − y_0 <= 0: y_0 largest
    pieces = piece_bounds(net, (atoms,), _box_bounds(net, lo, hi), lo, hi)
    grid = np.stack(np.meshgrid(np.linspace(-0.5, 0.5, 301), np.linspace(-0.5, 0.5, 301)), -1).reshape(-1, 2)
    y = net.forward(grid)
    least = float(np.min(np.maximum(y[:, 1] - y[:, 0], y[:, 2] - y[:, 0])))
    assert pieces.bounds[0] <= least + 1e-12
    slope = max(float(np.max(np.abs(net.gradient(grid, np.tile(a, (len(grid), 1)))).sum(axis=1))) for a, _ in atoms)
    assert pieces.bounds[0] >= least - 2 * slope / 300 - 1e-9  # a grid point within 1/600 per input


def test_combinations_are_used_only_when_floating_point_is_exact():
    atoms = ((np.array([1.0, -1.0]), 0.0), (np.array([0.0, 1.0]), 0.5))
    a, b = exact_combination(np.array([0.25, 0.75]), atoms)
    assert np.array_equal(a, [0.25, 0.5]) and b == 0.375
    assert exact_combination(np.array([0.25, 0.75]), ((np.array([0.1]), 0.0), (np.array([0.3]), 0.0))) is None


def test_an_empty_piece_does_not_lower_the_bound():
    """y = relu(x) − relu(x − 1) on x ∈ [−1, 2]: pieces "x − 1 >= 0 and x <= 0" are empty; the
    minimum of y, 0 at x <= 0, is found exactly, not pulled down by the empty phase."""
    from qcqp.frontends.network import Network

    net = Network((np.array([[1.0], [1.0]]), np.array([[1.0, -1.0]])), (np.array([0.0, -1.0]), np.zeros(1)),
                  ("relu",))
    lo, hi = np.array([-1.0]), np.array([2.0])
    pieces = piece_bounds(net, (((np.array([1.0]), 0.25),),), _box_bounds(net, lo, hi), lo, hi)
    assert 0.25 - 1e-9 <= pieces.bounds[0] <= 0.25 and pieces.point is None


def test_pieces_past_their_deadline_bound_nothing():
    net = random_net([2, 4, 3, 2], 3)
    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    pieces = piece_bounds(net, (((np.array([1.0, 0.0]), 5.0),),), _box_bounds(net, lo, hi), lo, hi, deadline=0.0)
    assert pieces.bounds[0] == -np.inf and pieces.point is None
