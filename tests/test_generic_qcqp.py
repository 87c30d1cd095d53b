"""Generic QCQPs: feasible points and gaps from every relaxation, BoxQP files, ``qcqp solve``."""

import itertools
import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_backends import maxcut, random_qcqp

import qcqp
import qcqp.branch
from qcqp.app.cli import main
from qcqp.frontends.problem_files import read_problem
from qcqp.primal import LiftedFunctions

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BOXQP = Path(__file__).resolve().parents[2] / "shared" / "data" / "boxqp"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4), quadratic=st.booleans())
def test_points_are_feasible_and_never_beat_the_bounds(seed, n, quadratic):
    """Every reported point satisfies the IR exactly (1e-9) and its value is at most every bound."""
    p, _, _ = random_qcqp(seed, n, quadratic)
    exact = p.solve("exact", time_limit=math.inf)
    ir = p.compile()
    for backend in ("lp", "sdp"):
        result = p.solve(backend)
        if result.point is None:
            continue
        v = np.concatenate([result.point[var.name] for var in ir.variables])
        assert ir.max_violation(v) <= 1e-9
        assert result.value == pytest.approx(ir.user_value(ir.objective_value(v)), abs=1e-12)
        assert result.value <= min(exact.bound, result.bound) + 1e-9
        assert result.gap == pytest.approx(abs(result.bound - result.value))


def test_unconstrained_box_problems_reach_the_global_optimum_on_small_instances():
    """Random box QPs with n = 3: the polished point equals the exact optimum."""
    misses = 0
    for seed in range(10):
        p, _, _ = random_qcqp(seed, 3, False)
        exact, sdp = p.solve("exact", time_limit=math.inf), p.solve("sdp")
        assert exact.status == qcqp.Status.OPTIMAL
        misses += sdp.value < exact.value - 1e-6
    assert misses == 0


def test_maxcut_points_are_cuts_of_the_optimal_size():
    for graph, best in [(nx.cycle_graph(5), 4), (nx.petersen_graph(), 12)]:
        result = maxcut(graph, "sdp")
        assert result.value == best and set(np.abs(result.point["x"])) == {1.0}


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 4))
def test_lifted_jacobians_match_finite_differences(seed, n):
    p, _, rng = random_qcqp(seed, n + 1, True)
    ir = p.compile()
    f = LiftedFunctions.of(ir)
    v = rng.uniform(ir.lower, ir.upper)
    for K in (f.objective, f.inequalities):
        J = f.jacobian(K, v)
        for k in range(ir.n):
            step = np.zeros(ir.n)
            step[k] = 1e-6
            numeric = (f.value(K, v + step) - f.value(K, v - step)) / 2e-6
            np.testing.assert_allclose(J[:, k], numeric, atol=1e-5 * (1 + np.abs(numeric).max()))
    assert f.value(f.objective, v)[0] == pytest.approx(ir.objective_value(v), abs=1e-9)


def _write_boxqp(path, c, Q):
    n = len(c)
    path.write_text(f"{n}\n" + " ".join(map(str, c)) + "\n" + "\n".join(" ".join(map(str, row)) for row in Q) + "\n")
    return path


