"""The benchmark scripts stay importable: a renamed function breaks them here, not in a session's measurement."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_benchmark_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # module level only: every script runs under ``if __name__ == "__main__"``
    assert module.__doc__, f"{script.name} says what it measures"


def test_qplib_benchmark_reports_gaps_points_and_a_summary(tmp_path, monkeypatch, capsys):
    """``benchmarks/qplib.py`` on the shipped QPLIB fixtures with a ``published.json``: a row per
    instance and the summary; a published value the bound crosses is flagged."""
    import json
    import shutil

    fixtures = Path(__file__).resolve().parent / "fixtures"
    for name in ("tiny_qcq", "maxcut_qbn"):
        shutil.copy(fixtures / f"{name}.qplib", tmp_path)
    # below tiny_qcq's lower bound (a minimisation) and above maxcut_qbn's upper bound: both crossed
    published = {"tiny_qcq": {"published": -1e6}, "maxcut_qbn": {"published": 1e6}}
    (tmp_path / "published.json").write_text(json.dumps(published))
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("benchmark_qplib_run", BENCHMARKS / "qplib.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["qplib.py", str(tmp_path), "--time-limit", "20", "--polish", "1"])
    module.main()
    out = capsys.readouterr().out
    assert out.count("| tiny_qcq |") == 1 and out.count("| maxcut_qbn |") == 1
    assert out.count("**WRONG SIDE**") == 2 and "bounded 2 of 2, on the wrong side 2" in out
