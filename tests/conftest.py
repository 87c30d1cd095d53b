import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from qcqp.frontends.network import Network

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnistfc"
os.environ.setdefault("MPLBACKEND", "Agg")
# CI replays the same examples every run; locally hypothesis explores new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def random_net(sizes, seed, scale=1.0) -> Network:
    rng = np.random.default_rng(seed)
    Ws = tuple(rng.normal(0, scale / np.sqrt(a), (b, a)) for a, b in zip(sizes[:-1], sizes[1:]))
    bs = tuple(rng.normal(0, 0.3, b) for b in sizes[1:])
    return Network(Ws, bs, ("relu",) * (len(sizes) - 2))


FIXTURES = Path(__file__).resolve().parent / "fixtures"
VNNCOMP = {  # (model, property, label, answer): the shipped look-alike always, VNN-COMP's own where present
    "fixture": (FIXTURES / "digits_vnncomp.onnx", FIXTURES / "prop_0_0.05.vnnlib", 8, "violated"),
    # every 2021 tool's answer: unsat (holds)
    "mnistfc": (SHARED / "mnist-net_256x2.onnx", SHARED / "prop_0_0.03.vnnlib", 8, "holds"),
}


@pytest.fixture(params=[pytest.param(name, marks=pytest.mark.skipif(not case[0].exists(),
                                                                     reason=f"needs {case[0]} (../shared)"))
                        for name, case in VNNCOMP.items()])
def vnncomp(request):
    """An ONNX model in VNN-COMP's layout, one of its VNNLIB properties, its label and its answer."""
    return VNNCOMP[request.param]