def test_boxqp_file_gives_the_stated_objective(tmp_path):
    rng = np.random.default_rng(0)
    c, Q = rng.integers(-50, 50, 4), rng.integers(-50, 50, (4, 4))
    problem = read_problem(_write_boxqp(tmp_path / "t.in", c, Q))
    ir = problem.compile()
    assert ir.n == 4 and np.all(ir.lower == 0) and np.all(ir.upper == 1)
    for x in rng.random((5, 4)):
        assert ir.user_value(ir.objective_value(x)) == pytest.approx(0.5 * x @ Q @ x + c @ x)


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("2\n1 2\n3 4\n5 x\n", "t.in:4: expected a number, got 'x'"),
    ("2\n1 2\n3 4\n5\n", "t.in:4: n = 2 needs 7 numbers"),
    ("2.5\n", "t.in:1: the first number must be the dimension"),
    ("1\n1 2\n3\n", "t.in:3: n = 1 needs 3 numbers (n, c, Q), the file has 4"),
    ("1\nnan 1\n", "t.in:2: 'nan' is not a finite number"),
])
def test_malformed_boxqp_files_name_the_line(tmp_path, capsys, text, message):
    (tmp_path / "t.in").write_text(text)
    assert main(["solve", str(tmp_path / "t.in")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--backend", "magic"], "unknown backend 'magic'"),
    (["--backend", "lp", "--solver", "ipm"], "--solver applies to --backend sdp only"),
    (["--time-limit", "0"], "--time-limit must be > 0"),
    (["--backend", "exact", "--relaxation", "rlt"], "--relaxation applies to --backend lp or sdp only"),
    (["--relaxation", "dnn"], "unknown relaxation family 'dnn'"),
])
def test_bad_solve_options_are_one_line_errors(tmp_path, capsys, args, message):
    path = _write_boxqp(tmp_path / "t.in", [1, -1], [[0, 2], [2, -1]])
    assert main(["solve", str(path), *args]) == 2
    assert message in capsys.readouterr().err
    assert main(["solve", str(tmp_path / "t.qplib")]) == 2
    assert "no such problem file" in capsys.readouterr().err


def test_solve_cli_writes_bound_value_and_gap(tmp_path, capsys):
    path = _write_boxqp(tmp_path / "t.in", [1, -1, 2], [[0, 2, -3], [2, -1, 1], [-3, 1, 0]])
    out = tmp_path / "r.json"
    assert main(["solve", str(path), "--backend", "sdp", "--out", str(out)]) == 0
    row = json.loads(out.read_text())
    assert row["bound"] >= row["value"] - 1e-9 and row["gap"] == pytest.approx(row["bound"] - row["value"])
    x = np.array(row["point"]["x"])
    Q = np.array([[0, 2, -3], [2, -1, 1], [-3, 1, 0]])
    assert row["value"] == pytest.approx(0.5 * x @ Q @ x + np.array([1, -1, 2]) @ x)
    assert "best value" in capsys.readouterr().out


@pytest.mark.parametrize("path, optimum", [
    (FIXTURES / "spar020-100-1.in", 706.5),  # shipped: CI covers this ground without ../shared
    pytest.param(BOXQP / "spar030-060-1.in", 706.0,
                 marks=pytest.mark.skipif(not BOXQP.exists(), reason="needs ../shared/data/boxqp")),
], ids=lambda v: getattr(v, "stem", None))
def test_boxqp_heuristic_finds_the_published_optimum(path, optimum):
    """The SDP's rounding and polish reach the published optimum; the bound lies above it."""
    result = read_problem(path).solve("sdp")
    assert result.value == pytest.approx(optimum, abs=1e-6) and result.bound >= optimum


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4), quadratic=st.booleans(), oracle=st.sampled_from(["sdp", "lp"]))
def test_branch_and_bound_finds_the_exact_optimum(seed, n, quadratic, oracle):
    p, _, _ = random_qcqp(seed, n, quadratic)
    exact = p.solve("exact", time_limit=math.inf)
    found = p.solve_globally(oracle, time_limit=math.inf, gap=1e-6)
    if exact.value is not None:
        assert found.bound >= exact.value - 1e-9  # a valid bound never undercuts a feasible point
    if found.value is not None:
        assert found.value <= exact.bound + 1e-9
    if found.status == qcqp.Status.OPTIMAL and exact.status == qcqp.Status.OPTIMAL:
        assert found.bound - found.value <= 1e-6 * max(1.0, abs(found.value)) + 1e-12
        assert found.value == pytest.approx(exact.value, abs=1e-5 * (1 + abs(exact.value)))


