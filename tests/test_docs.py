"""Every code block in README.md and docs/ runs, so the docs cannot drift from the code.

```python blocks of one file run in order in one namespace. In ```bash blocks every line that
starts with ``qcqp`` runs through the CLI's ``main`` (exit code 0 expected); installation
lines are what CI itself runs. Commands run in a sandbox folder holding the files the docs
name: ``model.onnx`` and ``mnist-net_256x2.onnx`` (the VNN-COMP look-alike fixture),
``prop_0_0.03.vnnlib`` (its property), ``instances.csv`` (the two as a VNN-COMP benchmark),
``X.npy`` / ``y.npy`` (three digits test points),
``spar020-100-1.in`` (a BoxQP instance), ``tiny_qcq.qplib`` (a QPLIB file).
``--dataset`` runs are cut to 5 points (``--limit 5``) and ``qcqp train`` to 20 steps to keep the
suite fast (the slow tests run the training commands in full); synopses with
placeholders live in ```text blocks, which are not run.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

from qcqp import BACKENDS
from qcqp.app.cli import main
from qcqp.frontends.activations import ACTIVATIONS
from qcqp.frontends.models.train_digits import digits_split

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text()) if lang == language]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    shutil.copy(FIXTURES / "digits_vnncomp.onnx", tmp_path / "model.onnx")
    shutil.copy(FIXTURES / "digits_vnncomp.onnx", tmp_path / "mnist-net_256x2.onnx")
    shutil.copy(FIXTURES / "prop_0_0.05.vnnlib", tmp_path / "prop_0_0.03.vnnlib")
    shutil.copy(FIXTURES / "spar020-100-1.in", tmp_path / "spar020-100-1.in")
    shutil.copy(FIXTURES / "tiny_qcq.qplib", tmp_path / "tiny_qcq.qplib")
    _, _, x_test, y_test = digits_split()
    np.save(tmp_path / "X.npy", x_test[:3])
    np.save(tmp_path / "y.npy", y_test[:3])
    (tmp_path / "instances.csv").write_text("model.onnx,prop_0_0.03.vnnlib,60\n")
    monkeypatch.chdir(tmp_path)
    for registry in (BACKENDS, ACTIVATIONS):
        registry.names()  # the built-ins registered before the snapshot (they load on first use)
    saved = {registry: dict(registry._items) for registry in (BACKENDS, ACTIVATIONS)}
    yield tmp_path
    for registry, items in saved.items():  # docs may register examples: leave no trace
        registry._items.clear()
        registry._items.update(items)


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=lambda p: p.name)
def test_python_blocks_run(page, sandbox):
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for number, code in enumerate(blocks(page, "python")):
        exec(compile(code, f"{page.name}[python block {number}]", "exec"), namespace)


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "bash")], ids=lambda p: p.name)
def test_cli_lines_run(page, sandbox):
    for code in blocks(page, "bash"):
        for line in code.splitlines():
            if not line.startswith("qcqp "):
                continue
            args = shlex.split(line.split("#")[0])[1:]
            if "--dataset" in args:
                args += ["--limit", "5"]
            if args[0] == "train":
                args += ["--steps", "20"]
            assert main(args) == 0, line


def test_docs_name_every_registered_backend_and_solver():
    """The lists in the docs are checked against the registries, so they cannot fall behind."""
    from qcqp.backends.sdp_solvers import SDP_SOLVERS

    certify = (ROOT / "docs" / "certify.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in BACKENDS.names():
        assert f"`{name}`" in readme and f"`{name}`" in certify, name
    for name in SDP_SOLVERS.names():
        assert f"`{name}`" in certify and f"`{name}`" in readme, name
    for name in ACTIVATIONS.names():
        assert f"`{name}" in certify, name
