"""pytest plugin for tools/transformers_suite.py: runs transformers' own ALBERT model tests (hf_tests/, see README.md)
with transformers' classes (ALBERT_SUITE_SIDE=theirs) or with albert-bridge's in their place (=ours).

"Ours" replaces every name transformers gives an ALBERT class or AlbertConfig (the top-level package, the
`transformers.models.albert` modules) and maps our AlbertConfig to our classes in transformers' auto mappings (as
`AutoModel.register` would), before the test modules import them; nothing else of transformers changes."""

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("USE_TF", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

SIDE = os.environ.get("ALBERT_SUITE_SIDE", "theirs")
BACKEND = os.environ.get("ALBERT_SUITE_BACKEND", "torch")  # which classes to swap: "torch" or "flax"
ROOT = Path(__file__).resolve().parents[3]  # the checkout: `albert_bridge` importable from it
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _shim_testing_utils() -> None:
    """The Flax test files use two helpers 4.57's testing_utils no longer has (4.57 still ships the Flax classes but
    no longer runs their tests): `require_flax`, restored as transformers 4.46 defined it, and
    `is_pt_flax_cross_test` (PyTorch<->Flax cross tests, which 4.57 dropped): those tests are skipped."""
    import unittest

    import pytest
    import transformers.testing_utils as testing_utils
    from transformers import is_flax_available

    if not hasattr(testing_utils, "require_flax"):
        testing_utils.require_flax = unittest.skipUnless(is_flax_available(), "test requires JAX & Flax")
    if not hasattr(testing_utils, "is_pt_flax_cross_test"):
        testing_utils.is_pt_flax_cross_test = pytest.mark.skip(
            reason="PyTorch<->Flax cross test: removed in transformers 4.57")


def _swap_in_ours() -> None:
    import transformers
    import transformers.models.albert as albert_package
    from transformers.models.auto import modeling_auto, modeling_flax_auto

    import albert_bridge
    from albert_bridge import _EXPORTS  # every public name of ours and the module that defines it

    theirs_config = transformers.AlbertConfig
    prefix = "FlaxAlbert" if BACKEND == "flax" else "Albert"
    names = ["AlbertConfig", *(n for n in _EXPORTS if n.startswith(prefix) and "Tokenizer" not in n
                                and not n.endswith("Output") and n != "AlbertConfig")]
    modules = [transformers, albert_package]
    for module_name in ("configuration_albert", "modeling_flax_albert" if BACKEND == "flax" else "modeling_albert"):
        modules.append(__import__(f"transformers.models.albert.{module_name}", fromlist=["_"]))
    ours = {name: getattr(albert_bridge, name) for name in names}
    for module in modules:
        for name, value in ours.items():
            if name in vars(module) or module is transformers or module is albert_package:
                setattr(module, name, value)
    for auto in (modeling_flax_auto if BACKEND == "flax" else modeling_auto,):
        for attr in dir(auto):
            mapping = getattr(auto, attr)
            if type(mapping).__name__ != "_LazyAutoMapping" or theirs_config not in mapping:
                continue
            target = ours.get(mapping[theirs_config].__name__)
            if target is not None:
                mapping.register(ours["AlbertConfig"], target, exist_ok=True)


def pytest_configure(config):
    _shim_testing_utils()
    if SIDE == "ours":
        _swap_in_ours()
    elif SIDE != "theirs":
        raise ValueError(f"ALBERT_SUITE_SIDE must be 'theirs' or 'ours', not {SIDE!r}")