def test_branch_and_bound_splits_complementarities_of_a_network():
    """A ReLU margin problem: branching on complementarities closes the LP's gap to the MILP's value."""
    from conftest import random_net

    from qcqp.frontends.encode import encode_network
    from qcqp.frontends.specs import linf_ball

    net = random_net([3, 6, 6, 2], 2)
    enc = encode_network(net, linf_ball(np.full(3, 0.5), 0.3))
    problem = enc.linear_objective(np.array([1.0, -1.0]), 0.0)
    exact, lp = problem.solve("exact"), problem.solve("lp")
    found = problem.solve_globally("lp", gap=1e-7)
    assert found.status == qcqp.Status.OPTIMAL and found.stats["nodes"] > 1
    assert found.bound == pytest.approx(exact.bound, abs=1e-5) and found.bound >= lp.bound - 1e-9  # min: lower bounds


def test_branch_and_bound_stopped_early_still_bounds_the_optimum():
    p, _, _ = random_qcqp(7, 4, True)
    exact = p.solve("exact", time_limit=math.inf)
    stopped = qcqp.branch.branch_and_bound(p.compile(), "sdp", node_limit=1)
    assert stopped.status in (qcqp.Status.BOUND, qcqp.Status.OPTIMAL) and stopped.bound >= exact.value - 1e-9


def test_a_node_never_reports_a_looser_bound_than_its_parent():
    """An oracle may return any valid bound, even a looser one below the root (a time-limited
    or failing solve): the search keeps the parent's bound there, so what it reports is never
    looser than the root relaxation's."""
    from qcqp.backend import package
    from qcqp.interval import affine_bounds

    p = qcqp.Problem()
    x = p.variable("x", 2, lower=-1, upper=2)
    p.maximize(x[0] - x[1])
    ir = p.compile()

    @qcqp.register_backend("loosening")
    class Loosening(qcqp.Backend):
        """The objective's interval bound, 100 looser on every node below the root."""

        def solve(self, relaxation):
            node = relaxation.ir
            _, hi = affine_bounds(node.objective.affine.A, node.objective.affine.a, node.lower, node.upper)
            root = np.array_equal(node.lower, ir.lower) and np.array_equal(node.upper, ir.upper)
            return package(node, "loosening", qcqp.Status.BOUND, float(hi[0]) + (0.0 if root else 100.0))

    try:
        root = qcqp.branch.branch_and_bound(ir, "loosening", node_limit=1)
        deeper = qcqp.branch.branch_and_bound(ir, "loosening", node_limit=9)
    finally:
        qcqp.BACKENDS.unregister("loosening")
    assert root.bound == pytest.approx(3.0, abs=1e-6) and deeper.stats["nodes"] == 9
    assert deeper.bound <= root.bound


@pytest.mark.parametrize("options, message", [
    ({"oracle": "magic"}, "magic"),
    ({"oracle": "lp", "solver": "ipm"}, "has no option 'solver'"),
    ({"time_limit": 0}, "time_limit > 0"),
])
def test_branch_and_bound_rejects_bad_options(options, message):
    p, _, _ = random_qcqp(1, 2, False)
    with pytest.raises(qcqp.InputError, match=message):
        p.solve_globally(**options)


def test_solve_cli_global_reports_nodes(tmp_path, capsys):
    path = _write_boxqp(tmp_path / "t.in", [1, -1, 2], [[0, 2, -3], [2, -1, 1], [-3, 1, 0]])
    out = tmp_path / "g.json"
    assert main(["solve", str(path), "--global", "--relaxation", "rlt+triangle", "--quiet", "--out", str(out)]) == 0
    row = json.loads(out.read_text())
    assert row["global"] and row["status"] == "optimal" and row["nodes"] >= 1
    assert row["bound"] - row["value"] <= 1e-4 * max(1, abs(row["value"]))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(3, 6))
