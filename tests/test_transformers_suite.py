"""transformers 4.57's own ALBERT model tests, run with its classes and with ours in their place
(tools/transformers_suite.py; the test files are under tests/data/transformers_suite).

The full suites take minutes on two cores (`python tools/transformers_suite.py` runs them and prints the counts the
README states); here a subset that covers the PreTrainedModel API transformers' tests and clients use: attention
switching and SDPA, `_from_config`, `sub_configs`, the loading-info keys and their messages, pruning, resizing, the
old gradient-checkpointing flag, meta-device loading. Every test named passes with transformers' classes (checked:
the same run) and must pass with ours. Offline: the suites read nothing from the Hub."""

import importlib.util

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location("transformers_suite", ROOT / "tools" / "transformers_suite.py")
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)
if suite.missing_files():
    pytest.skip("transformers' own test files are not laid out (tests/data/transformers_suite/README.md): "
                + ", ".join(suite.missing_files()), allow_module_level=True)

TORCH_SUBSET = (
    "test_config_attn_implementation_setter", "test_attention_outputs", "test_hidden_states_output",
    "test_retain_grad_hidden_states_attentions", "test_sdpa_can_dispatch_non_composite_models",
    "test_eager_matches_sdpa_inference_09_fp32_pad_left",
    "test_eager_matches_sdpa_inference_24_fp32_pad_left_output_attentions",
    "test_correct_missing_keys", "test_model_weights_reload_no_missing_tied_weights",
    "test_load_with_mismatched_shapes", "test_can_load_ignoring_mismatched_shapes",
    "test_cannot_load_with_meta_device_context_manager", "test_head_pruning",
    "test_head_pruning_save_load_from_config_init", "test_resize_tokens_embeddings",
    "test_gradient_checkpointing_backward_compatibility",
    "test_batching_equivalence",
)
FLAX_SUBSET = ("test_naming_convention", "test_model_main_input_name", "test_to_fp16", "test_headmasking")


def _run(backend: str, names: tuple[str, ...]) -> dict:
    results = suite.run_both(backend, tests=names, timeout=240)
    return {**suite.compare(results["theirs"], results["ours"]), "results": results}


@pytest.mark.torch
def test_pytorch_suite_subset_passes_with_our_classes():
    summary = _run("torch", TORCH_SUBSET)
    assert summary["theirs_passed"] == len(TORCH_SUBSET), summary["results"]  # all pass with transformers'
    assert summary["missed"] == [], summary["missed"]


@pytest.mark.flax
def test_flax_suite_subset_passes_with_our_classes():
    summary = _run("flax", FLAX_SUBSET)
    assert summary["theirs_passed"] == len(FLAX_SUBSET), summary["results"]
    assert summary["missed"] == [], summary["missed"]
