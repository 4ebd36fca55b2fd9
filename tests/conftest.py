import os
import sys
from pathlib import Path

# transformers (the reference peer) would import TensorFlow and JAX too; the PyTorch tests need neither.
os.environ.setdefault("USE_TF", "0")
os.environ.setdefault("USE_FLAX", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# This checkout's package first, whatever is installed (tests.helpers holds the same path as ROOT).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest  # noqa: E402

from albert_bridge.schema import HeadKind  # noqa: E402
from tests.helpers import ALL_HEADS, save_checkpoint  # noqa: E402
from tests.hub_server import HubServer  # noqa: E402

pytest_plugins = ["pytester"]  # tests of our pytest plugin run a suite of their own


@pytest.fixture(params=ALL_HEADS, ids=[h.value for h in ALL_HEADS])
def head(request) -> HeadKind:
    return request.param


@pytest.fixture(scope="module")
def server():
    """The loopback Hub (tests/hub_server.py), one per test module."""
    with HubServer() as hub:
        yield hub


@pytest.fixture
def online(server, tmp_path, monkeypatch):
    """huggingface_hub pointed at the loopback server, with an empty cache and no token anywhere."""
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE", "HF_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    return server


@pytest.fixture
def saved(tmp_path, head):
    """A tiny random checkpoint of this head (seed 11), written by our safetensors adapter."""
    return save_checkpoint(tmp_path, head, seed=11)

# transformers' own ALBERT tests and their helpers (tests/data/transformers_suite): inputs of
# tools/transformers_suite.py, run by it in their own pytest session, never collected with ours.
collect_ignore = ["data"]
