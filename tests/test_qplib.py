"""The QPLIB reader: semantics against hand-written formulas, exact optima, one-line errors.

The fixtures are small instances written for these tests; ``benchmarks/qplib.py`` checks the
reader against QPLIB's own published solutions when a QPLIB directory is at hand.
"""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from qcqp import InputError
from qcqp.app.cli import main
from qcqp.frontends.problem_files import read_problem

FIXTURES = Path(__file__).parent / "fixtures"


def _tiny_by_hand(v: np.ndarray) -> tuple[float, float]:
    """TINY_QCQ's objective and largest violation, written out from its comment line."""
    x1, x2, x3 = v
    objective = x1**2 - 1.5 * x1 * x2 + 0.5 * x2 * x3 + 0.5 * x1 + 0.5 * x2 - x3 + 2.0
    violations = [abs(x1 + x2 - 1.0), 0.5 * x1**2 + x2 * x3 - x3 - 1.5, -0.5 - x3, x3 - 1.5,
                  -1 - x1, x1 - 2, -1 - x2, x2 - 2, -x3, x3 - 2]
    return objective, max(0.0, *violations)


def test_qplib_objective_constraints_and_bounds_match_the_formulas():
    ir = read_problem(FIXTURES / "tiny_qcq.qplib").compile()
    assert ir.n == 3 and ir.sign == -1
    rng = np.random.default_rng(0)
    for v in rng.uniform(-2, 3, (200, 3)):
        objective, violation = _tiny_by_hand(v)
        assert ir.user_value(ir.objective_value(v)) == pytest.approx(objective, abs=1e-12)
        assert ir.max_violation(v) == pytest.approx(violation, abs=1e-12)


def test_binary_qplib_instance_solves_to_the_brute_force_optimum():
    path = FIXTURES / "maxcut_qbn.qplib"
    problem = read_problem(path)
    ir = problem.compile()
    values = [ir.objective_value(np.array(x, float)) for x in itertools.product((0, 1), repeat=ir.n)]
    result = problem.solve_globally(time_limit=math.inf)
    assert result.status.value == "optimal"
    assert result.value == pytest.approx(max(values), abs=1e-6)
    assert result.bound >= max(values) - 1e-9
    assert set(np.round(result.point["x"], 6)) <= {0.0, 1.0}


def test_integer_variables_are_exact_through_their_binary_expansion():
    """MIXED_QGL: x2 integer in [-1, 4] (three bits), x3 binary; the optimum by enumeration."""
    problem = read_problem(FIXTURES / "mixed_qgl.qplib")
    assert [var.name for var in problem.compile().variables] == ["x", "bits"]
    best = np.inf
    for x2, x3 in itertools.product(range(-1, 5), (0, 1)):
        for x1 in (max(0.0, 2.0 - x2 - x3), 1.5):  # linear in x1: an end of its feasible interval
            if x1 <= 1.5:
                best = min(best, x2**2 - 5.2 * x2 + x1 * x2 + 3 * x1 - 2 * x3)
    result = problem.solve_globally(time_limit=math.inf)
    assert result.status.value == "optimal"
    assert result.value == pytest.approx(best, abs=1e-6)
    assert result.bound <= best + 1e-9  # a lower bound: the problem minimises
    x = result.point["x"]
    assert x[1] == pytest.approx(round(x[1]), abs=1e-7) and x[2] == pytest.approx(round(x[2]), abs=1e-7)


def test_solve_cli_reads_qplib_files(tmp_path):
    out = tmp_path / "r.json"
    assert main(["solve", str(FIXTURES / "tiny_qcq.qplib"), "--global", "--quiet", "--out", str(out)]) == 0
    row = json.loads(out.read_text())
    assert row["status"] == "optimal" and row["bound"] <= row["value"] + 1e-9
    objective, violation = _tiny_by_hand(np.array(row["point"]["x"]))
    assert violation <= 1e-9 and objective == pytest.approx(row["value"], abs=1e-9)


TINY = (FIXTURES / "tiny_qcq.qplib").read_text().splitlines()


