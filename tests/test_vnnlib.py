"""VNN-LIB read as the standard defines it: the conjunction of all asserts, any nesting, unions of boxes."""

import gzip
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qcqp import InputError
from qcqp.app.certify import Options, analyse
from qcqp.frontends.formula import surely_satisfied
from qcqp.frontends.network import Network
from qcqp.frontends.vnnlib import load_vnnlib

HEADER = "".join(f"(declare-const X_{i} Real)\n" for i in range(2)) + \
    "".join(f"(declare-const Y_{j} Real)\n" for j in range(3))
BOX = "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= X_1 -1))\n(assert (<= X_1 1))\n"


def _identity_net() -> Network:
    """Y = (X_0, X_1, X_0 + X_1 + 1/64): outputs known in closed form."""
    return Network((np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),), (np.array([0.0, 0.0, 1 / 64]),), ())


def _write(tmp_path, text, name="p.vnnlib"):
    path = tmp_path / name
    path.write_text(HEADER + text)
    return path


def test_asserts_form_a_conjunction(tmp_path):
    # Unsafe iff Y_0 <= Y_1 and Y_0 <= Y_2: the point (0.5, -0.5) meets the first atom only.
    path = _write(tmp_path, BOX + "(assert (<= Y_0 Y_2))\n(assert (<= Y_0 Y_1))\n")
    prop = load_vnnlib(path, 2, 3)
    (part,) = prop.parts
    assert len(part.disjuncts) == 1 and len(part.disjuncts[0]) == 2
    net = _identity_net()
    assert part.counterexample(net, np.array([0.5, -0.5])) is None      # Y = (0.5, -0.5, ~0): Y_0 <= Y_2 is false
    assert part.counterexample(net, np.array([-0.5, 0.5])) is not None  # Y = (-0.5, 0.5, ~0): both hold
    rows = analyse(net, prop, ["complete"], Options(time_limit=math.inf))
    assert rows["complete"]["status"] == "falsified"


def test_the_attack_seeks_a_conjunction_whole(tmp_path):
    """Unsafe iff Y_0 = X_0 − 0.5 <= 0 and Y_1 = 0.45 − X_0 <= 0: a strip no single atom's descent
    stays in (each drives X_0 to the opposite end); descending the larger atom finds it."""
    net = Network((np.eye(2), np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])),
                  (np.zeros(2), np.array([-0.5, 0.45, 0.0])), ("relu",))
    box = "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n"
    prop = load_vnnlib(_write(tmp_path, box + "(assert (<= Y_0 0))\n(assert (<= Y_1 0))\n"), 2, 3)
    row = analyse(net, prop, ["pgd"], Options(pgd_restarts=2))["pgd"]
    assert row["status"] == "falsified"
    x = np.array(row["counterexample"])
    assert 0.45 <= x[0] <= 0.5


def test_conjunction_that_never_holds_is_certified(tmp_path):
    # Y_0 <= Y_1 - 0.5 and Y_1 <= Y_0 - 0.5 cannot both hold; each alone can.
    path = _write(tmp_path, BOX + "(assert (<= Y_0 (- Y_1 0.5)))\n(assert (<= Y_1 (+ Y_0 (* -1 0.5))))\n")
    rows = analyse(_identity_net(), load_vnnlib(path, 2, 3), ["complete", "lp"], Options(time_limit=math.inf))
    assert all(row["status"] != "falsified" for row in rows.values())
    assert rows["complete"]["status"] == "certified"


def test_union_of_input_boxes_gives_one_part_each(tmp_path):
    text = ("(assert (or (and (>= X_0 -1) (<= X_0 -0.5) (>= X_1 0) (<= X_1 1))\n"
            "            (and (>= X_0 0.5) (<= X_0 1) (>= X_1 0) (<= X_1 1))))\n"
            "(assert (or (and (>= Y_0 0.9)) (and (<= Y_0 -0.9))))\n")
    prop = load_vnnlib(_write(tmp_path, text), 2, 3)
    assert len(prop.parts) == 2 and all(len(p.disjuncts) == 2 for p in prop.parts)
    assert sorted(p.box.lower[0] for p in prop.parts) == [-1.0, 0.5]
    # X_0 = 0 lies in neither box: never a counterexample, even with Y_0 = 0 nowhere near.
    assert all(p.counterexample(_identity_net(), np.array([0.0, 0.5])) is None for p in prop.parts)
    rows = analyse(_identity_net(), prop, ["complete"], Options(time_limit=math.inf))
    assert rows["complete"]["status"] == "falsified"
    assert abs(rows["complete"]["counterexample"][0]) >= 0.9


def test_region_between_boxes_is_certified(tmp_path):
    text = ("(assert (or (and (>= X_0 -1) (<= X_0 -0.5) (>= X_1 0) (<= X_1 1))\n"
            "            (and (>= X_0 0.5) (<= X_0 1) (>= X_1 0) (<= X_1 1))))\n"
            "(assert (<= Y_0 0.4))\n(assert (>= Y_0 -0.4))\n")
    prop = load_vnnlib(_write(tmp_path, text), 2, 3)
    rows = analyse(_identity_net(), prop, ["complete"], Options(time_limit=math.inf))
    assert rows["complete"]["status"] == "certified"


