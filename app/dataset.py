"""Instances from data files, VNNLIB specs or the bundled digits set, and the run loop."""

from __future__ import annotations

import json
import os
import sys
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qcqp import InputError
from qcqp.app.certify import Options, analyse
from qcqp.frontends.loaders import load_network
from qcqp.frontends.network import Network
from qcqp.frontends.specs import Property, Specification, l2_ball, linf_ball, margin_spec
from qcqp.frontends.vnnlib import load_vnnlib


def default_model_path() -> Path:
    return shipped_models()["digits_relu.npz"]


def shipped_models() -> dict[str, Path]:
    """The trained models that come with the package, by file name (``digits_cnn.onnx``, …)."""
    folder = Path(str(files("qcqp.frontends.models")))
    return {path.name: path for path in sorted(folder.iterdir()) if path.suffix in (".npz", ".onnx")}


def model_path(name: str) -> Path:
    """``name`` as a path, or, when no such file exists, the shipped model of that file name."""
    path = Path(name)
    return path if path.exists() else shipped_models().get(name, path)


INPUT_BALLS = {"inf": linf_ball, "2": l2_ball}  # --norm: the input set around each point


def digits_instances(net: Network, eps: float, limit: int, norm: str = "inf") -> list[Specification]:
    """The first ``limit`` test points of the split the shipped model was trained on."""
    from qcqp.frontends.models.train_digits import digits_split

    _, _, x_test, y_test = digits_split()
    return array_instances(net, x_test[:limit], y_test[:limit], eps, norm)


def array_instances(net: Network, inputs: np.ndarray, labels: np.ndarray, eps: float,
                    norm: str = "inf") -> list[Specification]:
    inputs = np.asarray(inputs, dtype=float)
    if inputs.size == 0:
        raise InputError(f"inputs: the array is empty (shape {inputs.shape})")
    if inputs.ndim > 2:
        flat = (inputs.shape[0], int(np.prod(inputs.shape[1:])))
        print(f"qcqp: note: inputs of shape {inputs.shape} flattened to {flat} (one input per leading index, "
              "C order)", file=sys.stderr)
    inputs = inputs.reshape(inputs.shape[0], -1) if inputs.ndim > 1 else inputs[None, :]
    labels = np.asarray(labels).reshape(-1)
    if labels.size != inputs.shape[0]:
        raise InputError(f"{inputs.shape[0]} inputs but {labels.size} labels")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise InputError("labels must be integers")
        labels = labels.astype(int)
    net.check_input(inputs, "inputs")
    ball = INPUT_BALLS[norm]
    return [margin_spec(ball(x, eps), int(y), net.output_size, index=i)
            for i, (x, y) in enumerate(zip(inputs, labels))]


def vnnlib_instances(net: Network, specs: list[str]) -> list[Property]:
    return [load_vnnlib(path, net.input_size, net.output_size, index=i) for i, path in enumerate(specs)]


def load_array(path: str, what: str) -> np.ndarray:
    """A numeric ``.npy`` array, or a one-line error naming the file."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what} file") from None
    except Exception as error:
        raise InputError(f"{path}: not a readable .npy {what} file ({error})") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise InputError(f"{path}: not a readable .npy {what} file (expected one numeric array)")
    return array


def run(net: Network, instances: list[Specification], methods: list[str], options: Options, quiet: bool = False,
        jobs: int = 1, scheduler: str | None = None, journal: Path | None = None,
        config: dict | None = None) -> dict[str, list[dict]]:
    """Analyse every instance; returns each method's rows in instance order.

    Each finished instance is appended to ``journal`` (JSON lines) at once, so a killed
    run restarted with the same journal repeats nothing and loses nothing. ``jobs > 1``
    or a ``scheduler`` address runs instances on dask.distributed.
    """
    done = read_journal(journal, config) if journal is not None and journal.exists() else {}
    todo = [inst for inst in instances if inst.index not in done]
    if journal is not None and not done:
        write_line(journal, {"config": config}, mode="w")
    progress = tqdm(total=len(instances), initial=len(instances) - len(todo), disable=quiet,
                    desc="certifying", unit="inst")
    for index, rows in _execute(net, todo, methods, options, jobs, scheduler):
        done[index] = rows
        if journal is not None:
            write_line(journal, {"index": index, "rows": rows})
        progress.update()
    progress.close()
    return {m: [done[inst.index][m] for inst in instances] for m in methods}


def read_journal(journal: Path, config: dict | None) -> dict[int, dict]:
    lines = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    if not lines or lines[0].get("config") != config:
        raise InputError(f"{journal}: made with other settings; rerun without --resume to start afresh")
    return {entry["index"]: entry["rows"] for entry in lines[1:]}


def write_line(path: Path, entry: dict, mode: str = "a") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode) as handle:
        handle.write(json.dumps(entry, allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def analyse_safely(net: Network, inst: Specification | Property, methods: list[str], options: Options):
    """``analyse`` that turns an unexpected failure (a solver crash, out of memory) into
    ``error`` rows with a one-line reason and the time it took."""
    start = time.perf_counter()
    try:
        return inst.index, analyse(net, inst, methods, options)
    except InputError:
        raise
    except Exception as error:  # a crash (MemoryError included) must not take the other instances down
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        return inst.index, failed_rows(inst, methods, reason, time.perf_counter() - start)


def failed_rows(inst: Specification | Property, methods: list[str], reason: str, time_s: float) -> dict[str, dict]:
    """Rows for an instance whose analysis failed: ``status`` error, no bound."""
    return {m: {"index": inst.index, "label": inst.label, "status": "error", "margin_bound": None,
                "time_s": time_s, "pgd_margin": None, "reason": reason} for m in methods}


def _execute(net, todo, methods, options, jobs, scheduler):
    if jobs <= 1 and scheduler is None:
        for inst in todo:
            yield analyse_safely(net, inst, methods, options)
        return
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError("--jobs/--scheduler need dask: pip install 'qcqp-relax[dist]'") from None

    cluster = None if scheduler else LocalCluster(n_workers=jobs, threads_per_worker=1, dashboard_address=None)
    with Client(scheduler or cluster) as client:
        start = time.perf_counter()
        futures = {client.submit(analyse_safely, net, inst, methods, options, pure=False): inst for inst in todo}
        for future in as_completed(futures):
            try:
                yield future.result()
            except InputError:
                raise
            except Exception as error:  # the worker itself died: the time is an upper bound
                yield futures[future].index, failed_rows(futures[future], methods, f"worker failed: {error}",
                                                         time.perf_counter() - start)
    if cluster is not None:
        cluster.close()


def nominal_correct(net: Network, instances: list[Specification]) -> np.ndarray | None:
    if any(inst.label is None for inst in instances):
        return None
    centers = np.array([inst.parts[0].box.center for inst in instances])
    return net.forward(centers).argmax(axis=1) == np.array([inst.label for inst in instances])


__all__ = ["array_instances", "default_model_path", "digits_instances", "load_network", "run",
           "vnnlib_instances"]
