"""Conformance checks any backend must pass (like cvxpy's solver test helpers or sklearn's
``check_estimator``): ``check_backend("name")`` raises ``AssertionError`` on the first failure.

What is checked, on small problems with known optima and on random instances:

* soundness: the bound is on the right side of the true optimum (maximise and minimise),
  of every sampled feasible point, and of the backend's own reported point;
* reported points are feasible and their values are what the objective gives there;
* an infeasible problem never gets a point, and ``Status.INFEASIBLE`` comes with a certificate;
* unknown options raise :class:`~qcqp.errors.InputError`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qcqp.constraints import complements
from qcqp.errors import InputError
from qcqp.problem import Problem
from qcqp.registry import BACKENDS
from qcqp.result import Result, Status

TOLERANCE = 1e-6


def _box_linear() -> tuple[Problem, float]:
    p = Problem()
    x = p.variable("x", 3, lower=[-1, 0, 2], upper=[1, 3, 5])
    p.maximize(x @ np.array([2.0, -1.0, 0.5]) + 1.0)
    return p, 2.0 + 0.0 + 2.5 + 1.0


def _relu() -> tuple[Problem, float]:
    p = Problem()
    x = p.variable("x", 1, lower=-1, upper=1)
    z = p.variable("z", 1, lower=0, upper=1)
    p.subject_to(complements(z, z - x))
    p.maximize(z - 0.5 * x)  # relu(x) − x/2 on [−1, 1]: 0.5 at both ends
    return p, 0.5


def _linear_constrained() -> tuple[Problem, float]:
    p = Problem()
    x = p.variable("x", 2, lower=0, upper=4)
    p.subject_to(x[0] + 2 * x[1] <= 4, x[0] - x[1] >= -1)
    p.minimize(-x[0] - x[1])  # optimum at (4, 0): −4
    return p, -4.0


def _maxcut_c5() -> tuple[Problem, float]:
    p = Problem()
    x = p.variable("x", 5, lower=-1, upper=1)
    p.maximize(sum((1 - x[i] * x[(i + 1) % 5]) * 0.5 for i in range(5)))
    p.subject_to(x * x == 1)
    return p, 4.0


def _random_qcqp(seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    n = 3
    p = Problem()
    x = p.variable("x", n, lower=-1, upper=1)
    Q = rng.normal(size=(n, n))
    p.minimize(x @ (Q + Q.T) @ x + rng.normal(size=n) @ x)
    p.subject_to(x[0] * x[1] <= 0.3, rng.normal(size=n) @ x <= 0.5)
    return p


def _sampled_extreme(p: Problem, rng: np.random.Generator, count: int = 2000) -> float | None:
    """The best objective value (in the user's sense) over feasible random points of the box."""
    ir = p.compile()
    points = rng.uniform(ir.lower, ir.upper, size=(count, ir.n))
    values = [ir.user_value(ir.objective_value(v)) for v in points if ir.max_violation(v) <= 0]
    if not values:
        return None
    return max(values) if ir.sign > 0 else min(values)


def _sound(result: Result, optimum: float, maximise: bool, what: str) -> None:
    slack = TOLERANCE * (1 + abs(optimum))
    ok = result.bound >= optimum - slack if maximise else result.bound <= optimum + slack
    assert ok, f"{what}: bound {result.bound} is not {'above' if maximise else 'below'} the optimum {optimum}"


def _point_checks(p: Problem, result: Result, what: str) -> None:
    if result.point is None:
        return
    ir = p.compile()
    v = np.concatenate([result.point[var.name] for var in ir.variables])
    assert ir.max_violation(v) <= 1e-5, f"{what}: the reported point violates the constraints"
    value = ir.user_value(ir.objective_value(v))
    assert abs(value - result.value) <= 1e-6 * (1 + abs(value)), f"{what}: reported value is not the point's"
    _sound(result, value, ir.sign > 0, f"{what} (own point)")


def check_backend(name: str, linear_only: bool = False, options: dict | None = None,
                  seeds: range = range(5)) -> None:
    """Run the conformance checks on backend ``name`` (``linear_only``: skip quadratic objectives)."""
    options = options or {}
    solve: Callable[[Problem], Result] = lambda p: p.solve(backend=name, **options)  # noqa: E731
    cases = [_box_linear, _linear_constrained] + ([] if linear_only else [_relu, _maxcut_c5])
    for case in cases:
        p, optimum = case()
        result = solve(p)
        assert result.status != Status.INFEASIBLE, f"{case.__name__}: a feasible problem called infeasible"
        _sound(result, optimum, p.compile().sign > 0, case.__name__)
        _point_checks(p, result, case.__name__)
    rng = np.random.default_rng(0)
    for seed in ([] if linear_only else seeds):
        p = _random_qcqp(seed)
        result, best = solve(p), _sampled_extreme(p, rng)
        if best is not None:
            assert result.status != Status.INFEASIBLE, f"random QCQP {seed}: feasible points exist"
            _sound(result, best, False, f"random QCQP {seed} (sampled points)")
        _point_checks(p, result, f"random QCQP {seed}")
    empty = Problem()
    x = empty.variable("x", 2, lower=-1, upper=1)
    empty.maximize(x[0] + x[1])
    empty.subject_to(x[0] + x[1] >= 3)
    result = solve(empty)
    assert result.point is None, "an infeasible problem got a feasible point"
    if result.status == Status.INFEASIBLE:
        assert result.certificate is not None, "Status.INFEASIBLE needs a certificate"
    try:
        empty.solve(backend=name, no_such_option_exists=1)
    except InputError:
        pass
    else:
        raise AssertionError("an unknown option did not raise InputError")
    BACKENDS.get(name)  # listed and loadable
