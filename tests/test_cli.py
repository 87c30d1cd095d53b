"""The ``qcqp`` command line: contract round trip and one-line errors with exit code 2."""

import json
import re
import time

import numpy as np
import pytest
from conftest import random_net

from qcqp.app.cli import main
from qcqp.frontends.loaders import save_npz


@pytest.fixture
def model(tmp_path):
    net = random_net([4, 6, 3], 5)
    save_npz(net, tmp_path / "net.npz")
    x = np.random.default_rng(0).random((3, 4))
    np.save(tmp_path / "X.npy", x)
    np.save(tmp_path / "y.npy", net.forward(x).argmax(axis=1))
    return tmp_path


@pytest.mark.parametrize("method", ["pgd", "lp", "sdp", "exact"])
def test_certify_round_trip(model, method):
    out = model / "results.json"
    code = main(["certify", str(model / "net.npz"), "--inputs", str(model / "X.npy"), "--labels",
                 str(model / "y.npy"), "--eps", "0.05", "--method", method, "--out", str(out), "--quiet"])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["method"] == method and len(data["instances"]) == 3
    for row in data["instances"]:
        assert set(row) >= {"index", "label", "status", "margin_bound", "time_s"}
        assert (row["margin_bound"] > 0) == (row["status"] == "certified")
        if row["status"] == "falsified":
            assert "counterexample" in row


def _bad_vnnlib(path):
    path.write_text("(declare-const X_0 Real)\n(assert (<= X_0 0.5)\n")
    return str(path)


@pytest.mark.parametrize("args, message", [
    (lambda d: ["--eps", "-0.1"], "eps"),
    (lambda d: ["--eps", "0.1", "--method", "magic"], "unknown method"),
    (lambda d: ["--eps", "0.1", "--labels", str(d / "bad_labels.npy")], "out of range"),
    (lambda d: ["--eps", "0.1", "--inputs", str(d / "wide.npy")], "expects 4"),
])
def test_bad_cli_input_exits_2_without_results(model, capsys, args, message):
    np.save(model / "bad_labels.npy", np.array([0, 1, 9]))
    np.save(model / "wide.npy", np.zeros((3, 5)))
    base = ["certify", str(model / "net.npz"), "--inputs", str(model / "X.npy"), "--labels",
            str(model / "y.npy"), "--method", "lp", "--out", str(model / "r.json"), "--quiet"]
    extra = args(model)
    for flag in ("--inputs", "--labels"):
        if flag in extra:
            i = base.index(flag)
            del base[i:i + 2]
    assert main(base + extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (model / "r.json").exists()


def test_malformed_vnnlib_and_nan_weights(model, capsys, tmp_path):
    spec = _bad_vnnlib(tmp_path / "bad.vnnlib")
    assert main(["certify", str(model / "net.npz"), "--spec", spec, "--method", "lp", "--quiet"]) == 2
    assert "unbalanced" in capsys.readouterr().err
    np.savez(tmp_path / "nan.npz", W0=np.array([[np.nan]]), b0=np.zeros(1))
    assert main(["certify", str(tmp_path / "nan.npz"), "--inputs", str(model / "X.npy"), "--labels",
                 str(model / "y.npy"), "--eps", "0.1", "--method", "lp", "--quiet"]) == 2
    assert "NaN" in capsys.readouterr().err


def test_vnncomp_vnnlib_with_lp(vnncomp, tmp_path):
    """The published answer is never contradicted: a violated property comes back falsified with
    a point onnxruntime confirms (in the box, the label not the unique top class); one that
    holds is never falsified, and an unproven one states its LP bound."""
    model, spec, label, answer = vnncomp
    out = tmp_path / "r.json"
    code = main(["certify", str(model), "--spec", str(spec), "--method", "lp", "--out", str(out), "--quiet",
                 "--pgd-steps", "20", "--pgd-restarts", "2"])
    assert code == 0
    row = json.loads(out.read_text())["instances"][0]
    assert row["label"] == label
    if answer == "holds":
        assert row["status"] == "certified" or (row["status"] == "unknown" and "lp bound" in row["reason"])
        return
    assert row["status"] == "falsified"
    ort = pytest.importorskip("onnxruntime")
    x = np.array(row["counterexample"])
    bounds = re.findall(r"\(assert \((<=|>=) X_(\d+) (\S+)\)\)", spec.read_text())  # the file's input box
    assert len(bounds) == 2 * x.size
    for sense, i, value in bounds:
        assert (x[int(i)] <= float(value)) if sense == "<=" else (x[int(i)] >= float(value))
    session = ort.InferenceSession(str(model))
    name = session.get_inputs()[0].name
    y = session.run(None, {name: x.astype(np.float32).reshape(session.get_inputs()[0].shape)})[0].ravel()
    assert np.delete(y, label).max() >= y[label]


def _args(model, out, *extra):
    return ["certify", str(model / "net.npz"), "--inputs", str(model / "X.npy"), "--labels", str(model / "y.npy"),
            "--eps", "0.05", "--method", "lp", "--out", str(out), "--quiet", *extra]


def test_resume_repeats_nothing_and_loses_nothing(model, monkeypatch):
    import qcqp.app.dataset as dataset

    full = model / "full.json"
    assert main(_args(model, full)) == 0
    calls = []
    real = dataset.analyse

    def dying(net, inst, methods, options):
        if inst.index == 2:
            raise KeyboardInterrupt  # the run is killed while working on instance 2
        calls.append(inst.index)
        return real(net, inst, methods, options)

    out = model / "resumed.json"
    monkeypatch.setattr(dataset, "analyse", dying)
    with pytest.raises(KeyboardInterrupt):
        main(_args(model, out))
    assert not out.exists() and out.with_suffix(".journal.jsonl").exists()
    calls.clear()
    monkeypatch.setattr(dataset, "analyse", lambda *a: (calls.append(a[1].index), real(*a))[1])
    assert main(_args(model, out, "--resume")) == 0
    assert calls == [2]
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in json.loads(full.read_text())["instances"]]
    again = [{k: v for k, v in r.items() if k != "time_s"} for r in json.loads(out.read_text())["instances"]]
    assert strip == again


