"""Bad input everywhere it enters: one line naming the input, exit code 2, no result file.

``docs/reliability.md`` lists these cases with the message a user sees
(regenerate with ``python tests/test_bad_input.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from qcqp.app.cli import main


def _onnx(path: Path, dims=(1, 3), op="Relu", chain=True):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    W = numpy_helper.from_array(np.ones((2, 3), np.float32), "W")
    nodes = [helper.make_node("Gemm", ["x", "W"], ["h"], transB=1),
             helper.make_node(op, ["h" if chain else "ghost"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [W])
    onnx.save(helper.make_model(graph), path)


def _vnnlib(path: Path, text: str):
    path.write_text(text)


GOOD_SPEC = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const X_2 Real)\n" + "".join(
    f"(assert (>= X_{i} 0.1))\n(assert (<= X_{i} 0.2))\n" for i in range(3))


def cases(d: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (CLI arguments, expected fragment of the one-line error)."""
    net, x, y = str(d / "net.npz"), str(d / "X.npy"), str(d / "y.npy")
    common = ["--method", "lp", "--out", str(d / "r.json"), "--quiet"]
    return {
        "model file missing": (["certify", str(d / "nope.onnx"), "--inputs", x, "--labels", y, "--eps", "0.1"],
                               "no such model file"),
        "unknown model suffix": (["certify", str(d / "X.npy"), "--inputs", x, "--labels", y, "--eps", "0.1"],
                                 "unknown model format"),
        "npz without W0/b0": (["certify", str(d / "empty.npz"), "--inputs", x, "--labels", y, "--eps", "0.1"],
                              "expected arrays W0, b0"),
        "npz corrupt": (["certify", str(d / "corrupt.npz"), "--inputs", x, "--labels", y, "--eps", "0.1"],
                        "not a readable .npz"),
        "npz NaN weights": (["certify", str(d / "nan.npz"), "--inputs", x, "--labels", y, "--eps", "0.1"],
                            "NaN or infinite weights"),
        "npz layer shapes disagree": (["certify", str(d / "shapes.npz"), "--inputs", x, "--labels", y, "--eps", "0.1"],
                                      "expects 5 inputs but layer 0 gives 4"),
        "ONNX unsupported op": (["certify", str(d / "softplus.onnx"), "--inputs", x, "--labels", y, "--eps", "0.1"],
                                "unsupported ONNX op 'Softplus'"),
        "ONNX dynamic input shape": (["certify", str(d / "dynamic.onnx"), "--inputs", x, "--labels", y, "--eps", "0.1"],
                                     "dynamic or unknown shape"),
        "ONNX node reads a tensor nobody makes": (["certify", str(d / "branch.onnx"), "--inputs", x, "--labels", y,
                                                   "--eps", "0.1"], "'ghost' is not produced by any earlier node"),
        "ONNX file corrupt": (["certify", str(d / "corrupt.onnx"), "--inputs", x, "--labels", y, "--eps", "0.1"],
                              "not a readable ONNX model"),
        "eps < 0": (["certify", net, "--inputs", x, "--labels", y, "--eps", "-0.1"], "eps must be a finite number"),
        "eps NaN": (["certify", net, "--inputs", x, "--labels", y, "--eps", "nan"], "eps must be a finite number"),
        "inputs of wrong size": (["certify", net, "--inputs", str(d / "wide.npy"), "--labels", y, "--eps", "0.1"],
                                 "inputs has size 5 but the network expects 4"),
        "inputs with NaN": (["certify", net, "--inputs", str(d / "nanx.npy"), "--labels", y, "--eps", "0.1"],
                            "contains NaN"),
        "inputs outside [0, 1]": (["certify", net, "--inputs", str(d / "big.npy"), "--labels", y, "--eps", "0.1"],
                                  "outside the data domain"),
        "labels out of range": (["certify", net, "--inputs", x, "--labels", str(d / "bad_y.npy"), "--eps", "0.1"],
                                "out of range"),
        "labels not integers": (["certify", net, "--inputs", x, "--labels", str(d / "float_y.npy"), "--eps", "0.1"],
                                "labels must be integers"),
        "labels count differs": (["certify", net, "--inputs", x, "--labels", str(d / "short_y.npy"), "--eps", "0.1"],
                                 "3 inputs but 2 labels"),
        "inputs file not .npy": (["certify", net, "--inputs", str(d / "net.npz"), "--labels", y, "--eps", "0.1"],
                                 "not a readable .npy"),
        "missing --labels": (["certify", net, "--inputs", x, "--eps", "0.1"], "--labels is required"),
        "missing --eps": (["certify", net, "--inputs", x, "--labels", y], "--eps is required"),
        "unknown method": (["certify", net, "--inputs", x, "--labels", y, "--eps", "0.1", "--method", "magic"],
                           "unknown method 'magic'"),
        "inputs array empty": (["certify", net, "--inputs", str(d / "empty.npy"), "--labels", y, "--eps", "0.1"],
                               "the array is empty"),
        "bad model and bad method together": (["certify", str(d / "nope.onnx"), "--inputs", x, "--labels", y,
                                               "--eps", "0.1", "--method", "magic"], "no such model file"),
        "unknown SDP solver": (["certify", net, "--inputs", x, "--labels", y, "--eps", "0.1", "--method", "sdp",
                                "--solver", "nope"], "unknown SDP solver 'nope'"),
        "--solver without sdp": (["certify", net, "--inputs", x, "--labels", y, "--eps", "0.1", "--method", "lp",
                                  "--solver", "sdpa"], "--solver applies to --method sdp only"),
        "--jobs 0": (["certify", net, "--inputs", x, "--labels", y, "--eps", "0.1", "--jobs", "0"],
                     "--jobs must be at least 1"),
        "--timeout 0": (["certify", net, "--inputs", x, "--labels", y, "--eps", "0.1", "--timeout", "0"],
                        "--timeout must be > 0"),
        "VNNLIB missing file": (["certify", net, "--spec", str(d / "nope.vnnlib")], "no such VNNLIB file"),
        "VNNLIB unbalanced parentheses": (["certify", net, "--spec", str(d / "unbalanced.vnnlib")], "unbalanced"),
        "VNNLIB variable beyond the network": (["certify", net, "--spec", str(d / "toomany.vnnlib")],
                                              "X_9 exceeds the network's 4 inputs"),
        "VNNLIB input without bounds": (["certify", net, "--spec", str(d / "unbounded.vnnlib")],
                                        "X_3 has no lower or upper bound"),
        "VNNLIB no output constraint": (["certify", net, "--spec", str(d / "nooutput.vnnlib")],
                                        "no output constraint"),
        "VNNLIB bad number": (["certify", net, "--spec", str(d / "badnumber.vnnlib")], "expected a number"),
        "VNNLIB unsupported command": (["certify", net, "--spec", str(d / "command.vnnlib")],
                                       "unsupported command 'define-fun'"),
    }, common


