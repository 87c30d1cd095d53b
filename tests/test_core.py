"""The DSL, the IR, the lifting, sympy export and bad input."""

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import qcqp
from qcqp.interval import implied_bounds
from qcqp.lifting import lift, lift_point


def test_design_contract_runs_verbatim():
    Q = np.array([[1.0, 0.5, 0.0], [0.5, -2.0, 0.3], [0.0, 0.3, 1.0]])
    c = np.array([0.1, -0.2, 0.3])
    p = qcqp.Problem()
    x = p.variable("x", 3, lower=-1, upper=1)
    p.minimize(x @ Q @ x + c @ x)
    p.subject_to(x[0] * x[1] <= 0.5)
    r = p.solve(backend="sdp")
    exact = p.solve(backend="exact")
    assert r.bound <= exact.bound + 1e-6
    assert exact.value is not None and exact.bound <= exact.value + 1e-6


def test_lift_matches_evaluation_on_random_points():
    rng = np.random.default_rng(1)
    p = qcqp.Problem()
    x = p.variable("x", 4)
    y = p.variable("y", 2)
    W = rng.normal(size=(2, 4))
    expr = y * (y - W @ x + 1.0) + 3.0 * x[:2] - x[2] * x[3]
    for _ in range(5):
        v = rng.normal(size=6)
        assert np.allclose(lift(expr, 7) @ lift_point(v), expr.evaluate(v))


def test_lifted_block_indexing():
    p = qcqp.Problem()
    x = p.variable("x", 2, lower=-1, upper=1)
    z = p.variable("z", 3, lower=0, upper=1)
    index = qcqp.LiftIndex([x, z])
    P = index.wrap(np.arange(36.0).reshape(6, 6))
    assert np.array_equal(P[x], [1.0, 2.0])
    assert P[x, z].shape == (2, 3) and P[x, z][0, 0] == 9.0


def test_sympy_export_of_small_problem():
    p = qcqp.Problem()
    x = p.variable("x", 2, lower=-1, upper=1)
    p.maximize(x[0] * x[1] + 2 * x[0])
    p.subject_to(x[0] + x[1] <= 1, name="budget")
    form = p.to_sympy()
    x0, x1 = sympy.symbols("x_0 x_1", real=True)
    assert sympy.simplify(form["objective"] - (x0 * x1 + 2 * x0)) == 0
    assert "budget" in form["constraints"]
    assert "maximize" in str(p)


@pytest.mark.parametrize("build, message", [
    (lambda p, x: x + np.ones(4), "do not match"),
    (lambda p, x: p.subject_to(x * np.array([1.0, np.nan, 0.0]) <= 1), "NaN"),
    (lambda p, x: p.variable("x", 2), "already used"),
    (lambda p, x: p.variable("w", 2, lower=1, upper=0), "lower > upper"),
    (lambda p, x: p.maximize(x), "scalar"),
    (lambda p, x: p.solve(backend="nope"), "unknown backend 'nope'"),
])
def test_bad_input_raises_one_clear_error(build, message):
    p = qcqp.Problem()
    x = p.variable("x", 3, lower=-1, upper=1)
    with pytest.raises(qcqp.InputError, match=message):
        build(p, x)


@pytest.mark.parametrize("backend", ["lp", "sdp", "exact"])
def test_unbounded_variable_is_named(backend):
    p = qcqp.Problem()
    x = p.variable("x", 2, lower=-1, upper=1)
    y = p.variable("y", 1)
    p.maximize(x[0] * y[0])
    with pytest.raises(qcqp.InputError, match="'y'"):
        p.solve(backend=backend)


def test_constraint_has_no_truth_value():
    p = qcqp.Problem()
    x = p.variable("x", 1)
    with pytest.raises(TypeError):
        bool(x <= 1)


def test_third_party_backend_registration():
    @qcqp.register_backend("box-only")
    def box_only(ir, **options):
        upper = float(np.sum(np.abs(ir.objective.affine.A.toarray()) * np.maximum(abs(ir.lower), abs(ir.upper))))
        return qcqp.Result("box-only", qcqp.Status.OPTIMAL, ir.user_value(upper + ir.objective.affine.a[0]))

    try:
        p = qcqp.Problem()
        x = p.variable("x", 2, lower=-1, upper=2)
        p.maximize(x[0] - x[1])
        assert p.solve(backend="box-only").bound == pytest.approx(4.0)
        assert "box-only" in qcqp.BACKENDS.names()
    finally:
        qcqp.BACKENDS.unregister("box-only")


def test_sdp_result_exposes_lifted_matrix_by_block():
    p = qcqp.Problem()
    x = p.variable("x", 2, lower=-1, upper=1)
    z = p.variable("z", 1, lower=0, upper=2)
    p.maximize(x[0] * x[1] + z[0] * x[0])
    r = p.solve(backend="sdp")
    P = qcqp.LiftIndex([x, z]).wrap(r.lifted)
    assert P[1][0] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diag(P[x, x]) <= 1 + 1e-6)
    assert np.all(np.linalg.eigvalsh(r.lifted) >= -1e-6)


def test_sdp_refuses_only_what_does_not_fit_in_memory(monkeypatch):
    import qcqp.backends.sdp_solvers.auto as solvers

    p = qcqp.Problem()
    x = p.variable("x", 40, lower=0, upper=1)
    p.maximize(x.sum() - x[0] * x[1])
    assert p.solve(backend="sdp", solver="clarabel").bound == pytest.approx(39.0, abs=1e-5)
    monkeypatch.setattr(solvers, "available_memory", lambda: 1e6)  # 1 MB left
    with pytest.raises(qcqp.InputError, match="GiB.*use sdp-fo"):
        p.solve(backend="sdp", solver="clarabel")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 6), m=st.integers(1, 6))
def test_implied_bounds_keep_every_feasible_point(seed, n, m):
    """Points that satisfy the rows stay inside the propagated box, whatever was free before."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, n)) * (rng.random((m, n)) < 0.7)
    points = rng.uniform(-3, 3, (40, n))
    values = points @ A.T
    hi = np.where(rng.random(m) < 0.8, values.max(axis=0) + rng.random(m), np.inf)
    lo = np.where(rng.random(m) < 0.5, values.min(axis=0) - rng.random(m), -np.inf)
    lower = np.where(rng.random(n) < 0.5, -3.0, -np.inf)
    upper = np.where(rng.random(n) < 0.5, 3.0, np.inf)
    new_lo, new_hi = implied_bounds(A, lo, hi, lower, upper)
    assert np.all(new_lo >= lower) and np.all(new_hi <= upper)
    assert np.all(points >= new_lo) and np.all(points <= new_hi)


def test_implied_bounds_bound_free_variables_that_the_rows_pin():
    A = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, -1.0]])  # x + y <= 1, y - z >= 0 with x, y, z >= 0
    lower, upper = implied_bounds(A, np.array([-np.inf, 0.0]), np.array([1.0, np.inf]), np.zeros(3),
                                  np.full(3, np.inf))
    assert np.allclose(upper, [1, 1, 1]) and np.all(upper >= [1, 1, 1]) and np.all(lower == 0)
