"""Floating-point soundness near the decision boundary and invariance to variable order."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qcqp
from qcqp.app.certify import Options, analyse
from qcqp.frontends.network import Network
from qcqp.frontends.specs import Box, margin_spec


def boundary_net(delta: float, seed: int):
    """A net whose smallest margin over the box is ``delta`` up to rounding of the data.

    The hidden ReLUs are always active on the box (``b0`` large), so the margin is affine
    and its exact minimum is computed in rational arithmetic from the float data.
    """
    rng = np.random.default_rng(seed)
    W0 = rng.normal(size=(4, 3))
    b0 = np.full(4, 50.0)
    W1 = rng.normal(size=(2, 4))
    lower, upper = np.zeros(3), np.full(3, 0.5)
    w = (W1[0] - W1[1]) @ W0  # margin gradient (affine margin)
    corner = np.where(w > 0, lower, upper)
    shift = delta - ((W1[0] - W1[1]) @ (W0 @ corner + b0))
    b1 = np.array([shift, 0.0])
    net = Network((W0, W1), (b0, b1), ("relu",))

    def exact(x):  # the margin at x in exact rational arithmetic on the float data
        h = [sum(Fraction(W0[i, j]) * Fraction(x[j]) for j in range(3)) + Fraction(b0[i]) for i in range(4)]
        h = [max(v, Fraction(0)) for v in h]
        logits = [sum(Fraction(W1[k, i]) * h[i] for i in range(4)) + Fraction(b1[k]) for k in range(2)]
        return logits[0] - logits[1]

    return net, Box(lower, upper, 0.5 * (lower + upper)), exact(corner)


@pytest.mark.parametrize("delta", [1e-7, 1e-9, -1e-9, -1e-7, 0.0])
@pytest.mark.parametrize("seed", range(3))
def test_nothing_certified_wrongly_near_the_boundary(delta, seed):
    net, box, true_min = boundary_net(delta, seed)
    inst = margin_spec(box, 0, 2)
    rows = analyse(net, inst, ["pgd", "lp", "sdp", "sdp-fo", "exact"], Options(pgd_steps=20, pgd_restarts=2))
    for method, row in rows.items():
        assert Fraction(row["margin_bound"]) <= true_min, (method, row["margin_bound"], float(true_min))
        if row["status"] == "certified":
            assert true_min > 0, method
        if row["status"] == "falsified":
            assert true_min <= 0, method


def random_problem(seed: int, order: list[int]):
    rng = np.random.default_rng(seed)
    lows = rng.uniform(-2, 0, 3)
    highs = lows + rng.uniform(0.5, 2, 3)
    Q = rng.normal(size=(3, 3))
    a = rng.normal(size=3)
    p = qcqp.Problem()
    made = {}
    for k in order:
        made[k] = p.variable(f"v{k}", 1, lower=lows[k], upper=highs[k])
    v = [made[k][0] for k in range(3)]
    p.maximize(sum(Q[i, j] * v[i] * v[j] for i in range(3) for j in range(3)) + sum(a[i] * v[i] for i in range(3)))
    p.subject_to(v[0] * v[1] + 0.3 * v[2] <= 0.5)
    return p


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), order=st.permutations([0, 1, 2]))
def test_bounds_do_not_depend_on_variable_order(seed, order):
    base, permuted = random_problem(seed, [0, 1, 2]), random_problem(seed, list(order))
    for backend in ("lp", "sdp", "exact"):
        a, b = base.solve(backend=backend).bound, permuted.solve(backend=backend).bound
        if np.isfinite(a) or np.isfinite(b):
            assert a == pytest.approx(b, rel=1e-4, abs=1e-5), backend


def test_conjunction_is_proven_by_any_of_its_atoms():
    from conftest import random_net

    from qcqp.frontends.specs import Specification, linf_ball

    net = random_net([3, 5, 3], 4)
    x0 = np.full(3, 0.5)
    y = net.forward(x0)
    first, second = int(np.argmax(y)), int(np.argmin(y))
    e = np.eye(3)
    # unsafe: logit[second] >= logit[first] (reachable or not) AND logit[2] >= 1000 (unreachable)
    inst = Specification(linf_ball(x0, 0.05), (((e[first] - e[second], 0.0), (-e[2], 1000.0)),))
    rows = analyse(net, inst, ["pgd", "lp", "sdp"], Options(pgd_steps=10, pgd_restarts=1))
    assert all(r["status"] == "certified" for r in rows.values())
