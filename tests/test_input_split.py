"""Branch and bound on the input box, and the VNN-COMP runner built on it."""

import csv
import math
import time

import numpy as np
import pytest
from conftest import random_net
from hypothesis import given, settings
from hypothesis import strategies as st

from qcqp import Status
from qcqp.app.cli import main
from qcqp.frontends.bounds import Pace
from qcqp.frontends.encode import encode_network
from qcqp.frontends.input_split import atom_bounds, input_split_search
from qcqp.frontends.loaders import save_npz
from qcqp.frontends.specs import Box, Specification


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_box_bounds_hold_on_samples_in_every_box(seed):
    rng = np.random.default_rng(seed)
    net = random_net([3, 6, 5, 2], seed)
    lo = rng.uniform(-1, 0.5, (4, 3))
    hi = lo + rng.uniform(0, 0.8, (4, 3))
    A = rng.normal(size=(3, 2))
    b = rng.normal(size=3)
    bounds, _, _ = atom_bounds(net, A, b, lo, hi)
    for r in range(4):
        x = rng.uniform(lo[r], hi[r], (300, 3))
        values = net.forward(x) @ A.T + b
        assert np.all(values >= bounds[r] - 1e-12)


def test_pace_refuses_a_step_predicted_to_end_past_the_deadline():
    """A loop step is checked only before it starts: the step before prices it."""
    pace = Pace(time.perf_counter() + 0.3)
    assert pace.fits(2.0)  # nothing measured yet: only the deadline itself counts
    time.sleep(0.2)
    pace.done()  # 0.1 s per unit
    assert not pace.fits(2.0)  # another 0.2 s would end past the deadline
    assert Pace(None).fits(1e9) and not Pace(time.perf_counter() - 1.0).fits(0.0)


def _exact_min(net, a, b, lo, hi) -> float:
    result = encode_network(net, Box(lo, hi, 0.5 * (lo + hi))).solve("exact", a, b, time_limit=math.inf)
    assert result.status == Status.OPTIMAL
    return result.bound


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10**6))
def test_decisions_agree_with_the_exact_milp(seed):
    """Certified only where the exact minimum of the margin is positive, falsified only where it is not."""
    net = random_net([2, 8, 8, 3], seed)
    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    a = np.array([1.0, -1.0, 0.0])
    b = float(-np.median(net.forward(np.random.default_rng(seed).uniform(-1, 1, (50, 2))) @ a)) + 0.1
    spec = Specification(Box(lo, hi, np.zeros(2)), (((a, b),),))
    exact = _exact_min(net, a, b, lo, hi)
    search = input_split_search(net, spec, math.inf)
    root, _, _ = atom_bounds(net, a[None, :], np.array([b]), lo[None, :], hi[None, :])
    assert search.bound >= root[0, 0]  # halves keep their box's bound: the search never loses ground
    if search.status == "certified":
        assert exact > -1e-7 and search.bound <= exact + 1e-9
    if search.status == "falsified":
        assert exact <= 1e-9 and float(net.forward(search.counterexample) @ a + b) <= 0
    if abs(exact) > 1e-3:
        assert search.status == ("certified" if exact > 0 else "falsified")


def test_a_conjunction_is_decided_where_no_single_atom_is_positive():
    # Y = (x, −x): unsafe iff x <= −0.1 and −x <= −0.1, which no x satisfies; each atom alone is reachable.
    from qcqp.frontends.network import Network

    net = Network((np.array([[1.0], [-1.0]]), np.eye(2)), (np.zeros(2), np.zeros(2)), ("relu",))
    conj = ((np.array([1.0, 0.0]), 0.1), (np.array([0.0, 1.0]), 0.1))  # y0 + 0.1 <= 0 and y1 + 0.1 <= 0
    spec = Specification(Box(np.array([-1.0]), np.array([1.0]), np.zeros(1)), (conj,))
    search = input_split_search(net, spec, math.inf)
    assert search.status == "certified"


VNNLIB = """(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(declare-const Y_2 Real)
(assert (>= X_0 -1))
(assert (<= X_0 1))
(assert (>= X_1 -1))
(assert (<= X_1 1))
(assert (<= Y_0 Y_1))
(assert (<= Y_0 (+ Y_2 {shift})))
"""


