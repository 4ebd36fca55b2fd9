"""Drop-in for transformers 4 users, the loading path the three backends share (models/bridge.py):
from_pretrained(..., num_labels=N, ignore_mismatched_sizes=True) in TF2 and Flax (PyTorch: test_dropin_torch.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from albert_bridge.formats import get_format
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint
from tests.helpers import ROOT

# transformers' TF classes need tf-keras (TF_USE_LEGACY_KERAS=1), which must not leak into our Keras 3 process.
REFERENCE = r"""
import json, sys
import transformers
model, info = transformers.TFAlbertForSequenceClassification.from_pretrained(
    sys.argv[1], num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
print("INFO " + json.dumps(info))
"""


@pytest.fixture(scope="module")
def checkpoint():
    return make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION, seed=5)


@pytest.mark.slow
@pytest.mark.tf
def test_tf_new_labels_as_transformers(tmp_path, checkpoint):
    pytest.importorskip("tensorflow")
    from albert_bridge.models.albert_tf import TFAlbertForSequenceClassification

    get_format("tf").save(checkpoint, tmp_path)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "USE_TF": "1", "USE_TORCH": "0", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", REFERENCE, str(tmp_path)], capture_output=True, text=True, env=env,
                         timeout=300)
    [line] = [x for x in out.stdout.splitlines() if x.startswith("INFO ")] or [out.stdout + out.stderr[-3000:]]
    theirs = json.loads(line.removeprefix("INFO "))
    with pytest.warns(UserWarning, match="classifier/kernel:0: \\[32, 3\\] in the checkpoint, \\[32, 5\\] in the model"):
        model, ours = TFAlbertForSequenceClassification.from_pretrained(
            tmp_path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    # transformers' TF classes list (name, checkpoint shape, model shape), in the model's order
    assert ours["mismatched_keys"][0] == ("classifier/bias:0", (3,), (5,))
    ours = json.loads(json.dumps(ours))  # as the reference came: tuples as lists
    assert sorted(ours.pop("mismatched_keys")) == sorted(theirs.pop("mismatched_keys"))
    assert ours == theirs
    weights = {v.path if hasattr(v, "path") else v.name: v.numpy() for v in model.weights}
    assert model.classifier.kernel.shape == (32, 5)
    np.testing.assert_array_equal(next(w for n, w in weights.items() if "pooler" in n and "kernel" in n),
                                  checkpoint.tensors["pooler.kernel"].read())


@pytest.mark.flax
def test_flax_new_labels(tmp_path, checkpoint):
    """transformers' Flax from_pretrained has no output_loading_info (a TypeError) and only logs the mismatch; ours
    returns the loading info with the Flax parameter names and warns naming them."""
    pytest.importorskip("flax")
    from albert_bridge.models.albert_flax import FlaxAlbertForSequenceClassification

    get_format("flax").save(checkpoint, tmp_path)
    with pytest.warns(UserWarning, match="classifier/kernel: \\[32, 3\\] in the checkpoint, \\[32, 5\\] in the model"):
        model, info = FlaxAlbertForSequenceClassification.from_pretrained(
            tmp_path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "error_msgs": [],
                    "mismatched_keys": ["classifier/bias", "classifier/kernel"]}
    assert model.params["classifier"]["kernel"].shape == (32, 5)
    np.testing.assert_array_equal(np.asarray(model.params["albert"]["pooler"]["kernel"]),
                                  checkpoint.tensors["pooler.kernel"].read())