@pytest.fixture
def inputs(tmp_path):
    from conftest import random_net

    from qcqp.frontends.loaders import save_npz

    save_npz(random_net([4, 5, 3], 0), tmp_path / "net.npz")
    np.savez(tmp_path / "empty.npz", other=np.zeros(2))
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip")
    (tmp_path / "corrupt.onnx").write_bytes(b"\x00\x01garbage")
    np.savez(tmp_path / "nan.npz", W0=np.full((3, 4), np.nan), b0=np.zeros(3))
    np.savez(tmp_path / "shapes.npz", W0=np.ones((4, 4)), b0=np.zeros(4), W1=np.ones((3, 5)), b1=np.zeros(3))
    _onnx(tmp_path / "softplus.onnx", op="Softplus")
    _onnx(tmp_path / "dynamic.onnx", dims=("N", "M"))
    _onnx(tmp_path / "branch.onnx", chain=False)
    x = np.full((3, 4), 0.5)
    np.save(tmp_path / "X.npy", x)
    np.save(tmp_path / "y.npy", np.array([0, 1, 2]))
    np.save(tmp_path / "wide.npy", np.zeros((3, 5)))
    np.save(tmp_path / "nanx.npy", np.full((3, 4), np.nan))
    np.save(tmp_path / "big.npy", np.full((3, 4), 3.0))
    np.save(tmp_path / "bad_y.npy", np.array([0, 1, 7]))
    np.save(tmp_path / "float_y.npy", np.array([0.5, 1, 2]))
    np.save(tmp_path / "short_y.npy", np.array([0, 1]))
    np.save(tmp_path / "empty.npy", np.zeros((0, 4)))
    spec4 = GOOD_SPEC.replace("X_2 Real)\n", "X_2 Real)\n(declare-const X_3 Real)\n") + \
        "(assert (>= X_3 0.1))\n(assert (<= X_3 0.2))\n"
    _vnnlib(tmp_path / "unbalanced.vnnlib", spec4 + "(assert (<= Y_0 Y_1)")
    _vnnlib(tmp_path / "toomany.vnnlib", spec4 + "(assert (<= X_9 0.3))\n(assert (<= Y_0 Y_1))\n")
    _vnnlib(tmp_path / "unbounded.vnnlib", GOOD_SPEC + "(assert (<= Y_0 Y_1))\n")
    _vnnlib(tmp_path / "nooutput.vnnlib", spec4)
    _vnnlib(tmp_path / "badnumber.vnnlib", spec4.replace("0.2", "zero.two", 1) + "(assert (<= Y_0 Y_1))\n")
    _vnnlib(tmp_path / "command.vnnlib", spec4 + "(define-fun f () Real 1.0)\n")
    return tmp_path