@pytest.fixture
def benchmark(tmp_path):
    """A benchmark folder: one net, two properties (one far off, one reachable), instances.csv."""
    net = random_net([2, 10, 10, 3], 7)
    save_npz(net, tmp_path / "net.npz")
    (tmp_path / "far.vnnlib").write_text(VNNLIB.format(shift=-100))
    (tmp_path / "near.vnnlib").write_text(VNNLIB.format(shift=100))
    (tmp_path / "bench_instances.csv").write_text("net.npz,far.vnnlib,30\nnet.npz,near.vnnlib,30\n")
    return tmp_path, net


def _reachable(net, shift) -> bool:
    x = np.stack(np.meshgrid(np.linspace(-1, 1, 201), np.linspace(-1, 1, 201)), -1).reshape(-1, 2)
    y = net.forward(x)
    return bool(np.any((y[:, 0] <= y[:, 1]) & (y[:, 0] <= y[:, 2] + shift)))


def test_runner_writes_the_competition_files_and_compares(benchmark, capsys):
    folder, net = benchmark
    assert not _reachable(net, -100)
    expected_near = "violated" if _reachable(net, 100) else "holds"
    published = folder / "tool.csv"
    published.write_text(f"bench,./net.npz,./far.vnnlib,0.1,holds,1.0\nbench,./net.npz,./near.vnnlib,0.1,"
                         f"{'holds' if expected_near == 'violated' else 'violated'},2.0\n")
    out = folder / "out"
    code = main(["vnncomp", str(folder), "--out", str(out), "--compare", str(published), "--quiet"])
    assert code == 0
    rows = list(csv.reader((out / "results.csv").read_text().splitlines()))
    assert [Path_name(r[2]) for r in rows] == ["far.vnnlib", "near.vnnlib"]
    assert [r[4] for r in rows] == ["holds", expected_near]
    comparison = list(csv.DictReader((out / "comparison.csv").read_text().splitlines()))
    assert [c["contradiction"] for c in comparison] == ["False", "True"]
    assert all(float(c["peak_mb"]) > 0 for c in comparison)
    summary = capsys.readouterr().out
    assert "1 contradicted by a published tool" in summary and "largest overrun of a timeout" in summary
    text = (out / "results" / "net_near.txt").read_text()
    assert text.startswith(expected_near)
    if expected_near == "violated":
        x = [float(line.split()[-1].rstrip(")")) for line in text.splitlines()[1:3]]
        y = net.forward(np.array(x))
        assert y[0] <= y[1] and y[0] <= y[2] + 100 and "(Y_2 " in text


def Path_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def test_one_instance_mode_and_errors(benchmark, tmp_path):
    folder, _ = benchmark
    result = tmp_path / "result.txt"
    assert main(["vnncomp", "--onnx", str(folder / "net.npz"), "--vnnlib", str(folder / "far.vnnlib"),
                 "--result-file", str(result), "--timeout", "30"]) == 0
    assert result.read_text().strip() == "holds"
    (folder / "broken.vnnlib").write_text("(assert (<= Y_0 1)")
    assert main(["vnncomp", "--onnx", str(folder / "net.npz"), "--vnnlib", str(folder / "broken.vnnlib"),
                 "--result-file", str(result), "--timeout", "30"]) == 1
    assert result.read_text().strip() == "error"
    assert main(["vnncomp", "--onnx", str(folder / "net.npz")]) == 2


def test_published_results_match_gzipped_networks(tmp_path):
    """The results CSVs name ``net.onnx`` where the benchmark ships ``net.onnx.gz``."""
    from qcqp.app.vnncomp import compare, read_published

    published = tmp_path / "tool.csv"
    published.write_text("nn4sys,./nets/a.onnx,./specs/p.vnnlib,1.0,unsat,2.0\n")
    ours = [{"onnx": "nets/a.onnx.gz", "vnnlib": "specs/p.vnnlib", "result": "violated"}]
    (row,) = compare(ours, {"tool": read_published(published)})
    assert row["published"]["tool"] == ("holds", 2.0) and row["contradiction"]