def test_rlt_and_triangle_cuts_hold_at_every_box_point(seed, n):
    """Every cut is valid: it holds for P = ṽṽᵀ at random points and vertices of a random box."""
    from qcqp.backends.cuts import rlt_rows, rlt_violations, triangle_rows, triangle_violations
    from qcqp.lifting import pair_rows_cols

    rng = np.random.default_rng(seed)
    lower = rng.uniform(-2, 1, n)
    upper = lower + rng.uniform(0.1, 3, n)
    rows_of, cols_of = pair_rows_cols(n + 1)
    points = np.vstack([rng.uniform(lower, upper, (20, n)), np.where(rng.random((20, n)) < 0.5, lower, upper)])
    kinds_r, kinds_t = np.repeat(np.arange(4), n * (n - 1) // 2), np.repeat(np.arange(4), n * (n - 1) * (n - 2) // 6)
    i, j = np.triu_indices(n, 1)
    triples = np.array(list(itertools.combinations(range(n), 3)))
    R = rlt_rows(kinds_r, np.tile(i, 4), np.tile(j, 4), lower, upper, n + 1)
    T = triangle_rows(kinds_t, *(np.tile(triples[:, a], 4) for a in range(3)), lower, upper, n + 1)
    for v in points:
        tilde = np.concatenate([[1.0], v])
        P = np.outer(tilde, tilde)
        utri = tilde[rows_of] * tilde[cols_of]
        assert np.all(R @ utri <= 1e-9) and np.all(T @ utri <= 1e-9)
        assert np.all(rlt_violations(P, lower, upper)[0] <= 1e-9)
        assert np.all(triangle_violations(P, lower, upper)[0] <= 1e-9)
        np.testing.assert_allclose(np.sort(R @ utri), np.sort(rlt_violations(P, lower, upper)[0].ravel()), atol=1e-9)
        np.testing.assert_allclose(np.sort(T @ utri), np.sort(triangle_violations(P, lower, upper)[0].ravel()),
                                   atol=1e-9)


def _independent_shor_rlt(Q, c):
    """Shor + all RLT rows on [0, 1]ⁿ written directly in cvxpy (the reference formulation)."""
    import cvxpy as cp

    n = len(c)
    X = cp.Variable((n + 1, n + 1), PSD=True)
    x, V = X[0, 1:], X[1:, 1:]
    ones = np.ones((n, n))
    column = cp.reshape(x, (n, 1), order="C") @ np.ones((1, n))  # entry (i, j) is x_i
    constraints = [X[0, 0] == 1, cp.diag(V) <= x, V >= 0, V <= column, V >= column + column.T - ones]
    problem = cp.Problem(cp.Maximize(0.5 * cp.trace(Q @ V) + c @ x), constraints)
    problem.solve(solver="CLARABEL", tol_gap_abs=1e-8, tol_gap_rel=1e-8, tol_feas=1e-8)
    return problem.value


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rlt_family_equals_an_independent_shor_rlt_formulation(seed):
    rng = np.random.default_rng(seed)
    n = 7
    Q = rng.integers(-50, 51, (n, n)).astype(float)
    Q = (Q + Q.T) * (rng.random((n, n)) < 0.6)
    Q = np.triu(Q) + np.triu(Q, 1).T
    c = rng.integers(-50, 51, n).astype(float)
    p = qcqp.Problem()
    x = p.variable("x", n, lower=0, upper=1)
    p.maximize(0.5 * (x @ Q @ x) + c @ x)
    result = p.solve("sdp", family="rlt", tol_gap_rel=1e-10, tol_gap_abs=1e-10)
    reference = _independent_shor_rlt(Q, c)
    assert result.bound == pytest.approx(reference, rel=1e-6) and result.bound >= reference - 1e-7
    assert result.stats["family"] == "rlt"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(3, 4), quadratic=st.booleans(),
       backend=st.sampled_from(["sdp", "lp"]), family=st.sampled_from(["shor", "rlt", "triangle", "rlt+triangle"]))
