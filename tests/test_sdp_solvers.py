"""Every SDP solver adapter is sound on random problems, also when stopped early, and agrees
with the others at convergence; the automatic choice and the memory guard."""

import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import random_net
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_backends import random_qcqp

import qcqp
from qcqp.backends.sdp_solvers import SDP_SOLVERS
from qcqp.backends.sdp_solvers.auto import choose_solver
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
    best = feasible_value(p.solve(backend="exact", time_limit=math.inf))
    for solver in FAST:
        r = p.solve(backend="sdp", solver=solver)
        assert r.bound >= best - 1e-7 * (1 + abs(best)), (solver, r.bound, best)
        if r.value is not None:
            assert r.value <= r.bound + 1e-9


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 4))
def test_stopped_solvers_still_give_valid_bounds(seed, n):
    p, _, _ = random_qcqp(seed, n, True)
    best = feasible_value(p.solve(backend="exact", time_limit=math.inf))
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
    assert choose_solver(form) == "ipm"


def test_auto_prefers_clarabel_when_rows_far_outnumber_the_matrix():
    rng = np.random.default_rng(0)
    p = qcqp.Problem()
    x = p.variable("x", 25, lower=0, upper=1)
    Q = rng.normal(size=(25, 25))
    p.maximize(x @ (Q + Q.T) @ x)  # every pair gets four lifted McCormick rows: m ~ 2 n²
    assert choose_solver(build_shor(p.compile())) == "clarabel"


def test_auto_prefers_sdpa_when_rows_touch_few_entries(monkeypatch):
    """The plain Shor form of a dense BoxQP (box rows: three entries each), as the rlt family's
    separation starts it: SDPA's sparse-entry Schur formula, else the project's own ipm."""
    rng = np.random.default_rng(0)
    p = qcqp.Problem()
    x = p.variable("x", 25, lower=0, upper=1)
    Q = rng.normal(size=(25, 25))
    p.maximize(x @ (Q + Q.T) @ x)
    form = build_shor(p.compile(), mccormick=False)
    if SDP_SOLVERS.get("sdpa").available():
        assert choose_solver(form) == "sdpa"
    monkeypatch.setattr(type(SDP_SOLVERS.get("sdpa")), "available", lambda self: False)
    assert choose_solver(form) == "ipm"


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


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), dim=st.integers(2, 9), slab=st.sampled_from([3, 40, 10**6]))
def test_ipm_schur_complement_from_low_rank_factors_is_exact(seed, dim, slab):
    """``A_i = U_i B_i U_iᵀ`` reproduces every row, and ``M_ij = tr(A_i X A_j Y)`` agrees with the
    dense formula, for random sparse rows, star rows (a ReLU's) and any slab size."""
    import scipy.sparse as sp

    from qcqp.backends.sdp_solvers.ipm import SchurOperator, row_factors
    from qcqp.backends.shor import coefficients_to_matrix
    from qcqp.lifting import pair_index, triangle_size

    rng = np.random.default_rng(seed)
    width = triangle_size(dim)
    rows = sp.random(6, width, density=0.3, random_state=rng, format="csr").toarray()
    star = np.zeros(width)
    hub = rng.integers(dim)
    star[pair_index(np.full(dim, hub), np.arange(dim))] = rng.normal(size=dim)
    rows = sp.csr_array(np.vstack([rows, star, np.eye(1, width, 0)]))
    U, B, owner = row_factors(rows, dim)
    mats = [coefficients_to_matrix(rows[[r]].toarray().ravel(), dim) for r in range(rows.shape[0])]
    for r, A in enumerate(mats):
        cols = np.flatnonzero(owner == r)
        Ur, Br = U[:, cols].toarray(), B[cols][:, cols].toarray()
        np.testing.assert_allclose(Ur @ Br @ Ur.T, A, atol=1e-12)
    X, Y = rng.normal(size=(2, dim, dim))
    X, Y = X @ X.T, Y @ Y.T
    M = SchurOperator(rows, dim, slab).schur(X, Y)
    dense = np.array([[np.trace(Ai @ X @ Aj @ Y) for Aj in mats] for Ai in mats])
    np.testing.assert_allclose(M, 0.5 * (dense + dense.T), atol=1e-9 * (1 + np.abs(dense).max()))


def test_ipm_reports_an_empty_relaxation_as_proven_infeasible():
    p = qcqp.Problem()
    x = p.variable("x", 3, lower=-1, upper=1)
    p.minimize(x.sum())
    p.subject_to(x[0] * x[0] + x[1] * x[1] <= -0.3)
    r = p.solve(backend="sdp", solver="ipm")
    assert r.status == qcqp.Status.INFEASIBLE and r.certificate["max_zero_upper"] < 0


def test_ipm_rejects_unknown_settings_by_name():
    p, _, _ = random_qcqp(1, 3, True)
    with pytest.raises(qcqp.InputError, match="unknown ipm setting 'tolerance'; valid: tol, max_iter, step"):
        p.solve(backend="sdp", solver="ipm", tolerance=1e-3)


CNN_MARGIN = """
import numpy as np
from qcqp.app.dataset import shipped_models
from qcqp.frontends.encode import encode_network
from qcqp.frontends.loaders import load_network
from qcqp.frontends.models.train_digits import digits_split
from qcqp.frontends.specs import linf_ball
net = load_network(shipped_models()["digits_cnn.onnx"])
_, _, x_test, y_test = digits_split()
a = np.zeros(10)
a[y_test[91]], a[9] = 1.0, -1.0  # label 8, the hardest target 9
print(encode_network(net, linf_ball(x_test[91], 0.05)).solve("sdp", a, 0.0, solver="clarabel").bound)
"""


def test_clarabel_finishes_on_the_sparse_cnn_pattern_that_exhausted_memory():
    """Digits CNN, test point 91, ε 0.05: Clarabel's default clique merging never returned on
    this margin SDP (its memory grew until the process died); now solved under a 2 GiB limit."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    done = subprocess.run([sys.executable, "-c", CNN_MARGIN], capture_output=True, text=True, timeout=120,
                          preexec_fn=limit)
    assert done.returncode == 0, done.stderr[-500:]
    assert float(done.stdout.split()[-1]) == pytest.approx(-0.0946, abs=1e-3)


def test_importing_lp_loads_no_sdp_solver_nor_other_backend():
    """Built-ins load on the registries' first use: the LP backend alone stays light."""
    code = ("import sys, qcqp.backends.lp; print(sorted(m for m in sys.modules "
            "if m.startswith('qcqp.backends.') and ('sdp' in m or m.endswith('exact'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
