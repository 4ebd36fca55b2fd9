import os
import sys
from pathlib import Path

# transformers (the reference peer) would import TensorFlow and JAX too; the PyTorch tests need neither.
os.environ.setdefault("USE_TF", "0")
os.environ.setdefault("USE_FLAX", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from albert_bridge.schema import HeadKind  # noqa: E402

pytest_plugins = ["pytester"]  # tests of our pytest plugin run a suite of their own

ALL_HEADS = list(HeadKind)
FIXTURE = ROOT / "fixtures" / "tiny-albert"


@pytest.fixture(params=ALL_HEADS, ids=[h.value for h in ALL_HEADS])
def head(request) -> HeadKind:
    return request.param


BACKENDS = ("torch", "tf2", "flax", "onnx")


def pytest_configure(config):
    for backend in BACKENDS:
        config.addinivalue_line("markers", f"{backend}: tests of the {backend} backend (from the file name)")


def pytest_collection_modifyitems(items):
    for item in items:
        for backend in BACKENDS:
            if f"_{backend}" in item.path.name:
                item.add_marker(backend)
