"""Instances from data files, VNNLIB specs or the bundled digits set, and the run loop."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
from qcqp.app.certify import Instance, Options, analyse, margin_instance
from qcqp.frontends.loaders import load_network
from qcqp.frontends.network import Network
from qcqp.frontends.specs import linf_ball, load_vnnlib
from tqdm import tqdm

from qcqp import InputError


def default_model_path() -> Path:
    return Path(str(files("qcqp.frontends.models").joinpath("digits_relu.npz")))


def digits_instances(net: Network, eps: float, limit: int) -> list[Instance]:
    """The first ``limit`` test points of the split the shipped model was trained on."""
    from qcqp.frontends.models.train_digits import digits_split

    _, _, x_test, y_test = digits_split()
    return array_instances(net, x_test[:limit], y_test[:limit], eps)


def array_instances(net: Network, inputs: np.ndarray, labels: np.ndarray, eps: float) -> list[Instance]:
    inputs = np.asarray(inputs, dtype=float)
    inputs = inputs.reshape(inputs.shape[0], -1) if inputs.ndim > 1 else inputs[None, :]
    labels = np.asarray(labels).reshape(-1)
    if labels.size != inputs.shape[0]:
        raise InputError(f"{inputs.shape[0]} inputs but {labels.size} labels")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise InputError("labels must be integers")
        labels = labels.astype(int)
    net.check_input(inputs, "inputs")
    return [margin_instance(i, linf_ball(x, eps), int(y), net.output_size)
            for i, (x, y) in enumerate(zip(inputs, labels))]


def vnnlib_instances(net: Network, specs: list[str]) -> list[Instance]:
    out = []
    for i, path in enumerate(specs):
        prop = load_vnnlib(path, net.input_size, net.output_size)
        out.append(Instance(i, prop.box, prop.label, [list(atoms) for atoms in prop.disjuncts]))
    return out


def load_array(path: str, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what} file") from None
    except Exception as error:
        raise InputError(f"{path}: not a readable .npy {what} file ({error})") from None


def run(net: Network, instances: list[Instance], methods: list[str], options: Options,
        quiet: bool = False) -> dict[str, list[dict]]:
    """Analyse every instance; returns the rows of each method in instance order."""
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    for inst in tqdm(instances, disable=quiet, desc="certifying", unit="inst"):
        for method, row in analyse(net, inst, methods, options).items():
            runs[method].append(row)
    return runs


def nominal_correct(net: Network, instances: list[Instance]) -> np.ndarray | None:
    if any(inst.label is None for inst in instances):
        return None
    centers = np.array([inst.box.center for inst in instances])
    return net.forward(centers).argmax(axis=1) == np.array([inst.label for inst in instances])


__all__ = ["array_instances", "default_model_path", "digits_instances", "load_network", "run",
           "vnnlib_instances"]