def test_every_bad_input_gives_one_line_and_exit_2(inputs, capsys):
    table, common = cases(inputs)
    for name, (args, fragment) in table.items():
        extra = [a for a in common if a not in args] if "--method" not in args else common[2:]
        code = main(args + extra)
        err = capsys.readouterr().err.strip()
        assert code == 2, name
        assert fragment in err, (name, err)
        assert len(err.splitlines()) == 1, (name, err)
        assert not (inputs / "r.json").exists(), name


@pytest.mark.parametrize("where, fragment", [("X.npy/r.json", "cannot write there")])
def test_unwritable_out_is_one_line(inputs, capsys, where, fragment):
    """--out below a file (or in a folder without permission) is refused before any work."""
    args = ["certify", str(inputs / "net.npz"), "--inputs", str(inputs / "X.npy"), "--labels",
            str(inputs / "y.npy"), "--eps", "0.1", "--method", "lp", "--quiet", "--out", str(inputs / where)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "--out" in err and len(err.splitlines()) == 1


def test_missing_out_folder_is_created(inputs):
    out = inputs / "new" / "deeper" / "r.json"
    assert main(["certify", str(inputs / "net.npz"), "--inputs", str(inputs / "X.npy"), "--labels",
                 str(inputs / "y.npy"), "--eps", "0.1", "--method", "lp", "--quiet", "--out", str(out)]) == 0
    assert out.exists() and out.with_suffix(".csv").exists()


def test_onnx_without_the_onnx_package_is_one_line(inputs, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if onnx were not installed
    args = ["certify", str(inputs / "softplus.onnx"), "--inputs", str(inputs / "X.npy"), "--labels",
            str(inputs / "y.npy"), "--eps", "0.1", "--method", "lp", "--quiet", "--out", str(inputs / "r.json")]
    assert main(args) == 2
    assert "pip install onnx" in capsys.readouterr().err


def test_nd_inputs_are_flattened_with_a_note(inputs, capsys):
    np.save(inputs / "square.npy", np.full((3, 2, 2), 0.5))
    assert main(["certify", str(inputs / "net.npz"), "--inputs", str(inputs / "square.npy"), "--labels",
                 str(inputs / "y.npy"), "--eps", "0.1", "--method", "lp", "--quiet",
                 "--out", str(inputs / "r.json")]) == 0
    assert "flattened to (3, 4)" in capsys.readouterr().err


if __name__ == "__main__":  # print the table for docs/reliability.md
    import contextlib
    import io
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        inputs.__wrapped__(d)
        table, common = cases(d)
        print("| input | what the user sees (stderr, exit code 2) |\n|---|---|")
        for name, (args, _) in table.items():
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                extra = [a for a in common if a not in args] if "--method" not in args else common[2:]
                main(args + extra)
            print(f"| {name} | `{err.getvalue().strip().replace(tmp, '…')}` |")