def _edit(line: int, text: str | None) -> str:
    """TINY_QCQ with line ``line`` (1-based) replaced by ``text`` (removed when ``None``)."""
    lines = list(TINY)
    if text is None:
        del lines[line - 1]
    else:
        lines[line - 1] = text
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, message", [
    (_edit(2, "QXQ"), ":2: unknown problem type 'QXQ'"),
    (_edit(3, "optimize"), ":3: expected 'minimize' or 'maximize'"),
    (_edit(7, "4 1 -3.0"), ":7: index 4 of quadratic terms in the objective is outside 1..3"),
    (_edit(8, "3 2 one"), ":8: expected a number for a value of quadratic terms in the objective"),
    (_edit(13, "nan # objective constant"), ":13: expected a number for the objective constant, got 'nan'"),
    (_edit(15, "2 3 2"), ":15: expected an entry of quadratic terms in the constraints (4 fields)"),
    (_edit(43, None), ":42: file ends where the number of non-default constraint names was expected"),
    (_edit(42, "1"), ":42: expected an entry of variable names (2 fields), got '1'"),
    ("\n".join(TINY) + "\n7 # stray\n", ":44: unexpected content after the constraint names"),
    (_edit(25, "1 2.0"), "constraint 1 has left-hand side 2 > right-hand side 1"),
])
def test_malformed_qplib_files_name_the_line(tmp_path, capsys, text, message):
    path = tmp_path / "bad.qplib"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_problem(path)
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def _linear_qcl(lhs: str, rhs: str, upper: str) -> str:
    """min x1 x2 s.t. ``lhs <= x1 + 2 x2 <= rhs``, ``0 <= x <= upper`` (QPLIB text)."""
    return "\n".join(["T", "QCL", "minimize", "2", "1", "1", "2 1 2.0", "0.0", "0", "0.0", "2", "1 1 1.0",
                      "1 2 2.0", "1.0E+30", lhs, "0", rhs, "0", "0.0", "0", upper, "0", "0.0", "0", "0.0", "0",
                      "0.0", "0", "0", "0"]) + "\n"


def test_free_variables_get_the_bounds_the_linear_rows_imply(tmp_path):
    path = tmp_path / "free.qplib"
    path.write_text(_linear_qcl("-1.0E+30", "4.0", "1.0E+30"))  # x >= 0, x1 + 2 x2 <= 4: x1 <= 4, x2 <= 2
    problem = read_problem(path)
    ir = problem.compile()
    assert np.all(ir.upper >= [4.0, 2.0]) and ir.upper == pytest.approx([4.0, 2.0], rel=1e-12)
    assert problem.solve("sdp").bound <= 0.0 + 1e-7  # min x1 x2 = 0 at x = 0: a lower bound below it
    path.write_text(_linear_qcl("3.5", "1.0E+30", "1.0"))  # x1 + 2 x2 >= 3.5 on [0, 1]²: x1 >= 1.5 > 1
    with pytest.raises(InputError, match="infeasible: they imply 1.5 <= x1 <= 1"):
        read_problem(path)


QUADRATIC_ROW = "\n".join([  # min -x1 s.t. x1 + x2² - x2 x3 <= 4, x1 >= 0 free above, x2 in [-1, 2], x3 in [0, 1]
    "Q_ROW", "LCQ", "minimize", "3", "1", "0.0", "1", "1 -1.0", "0.0", "2", "1 2 2 2.0", "1 3 2 -2.0", "1",
    "1 1 1.0", "1.0E+30", "-1.0E+30", "0", "4.0", "0", "0.0", "1", "2 -1.0", "1.0E+30", "2", "2 2.0", "3 1.0",
    "0.0", "0", "0.0", "0", "0.0", "0", "0", "0"]) + "\n"


def test_free_variables_get_the_bounds_quadratic_rows_imply(tmp_path):
    """x1 + x2² − x2 x3 <= 4 over x2 in [−1, 2], x3 in [0, 1]: the quadratic part's interval
    starts at −2 (x2² >= 0, x2 x3 <= 2), so x1 <= 6 (the true largest x1 is 4.25) — and every
    feasible point keeps within the implied box."""
    path = tmp_path / "row.qplib"
    path.write_text(QUADRATIC_ROW)
    problem = read_problem(path)
    ir = problem.compile()
    assert ir.upper[0] >= 6.0 and ir.upper[0] == pytest.approx(6.0, rel=1e-12)
    rng = np.random.default_rng(0)
    points = rng.uniform([0.0, -1.0, 0.0], [10.0, 2.0, 1.0], (20000, 3))
    feasible = points[points[:, 0] + points[:, 1] ** 2 - points[:, 1] * points[:, 2] <= 4.0]
    assert feasible[:, 0].max() > 4.0 and np.all(feasible <= ir.upper) and np.all(feasible >= ir.lower)
    assert problem.solve("sdp").bound <= -4.25 + 1e-6  # min −x1 = −4.25 (x2 = 0.5, x3 = 1): a lower bound


def test_unbounded_integer_variables_are_refused(tmp_path):
    text = (FIXTURES / "mixed_qgl.qplib").read_text().replace("2 4.0\n", "2 1.0E+400\n")
    path = tmp_path / "unbounded.qplib"
    path.write_text(text)
    with pytest.raises(InputError, match="integer variable x2 has no finite bounds"):
        read_problem(path)