def test_inexact_decimal_bounds_round_outward_for_proofs_and_inward_for_counterexamples(tmp_path):
    text = "(assert (>= X_0 0.1))\n(assert (<= X_0 0.3))\n(assert (>= X_1 -1))\n(assert (<= X_1 1))\n" \
        "(assert (<= Y_0 0.5))\n"
    (part,) = load_vnnlib(_write(tmp_path, text), 2, 3).parts
    tenth, three_tenths = Fraction("0.1"), Fraction("0.3")
    assert Fraction(part.box.lower[0]) < tenth <= Fraction(part.inner.lower[0])
    assert Fraction(part.inner.upper[0]) <= three_tenths < Fraction(part.box.upper[0])
    assert part.box.upper[0] - part.box.lower[0] > 0.2 > part.inner.upper[0] - part.inner.lower[0]
    # The outer corner lies outside the file's region; the checked counterexample moves inside it.
    found = part.counterexample(_identity_net(), part.box.upper)
    assert found is not None and found[0] == part.inner.upper[0]


def test_not_equal_and_gz(tmp_path):
    text = BOX + "(assert (not (> Y_2 0)))\n(assert (= X_1 0.5))\n"
    path = tmp_path / "p.vnnlib.gz"
    path.write_bytes(gzip.compress((HEADER + text).encode()))
    (part,) = load_vnnlib(path, 2, 3).parts
    assert part.box.lower[1] == part.box.upper[1] == 0.5
    (((a, b),),) = part.disjuncts
    assert np.array_equal(a, [0, 0, 1]) and b == 0.0


@pytest.mark.parametrize("text, fragment", [
    (BOX + "(assert (<= (+ X_0 Y_0) 1))\n", "mixes inputs and outputs"),
    (BOX + "(assert (<= (+ X_0 X_1) 1))\n(assert (<= Y_0 1))\n", "several inputs"),
    (BOX + "(assert (<= (* Y_0 Y_1) 1))\n", "nonlinear term"),
    (BOX + "(assert (<= (* 0.1 Y_0) 1))\n", "not a binary floating-point"),
    (BOX + "(assert (ite Y_0 1 2))\n", "unsupported construct 'ite'"),
    (BOX + "".join(f"(assert (or (<= Y_0 {k}) (<= Y_1 {k})))\n" for k in range(15)), "disjunctive normal form"),
    ("(assert (>= X_0 1))\n(assert (<= X_0 0))\n(assert (>= X_1 -1))\n(assert (<= X_1 1))\n(assert (<= Y_0 1))\n",
     "input region is empty"),
])
def test_unsupported_constructs_are_refused_in_one_line(tmp_path, text, fragment):
    with pytest.raises(InputError, match=fragment):
        load_vnnlib(_write(tmp_path, text), 2, 3)


# Random formulas: the tree as written, the normal form the verifier uses and an independent
# evaluation of the generated structure agree on random points.

_ATOMS = st.tuples(st.sampled_from(["Y_0", "Y_1", "Y_2", "X_0", "X_1"]), st.sampled_from(["<=", ">="]),
                   st.integers(-8, 8).map(lambda k: k / 8))


def _trees(depth):
    leaf = _ATOMS.map(lambda a: ("atom",) + a)
    if depth == 0:
        return leaf
    return st.one_of(leaf, st.tuples(st.sampled_from(["and", "or"]), st.lists(_trees(depth - 1), min_size=1,
                                                                            max_size=3)))


def _text(tree):
    if tree[0] == "atom":
        _, var, op, c = tree
        return f"({op} {var} {c!r})"
    return f"({tree[0]} " + " ".join(_text(t) for t in tree[1]) + ")"


def _truth(tree, values):
    if tree[0] == "atom":
        _, var, op, c = tree
        return values[var] <= c if op == "<=" else values[var] >= c
    results = [_truth(t, values) for t in tree[1]]
    return all(results) if tree[0] == "and" else any(results)


@settings(max_examples=60, deadline=None)
@given(st.lists(_trees(2), min_size=1, max_size=3), st.integers(0, 2**31))
def test_normal_form_and_tree_agree_with_the_written_formula(tmp_path_factory, trees, seed):
    path = tmp_path_factory.mktemp("v") / "p.vnnlib"
    path.write_text(HEADER + BOX + "(assert (<= Y_0 2))\n" + "".join(f"(assert {_text(t)})\n" for t in trees))
    net = _identity_net()
    rng = np.random.default_rng(seed)
    try:
        prop = load_vnnlib(path, 2, 3)
    except InputError as error:  # the input atoms alone leave nothing: no point may satisfy the formula
        assert "input region is empty" in str(error)
        prop = None
    for x in rng.uniform(-1.2, 1.2, size=(30, 2)):
        x = np.round(x * 16 + 0.5) / 16 - 1 / 32  # every output off the constants k/8 by 1/64 or more: no ties
        y = net.forward(x)
        values = {"X_0": x[0], "X_1": x[1], "Y_0": y[0], "Y_1": y[1], "Y_2": y[2]}
        expected = all(abs(x) <= 1) and all(_truth(t, values) for t in trees)
        if prop is None:
            assert not expected
            continue
        assert surely_satisfied(prop.formula, x, y, y) == expected
        in_dnf = any(part.box.contains(x) and any(all(a @ y + b <= 0 for a, b in atoms) for atoms in part.disjuncts)
                     for part in prop.parts)
        assert in_dnf == expected
        assert any(part.counterexample(net, x) is not None for part in prop.parts) == expected