def test_every_family_bounds_the_optimum(seed, n, quadratic, backend, family):
    assume(not (backend == "lp" and family == "shor"))
    p, _, _ = random_qcqp(seed, n, quadratic)
    exact = p.solve("exact", time_limit=math.inf)
    result = p.solve(backend, family=family)
    if exact.value is not None:
        assert result.bound >= exact.value - 1e-7 * (1 + abs(exact.value))
    if result.point is not None:  # still a point of the problem, never above the bound
        assert result.value <= result.bound + 1e-9
    auto = p.solve(backend).bound
    if backend == "lp" or (family in ("rlt", "rlt+triangle") and result.status == qcqp.Status.OPTIMAL):
        # cuts only tighten: lp keeps its best round; sdp's rlt separates auto's rows too
        assert result.bound <= (auto + 1e-6 * (1 + abs(auto)) if np.isfinite(auto) else auto)


@pytest.mark.parametrize("backend", ["sdp", "lp"])
def test_triangle_cuts_make_the_maxcut_examples_exact(backend):
    for graph, best in [(nx.cycle_graph(5), 4), (nx.petersen_graph(), 12)]:
        result = maxcut(graph, backend, family="rlt+triangle")
        assert result.bound == pytest.approx(best, abs=1e-5) and result.value == best
        assert result.stats["cuts"] > 0


def test_unknown_family_is_named():
    p, _, _ = random_qcqp(0, 2, False)
    with pytest.raises(qcqp.InputError, match="unknown relaxation family 'dnn'.*shor, auto, rlt"):
        p.solve("sdp", family="dnn")
    with pytest.raises(qcqp.InputError, match="unknown relaxation family 'shor' for lp; choose from auto, rlt"):
        p.solve("lp", family="shor")


def test_fixed_variables_are_left_out_of_triangles():
    from qcqp.backends.cuts import separate

    lower, upper = np.array([-1.0, -1.0, 0.0, 1.0, 0.0]), np.array([1.0, 1.0, 0.0, 1.0, 1.0])
    P = np.eye(6) * 0.5
    P[0, 0] = 1.0
    with np.errstate(all="raise"):
        rows, worst = separate(P, lower, upper, ("rlt", "triangle"), count=50)
    assert rows is not None and np.all(np.isfinite(rows.data)) and worst > 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 5), m=st.integers(1, 3))
def test_linear_rlt_rows_hold_at_feasible_points(seed, n, m):
    """(b − a·v)(v_k − l_k) >= 0 and (b − a·v)(u_k − v_k) >= 0 at points with A v <= b, as rows and as violations."""
    from qcqp.backends.cuts import linear_rlt_rows, linear_rlt_violations
    from qcqp.lifting import pair_rows_cols

    rng = np.random.default_rng(seed)
    lower = rng.uniform(-2, 1, n)
    upper = lower + rng.uniform(0.1, 3, n)
    A = rng.normal(size=(m, n))
    b = A @ (0.5 * (lower + upper)) + rng.uniform(0, 1, m)
    rows_of, cols_of = pair_rows_cols(n + 1)
    kinds, flat = np.repeat([0, 1], m * n), np.tile(np.arange(m * n), 2)
    R = linear_rlt_rows(kinds, flat, A, b, lower, upper, n + 1)
    points = rng.uniform(lower, upper, (200, n))
    for v in points[np.all(points @ A.T <= b, axis=1)]:
        tilde = np.concatenate([[1.0], v])
        utri = tilde[rows_of] * tilde[cols_of]
        assert np.all(R @ utri <= 1e-9)
        viol = linear_rlt_violations(np.outer(tilde, tilde), A, b, lower, upper)
        np.testing.assert_allclose(R @ utri, viol.ravel(), atol=1e-9)