def test_failure_in_one_instance_is_an_error_row_and_exit_1(model, monkeypatch, capsys):
    import qcqp.app.dataset as dataset

    real = dataset.analyse

    def flaky(net, inst, methods, options):
        if inst.index == 1:
            time.sleep(0.05)
            raise MemoryError("Unable to allocate 2.53 GiB")
        return real(net, inst, methods, options)

    monkeypatch.setattr(dataset, "analyse", flaky)
    out = model / "r.json"
    assert main(_args(model, out)) == 1
    assert "instance 1: MemoryError: Unable to allocate" in capsys.readouterr().err
    rows = json.loads(out.read_text())["instances"]
    assert rows[1]["status"] == "error" and rows[1]["margin_bound"] is None and rows[1]["time_s"] >= 0.05
    assert [r["status"] for r in rows].count("error") == 1 and len(rows) == 3


def test_dask_run_matches_serial(model):
    pytest.importorskip("dask.distributed")
    serial, parallel = model / "serial.json", model / "parallel.json"
    assert main(_args(model, serial)) == 0
    assert main(_args(model, parallel, "--jobs", "2")) == 0
    a = [{k: v for k, v in r.items() if k != "time_s"} for r in json.loads(serial.read_text())["instances"]]
    b = [{k: v for k, v in r.items() if k != "time_s"} for r in json.loads(parallel.read_text())["instances"]]
    assert a == b


def test_all_targets_gives_every_method_its_own_bound_per_target(model):
    out = model / "cmp" / "results.json"
    assert main(["certify", str(model / "net.npz"), "--inputs", str(model / "X.npy"), "--labels",
                 str(model / "y.npy"), "--eps", "0.3", "--method", "lp,sdp,exact", "--all-targets",
                 "--out", str(out), "--quiet", "--no-plots"]) == 0
    rows = {m: json.loads((out.parent / f"results.{m}.json").read_text())["instances"] for m in ("lp", "sdp", "exact")}
    for i in range(3):
        targets = {m: rows[m][i]["target_bounds"] for m in rows}
        assert all(b is not None for m in targets for atoms in targets[m] for b in atoms)
        for lp, sdp, exact in zip(*(np.ravel(targets[m]) for m in ("lp", "sdp", "exact"))):
            assert lp <= sdp + 1e-6 and sdp <= exact + 1e-5  # lower bounds; exact is loosened by 1e-6 for HiGHS
    header, first = (out.parent / "results.sdp.csv").read_text().splitlines()[:2]
    assert header.endswith("target_bounds") and first.count(",") >= 7


def test_report_labels_crown_and_aligns_bins_at_zero(model, capsys):
    from qcqp.app.report import zero_aligned_bins

    for margins in (np.array([-0.81, 0.063, 2.0]), np.array([0.5, 0.7]), np.array([-3.0, -1.0]), np.array([0.0])):
        bins = zero_aligned_bins(margins, 24)
        assert 0.0 in bins and bins[0] <= margins.min() and bins[-1] >= margins.max() and len(bins) >= 2
    out = model / "run" / "results.json"
    assert main(["certify", str(model / "net.npz"), "--inputs", str(model / "X.npy"), "--labels",
                 str(model / "y.npy"), "--eps", "0.05", "--method", "pgd,lp", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "pgd+crown" in printed and "CROWN" in printed
    for name in ("results.pgd.json", "results.pgd.csv", "results.lp.json", "results.lp.csv", "results.json",
                 "figure1_pgd_margins.png", "figure2_accuracy.png"):
        assert f"wrote {out.parent / name}" in printed, name


def test_shipped_models_are_taken_by_name(tmp_path, capsys):
    out = tmp_path / "cnn.json"
    assert main(["certify", "digits_cnn.onnx", "--dataset", "digits", "--limit", "2", "--method", "lp",
                 "--out", str(out), "--quiet", "--no-plots"]) == 0
    assert len(json.loads(out.read_text())["instances"]) == 2
    assert main(["certify", "digits_cnn2.onnx", "--dataset", "digits", "--method", "lp", "--quiet"]) == 2
    assert "digits_cnn2.onnx: no such model file" in capsys.readouterr().err
