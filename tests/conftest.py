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


@pytest.fixture
def mnistfc():
    if not (SHARED / "mnist-net_256x2.onnx").exists():
        pytest.skip("../shared/data/mnistfc is not present")
    return SHARED