def _assignment_qp(seed: int, size: int = 3):
    """A quadratic assignment problem on binaries: ``x_ij`` is 1 when item i goes to place j."""
    rng = np.random.default_rng(seed)
    Q = rng.integers(-9, 10, (size * size, size * size)).astype(float)
    Q = Q + Q.T
    p = qcqp.Problem()
    x = p.variable("x", size * size, lower=0, upper=1)
    p.subject_to(x * x == x)
    for i in range(size):
        p.subject_to(x[[size * i + j for j in range(size)]].sum() == 1)
        p.subject_to(x[[size * j + i for j in range(size)]].sum() == 1)
    p.subject_to(x[0] + x[size + 1] <= 1)  # an edge row: item 0 at place 0 excludes item 1 at place 1
    p.maximize(x @ Q @ x)
    best = max(float(v @ Q @ v) for perm in itertools.permutations(range(size))
               if (v := np.eye(size)[list(perm)].ravel()) is not None and v[0] + v[size + 1] <= 1)
    return p, best


@pytest.mark.parametrize("seed", range(4))
def test_products_of_linear_rows_bound_an_assignment_problem(seed):
    """``rlt``'s products of linear rows (equalities times every variable, inequalities times the
    bounds of their own variables) are valid (the bound stays above the enumerated optimum) and
    tighten plain Shor a lot on an assignment problem."""
    p, best = _assignment_qp(seed)
    auto = p.solve("sdp", tol_gap_rel=1e-9, tol_gap_abs=1e-9)
    shor = p.solve("sdp", family="shor", tol_gap_rel=1e-9, tol_gap_abs=1e-9)
    rlt = p.solve("sdp", family="rlt", tol_gap_rel=1e-9, tol_gap_abs=1e-9, cut_rounds=0)
    assert rlt.bound >= best - 1e-6 and shor.bound >= best - 1e-6
    assert rlt.bound <= auto.bound - 1.0  # beyond auto's McCormick rows (these four: the optimum itself)
    assert rlt.stats["equalities"] > shor.stats["equalities"]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 5))
def test_linear_product_rows_hold_at_feasible_points(seed, n):
    """Each lifted product row is ``<= 0`` (or ``== 0``) at every point of the problem, to rounding."""
    from qcqp.backends.shor import linear_product_rows
    from qcqp.expr import Affine
    from qcqp.lifting import pair_rows_cols

    rng = np.random.default_rng(seed)
    p = qcqp.Problem()
    x = p.variable("x", n, lower=-1, upper=2)
    a, c = rng.normal(size=n), rng.normal(size=(2, n))
    centre = rng.uniform(-0.5, 1.5, n)
    p.subject_to(a @ x == float(a @ centre))
    p.subject_to(c @ x <= c @ centre + rng.uniform(0, 1, 2))
    p.maximize(x.sum())
    ir = p.compile()
    import scipy.sparse as sps
    eq, le = linear_product_rows(ir, Affine(sps.eye_array(n, format="csr"), np.zeros(n)), n + 1)
    E, G = sps.vstack(eq), sps.vstack(le)
    assert E.shape[0] == n and G.shape[0] == 4 * n
    rows_of, cols_of = pair_rows_cols(n + 1)
    null = np.linalg.svd(a[None, :])[2][1:]  # directions within the equality's plane
    for step in rng.normal(size=(200, n - 1)) * 0.5:
        v = centre + step @ null
        if ir.max_violation(v) > 0:
            continue
        tilde = np.concatenate([[1.0], v])
        utri = tilde[rows_of] * tilde[cols_of]
        assert np.all(np.abs(E @ utri) <= 1e-9) and np.all(G @ utri <= 1e-9)


def test_binaries_under_assignment_rows_get_feasible_points():
    """The MILP over the linear rows (qcqp.rounding) gives a point on every 4x4 assignment problem,
    where rounding the relaxation's samples met the rows on two of six."""
    for seed in range(6):
        p, best = _assignment_qp(seed, 4)
        result = p.solve("sdp", family="shor", polish=2)
        assert result.point is not None and result.value <= best
        X = result.point["x"].reshape(4, 4)
        assert set(np.unique(X)) <= {0.0, 1.0} and np.all(X.sum(axis=0) == 1) and np.all(X.sum(axis=1) == 1)


def test_two_valued_variables_are_found_by_their_equalities():
    """``(v − r)(v − r − 1) = 0`` with integer ``r`` makes ``v`` integral in the MILP; other roots do not."""
    from qcqp.primal import LiftedFunctions
    from qcqp.rounding import DiscreteStructure

    p = qcqp.Problem()
    x = p.variable("x", 4, lower=-5, upper=5)
    p.subject_to((x[0] - 2) * (x[0] - 3) == 0)
    p.subject_to(3 * (x[1] * x[1]) - 3 * x[1] == 0)
    p.subject_to(x[2] * (x[2] - 2) == 0)  # two values, not consecutive integers
    p.subject_to(x[0] + x[3] <= 4)
    p.maximize(x.sum())
    found = DiscreteStructure.of(LiftedFunctions.of(p.compile()))
    assert found.index.tolist() == [0, 1] and found.low.tolist() == [2.0, 0.0]
    assert found.A_ub.toarray().tolist() == [[1.0, 0.0, 0.0, 1.0]] and found.b_ub.tolist() == [4.0]
    assert found.A_eq.shape == (0, 4)


def test_interior_point_reaches_a_packing_point_from_an_infeasible_start():
    """IPOPT (the nlp extra), tried where SLSQP ends infeasible, returns a point meeting every
    distance row of three unit discs packed in a box whose side it minimises."""
    pytest.importorskip("cyipopt")
    import time

    from qcqp.primal import LiftedFunctions, _interior_point

    p = qcqp.Problem()
    x = p.variable("x", 7, lower=0, upper=10)  # centres (x0, x1), (x2, x3), (x4, x5); side x6
    for a, b in itertools.combinations(range(3), 2):
        dx, dy = x[2 * a] - x[2 * b], x[2 * a + 1] - x[2 * b + 1]
        p.subject_to(dx * dx + dy * dy >= 4)
    for k in range(6):
        p.subject_to(x[k] >= 1)
        p.subject_to(x[k] + 1 <= x[6])
    p.minimize(x[6])
    ir = p.compile()
    f = LiftedFunctions.of(ir)

    def negative(v):
        return -f.value(f.objective, v)[0], -f.jacobian(f.objective, v)[0]

    constraints = [{"type": "ineq", "fun": lambda v: -f.value(f.inequalities, v),
                    "jac": lambda v: -f.jacobian(f.inequalities, v)}]
    start = np.full(7, 1.0)  # all centres together: every distance row violated
    v = _interior_point(negative, start, list(zip(ir.lower, ir.upper)), constraints, time.perf_counter() + 30)
    assert ir.max_violation(v) <= 1e-8
    assert v[6] >= 2 + math.sqrt(3) - 1e-6  # the optimal side for three unit discs is 2 + √3


def test_search_cuts_nodes_only_on_box_problems():
    """Nodes get ``rlt+triangle`` when the box is the only constraint (BoxQP), the oracle's
    default with constraints (QPLIB's QCQs: cut nodes cost 10x), and what the caller says."""
    p = qcqp.Problem()
    x = p.variable("x", 3, lower=-1, upper=1)
    p.maximize(x[0] * x[1] - x[2] * x[2] + x[0])
    assert p.solve_globally("sdp", time_limit=10).stats["node_family"] == "rlt+triangle"
    assert p.solve_globally("sdp", time_limit=10, family="auto").stats["node_family"] == "auto"
    p.subject_to(x[0] * x[0] + x[1] * x[1] <= 1)
    assert "node_family" not in p.solve_globally("sdp", time_limit=10).stats
