"""Our TF2 / Keras 3 classes: against our PyTorch classes (same checkpoint) and against transformers 4.57's TF
classes (in one shared subprocess with tf-keras, both directions, every head), plus SavedModel export."""

import fcntl
import functools
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

import albert_bridge  # noqa: E402
from albert_bridge.formats import get_format, load  # noqa: E402
from albert_bridge.models.albert_tf import MODEL_FOR_HEAD  # noqa: E402
from albert_bridge.models.albert_torch import MODEL_FOR_HEAD as TORCH_MODEL_FOR_HEAD  # noqa: E402
from albert_bridge.schema import ARCHITECTURES, HeadKind  # noqa: E402
from albert_bridge.testing import flatten_outputs, make_checkpoint, make_inputs, make_labels, tiny_config  # noqa: E402,E501
from tests import tf2_dropin_reference  # noqa: E402
from tests.helpers import ALL_HEADS, ATOL, FIXTURE, ROOT, assert_close  # noqa: E402
from tests.helpers import torch_inputs as _torch_inputs  # noqa: E402

pytestmark = pytest.mark.tf
# TF against PyTorch: each fp32 implementation is 3-7e-6 (rarely 1.5e-5) away from a float64 run on the MLM
# vocabulary logits (values up to ~10, after the E-sized LayerNorm), so their difference can pass 1e-5 there; those
# two outputs get 2e-5, everything else (hidden states, attentions, pooled, other logits) stays at 1e-5.
MLM_ATOL = 2e-5


NOT_LOSS = ("loss",)  # the loss is compared on its own, where at all


def cross(head: HeadKind) -> dict:
    loose = ("prediction_logits", "logits") if head in MLM_HEADS else ()
    return {"atol": ATOL, "atol_for": dict.fromkeys(loose, MLM_ATOL), "skip": NOT_LOSS}
MLM_HEADS = (HeadKind.PRETRAINING, HeadKind.MASKED_LM)
TF1_FIXTURE = ROOT / "fixtures" / "tf1" / "albert_tiny"


def inputs_for(head: HeadKind, seed: int = 0) -> dict[str, np.ndarray]:
    return make_inputs(head, seed=seed, dtype="int32")


labels_for = make_labels


def numpy_outputs(output) -> dict[str, np.ndarray]:
    """Flattened outputs, plus the length of each tuple field (`hidden_states` -> L + 1)."""
    flat = flatten_outputs(output)
    for key in output.keys():
        if isinstance(output[key], tuple):
            flat[key] = np.asarray(len(output[key]))
    return flat


def max_diffs(ours: dict, theirs: dict, skip=("loss",)) -> dict[str, float]:
    assert set(ours) == set(theirs), sorted(set(ours) ^ set(theirs))
    return {k: float(np.max(np.abs(ours[k].astype(np.float64) - theirs[k]))) if ours[k].size else 0.0
            for k in ours if k not in skip}


def torch_inputs(inputs: dict) -> dict:
    return _torch_inputs(inputs, torch.long)  # TF's int32 ids -> PyTorch's int64


@functools.lru_cache(maxsize=None)
def models(head: HeadKind):
    """Our TF and PyTorch models of one head, loaded from the same canonical checkpoint (built once per worker)."""
    ckpt = make_checkpoint(head, seed=31)
    tf_model = MODEL_FOR_HEAD[head](ckpt.config)
    tf_model.load_checkpoint(ckpt)
    pt_model = TORCH_MODEL_FOR_HEAD[head](ckpt.config).eval()
    pt_model.load_checkpoint(ckpt)
    return tf_model, pt_model, ckpt


# ---- ours (TF) against ours (PyTorch) -------------------------------------------------------------------------------

def test_matches_our_pytorch_model(head):
    tf_model, pt_model, ckpt = models(head)
    inputs = inputs_for(head)
    labels = labels_for(head, inputs, ckpt.config.num_labels)
    with torch.no_grad():
        theirs = numpy_outputs(pt_model(**torch_inputs(inputs), **torch_inputs(labels),
                                        output_hidden_states=True, output_attentions=True))
    out = tf_model(**inputs, **labels, output_hidden_states=True, output_attentions=True)
    ours = numpy_outputs(out)
    assert ours["hidden_states"] == ckpt.config.num_hidden_layers + 1
    assert ours["attentions"] == ckpt.config.num_hidden_layers * ckpt.config.inner_group_num
    worst = assert_close(ours, theirs, **cross(head))
    diffs = max_diffs(ours, theirs)
    inner = max(v for k, v in diffs.items() if k.startswith(("hidden_states", "attentions")))
    print(f"{head.value}: TF vs PyTorch max |diff| {worst:.2e} (hidden states and attentions {inner:.2e})")
    if head is HeadKind.BASE:
        assert "loss" not in ours
        return
    # transformers' TF loss shapes: (1,) for token-level losses, one value per example otherwise.
    per_example = head in (HeadKind.SEQUENCE_CLASSIFICATION, HeadKind.MULTIPLE_CHOICE, HeadKind.QUESTION_ANSWERING)
    assert ours["loss"].shape == ((inputs["input_ids"].shape[0],) if per_example else (1,))
    assert abs(float(ours["loss"].mean()) - float(theirs["loss"])) < ATOL


@pytest.mark.slow
def test_tuples_head_mask_inputs_embeds_and_dict_input(head):
    tf_model, pt_model, _ = models(head)
    inputs = inputs_for(head, seed=2)
    head_mask = np.ones((5, 4), np.float32)
    head_mask[0, 1] = head_mask[3, 2] = 0
    with torch.no_grad():
        theirs = pt_model(**torch_inputs(inputs), head_mask=torch.from_numpy(head_mask), return_dict=False,
                          output_hidden_states=True)
        embeds = pt_model.get_input_embeddings()(torch_inputs(inputs)["input_ids"]).numpy()
        rest = {k: v for k, v in inputs.items() if k != "input_ids"}
        by_embeds = pt_model(inputs_embeds=torch.from_numpy(embeds), **torch_inputs(rest))
    ours = tf_model(**inputs, head_mask=head_mask, return_dict=False, output_hidden_states=True)
    assert isinstance(ours, tuple) and len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        for x, y in zip(a, b) if isinstance(a, tuple) else [(a, b)]:
            np.testing.assert_allclose(np.asarray(x), y.numpy(), atol=MLM_ATOL if head in MLM_HEADS else ATOL, rtol=0)
    assert_close(numpy_outputs(tf_model(inputs_embeds=embeds, **rest)), numpy_outputs(by_embeds), **cross(head))
    # transformers' TF convention: the whole input dict as the first argument.
    assert_close(numpy_outputs(tf_model(inputs)), numpy_outputs(tf_model(**inputs)), atol=0, skip=NOT_LOSS)


def test_training_enables_dropout(head):
    tf_model, _, _ = models(head)
    inputs = inputs_for(head)
    first, second = (numpy_outputs(tf_model(**inputs, training=False)) for _ in range(2))
    assert max(max_diffs(first, second).values()) == 0.0
    dropped = numpy_outputs(tf_model(**inputs, training=True))
    assert max(max_diffs(first, dropped).values()) > 1e-3


def test_sequence_classification_problem_types():
    for problem, num_labels in (("regression", 1), ("multi_label_classification", 3)):
        config = tiny_config(num_labels=num_labels)
        ckpt = make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION, config=config, seed=4)
        ours = albert_bridge.TFAlbertForSequenceClassification(config)
        ours.load_checkpoint(ckpt)
        theirs = albert_bridge.AlbertForSequenceClassification(tiny_config(num_labels=num_labels)).eval()
        theirs.load_checkpoint(ckpt)
        inputs = inputs_for(HeadKind.SEQUENCE_CLASSIFICATION)
        rng = np.random.default_rng(0)
        labels = rng.random(3).astype(np.float32) if num_labels == 1 else (rng.random((3, 3)) > 0.5).astype(np.float32)
        loss = ours(**inputs, labels=labels).loss.numpy()
        with torch.no_grad():
            expected = theirs(**torch_inputs(inputs), labels=torch.from_numpy(labels)).loss.item()
        assert theirs.config.problem_type == problem and loss.shape == (3,)
        assert abs(loss.mean() - expected) < ATOL


# ---- from_pretrained / save_pretrained -----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["safetensors", "canonical", "tf1"])
def test_from_pretrained_reads_any_format(tmp_path, fmt):
    if fmt == "tf1":
        source = TF1_FIXTURE
        if not source.is_dir():
            pytest.skip("no TF1 fixture")
    else:
        source = tmp_path / fmt
        get_format(fmt).save(make_checkpoint(HeadKind.PRETRAINING, seed=8), source)
    ours = albert_bridge.TFAlbertForPreTraining.from_pretrained(source)
    reference = albert_bridge.AlbertForPreTraining.from_pretrained(source)
    inputs = inputs_for(HeadKind.PRETRAINING)
    inputs["input_ids"] %= ours.config.vocab_size
    with torch.no_grad():
        assert_close(numpy_outputs(ours(**inputs)), numpy_outputs(reference(**torch_inputs(inputs))),
                     **cross(HeadKind.PRETRAINING))


def test_save_pretrained_round_trip(tmp_path):
    with pytest.warns(UserWarning, match="not used: albert/pooler/bias:0"):  # a pretraining checkpoint
        ours = albert_bridge.TFAlbertForMaskedLM.from_pretrained(FIXTURE)
    ours.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "tf_model.h5"]
    # transformers writes architectures without the TF prefix
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["AlbertForMaskedLM"]
    again, info = albert_bridge.TFAlbertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    for name, variable in ours.named_variables().items():
        assert np.array_equal(variable.numpy(), again.named_variables()[name].numpy()), name
    ckpt = load(tmp_path)
    assert ckpt.head is HeadKind.MASKED_LM and ckpt.report.warnings == []
    # Sharded, and read back by the PyTorch classes (the model knows no format; the adapter does).
    ours.save_pretrained(tmp_path / "sharded", max_shard_size="30KB")
    assert (tmp_path / "sharded" / "tf_model.h5.index.json").is_file()
    torch_model = albert_bridge.AlbertForMaskedLM.from_pretrained(tmp_path / "sharded")
    inputs = inputs_for(HeadKind.MASKED_LM)
    with torch.no_grad():
        assert_close(numpy_outputs(ours(**inputs)), numpy_outputs(torch_model(**torch_inputs(inputs))),
                     **cross(HeadKind.MASKED_LM))


def test_variable_names_are_the_mapping_table(head):
    tf_model, _, ckpt = models(head)
    from albert_bridge.formats.hf_keras_h5 import MAPPING

    assert set(tf_model.named_variables()) == set(MAPPING.to_native(ckpt.tensors, head))
    assert len(tf_model.weights) == len(tf_model.named_variables())  # nothing untracked, nothing counted twice


def test_loading_another_head_warns(tmp_path):
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=9), tmp_path)
    with pytest.warns(UserWarning) as caught:
        model, info = albert_bridge.TFAlbertForSequenceClassification.from_pretrained(tmp_path,
                                                                                      output_loading_info=True)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and "newly initialised: albert/pooler" in messages[0] and "not used" in messages[1]
    assert "classifier/kernel:0" in info["missing_keys"]
    assert "predictions/decoder/bias:0" in info["unexpected_keys"]


# ---- SavedModel ------------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("head, jit", [(HeadKind.PRETRAINING, False), (HeadKind.MULTIPLE_CHOICE, True)],
                         ids=["pretraining", "multiple-choice-xla"])
def test_saved_model_serves_the_model(tmp_path, head, jit):
    tf_model, _, _ = models(head)
    path = tf_model.export_saved_model(tmp_path / "sm", jit_compile=jit)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    spec = serve.structured_input_signature[1]
    rank = 3 if head is HeadKind.MULTIPLE_CHOICE else 2
    assert sorted(spec) == ["attention_mask", "input_ids", "token_type_ids"]
    assert all(s.dtype == tf.int32 and s.shape.rank == rank for s in spec.values())
    inputs = inputs_for(head, seed=5)
    served = serve(**{k: tf.constant(v) for k, v in inputs.items()})
    expected = tf_model(**inputs)
    assert sorted(served) == sorted(tf_model.serving_output_names())
    for name in served:
        # The MLM logits get the MLM tolerance: graphs that fuse the GELU into its MatMul (oneDNN) round differently.
        atol = MLM_ATOL if head in MLM_HEADS and "logits" in name else ATOL
        np.testing.assert_allclose(served[name].numpy(), expected[name].numpy(), atol=atol, rtol=0)


@pytest.mark.slow
def test_module_imports_keras3_not_tf_keras():
    code = ("import os, sys, albert_bridge\n"
            "m = albert_bridge.TFAlbertModel\n"
            "import keras\n"
            "print('OK', keras.__version__.split('.')[0], 'tf_keras' in sys.modules, "
            "'TF_USE_LEGACY_KERAS' in os.environ, m.__module__)")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**env, "PYTHONPATH": str(ROOT)})
    assert "OK 3 False False albert_bridge.models.albert_tf" in out.stdout, out.stdout + out.stderr[-2000:]
    assert issubclass(albert_bridge.TFAlbertForPreTrainingOutput, albert_bridge.AlbertForPreTrainingOutput)


# ---- transformers' TF classes (tf-keras), one subprocess shared by every test and xdist worker ------------------------

REFERENCE_SCRIPT = r"""
import json, os, sys
import numpy as np
import tensorflow as tf
import torch
import transformers

work = sys.argv[1]
spec = json.load(open(os.path.join(work, "spec.json")))
results, info = {}, {}


def record(tag, output):
    for key in output.keys():
        value = output[key]
        if isinstance(value, tuple):
            results[f"{tag}:{key}"] = np.asarray(len(value))
            for i, item in enumerate(value):
                results[f"{tag}:{key}.{i}"] = np.asarray(item)
        else:
            results[f"{tag}:{key}"] = np.asarray(value)


def inputs(name):
    data = np.load(os.path.join(work, name))
    return {k: data[k] for k in data.files}


for job in spec["load"]:  # transformers' TF classes read files we wrote
    cls = getattr(transformers, job["class"])
    model, loading = cls.from_pretrained(os.path.join(work, job["dir"]), output_loading_info=True)
    info[job["tag"]] = {k: sorted(map(str, v)) for k, v in loading.items()}
    record(job["tag"], model(**inputs(job["inputs"]), output_hidden_states=True, training=False))

rng = np.random.default_rng(0)
for job in spec["write"]:  # ... and write files (random weights, every one perturbed so biases are non-zero)
    cls = getattr(transformers, job["class"])
    model = cls(transformers.AlbertConfig.from_pretrained(os.path.join(work, job["config"])))
    model(model.dummy_inputs)
    for weight in model.weights:
        weight.assign(weight + rng.normal(0, 0.05, weight.shape).astype(np.float32))
    model.save_pretrained(os.path.join(work, job["dir"]), **job.get("save", {}))
    record(job["tag"], model(**inputs(job["inputs"]), output_hidden_states=True, training=False))

# transformers' own PyTorch -> TF conversion of a masked LM (leaves predictions/decoder/bias at zero).
job = spec["convert"]
converted = transformers.TFAlbertForMaskedLM.from_pretrained(os.path.join(work, job["source"]), from_pt=True)
converted.save_pretrained(os.path.join(work, job["dir"]))
record(job["tag"], converted(**inputs(job["inputs"]), output_hidden_states=True, training=False))

from tests import tf2_dropin_reference  # the drop-in checks (test_dropin_tf.py): training, resize, serving, dtype

tf2_dropin_reference.run(work, results, info)
np.savez(os.path.join(work, "results.npz"), **results)
json.dump(info, open(os.path.join(work, "info.json"), "w"))
"""


def _prepare(work: Path) -> dict:
    """Our files for transformers to read, inputs, and the jobs of the reference subprocess."""
    from albert_bridge.formats import hf_keras_h5

    spec = {"load": [], "write": []}
    for head in ALL_HEADS:
        inputs = inputs_for(head, seed=7)
        ckpt = make_checkpoint(head, seed=21)
        np.savez(work / f"inputs-{head.value}.npz", **inputs,
                 **labels_for(head, inputs, ckpt.config.num_labels))
        get_format("tf").save(ckpt, work / "ours" / head.value)
        cls = "TF" + ARCHITECTURES[head]
        spec["load"].append({"tag": f"ours/{head.value}", "class": cls, "dir": f"ours/{head.value}",
                             "inputs": f"inputs-{head.value}.npz"})
        np.savez(work / f"plain-{head.value}.npz", **inputs)
        spec["write"].append({"tag": f"theirs/{head.value}", "class": cls, "dir": f"theirs/{head.value}",
                              "config": f"ours/{head.value}", "inputs": f"plain-{head.value}.npz"})
    pretraining, mlm = make_checkpoint(HeadKind.PRETRAINING, seed=21), make_checkpoint(HeadKind.MASKED_LM, seed=21)
    get_format("tf").save(pretraining, work / "ours-sharded", max_shard_size=30_000)
    limit = hf_keras_h5.HDF5_OBJECT_HEADER_LIMIT
    hf_keras_h5.HDF5_OBJECT_HEADER_LIMIT = 1000  # split weight_names / layer_names attributes
    try:
        get_format("tf").save(mlm, work / "ours-split")
        get_format("tf").save(mlm, work / "ours-split-sharded", max_shard_size=30_000)
    finally:
        hf_keras_h5.HDF5_OBJECT_HEADER_LIMIT = limit
    for tag, cls, head in (("ours-sharded", "TFAlbertForPreTraining", "pretraining"),
                           ("ours-split", "TFAlbertForMaskedLM", "masked-lm"),
                           ("ours-split-sharded", "TFAlbertForMaskedLM", "masked-lm")):
        spec["load"].append({"tag": tag, "class": cls, "dir": tag, "inputs": f"plain-{head}.npz"})
    spec["write"].append({"tag": "theirs-sharded", "class": "TFAlbertForPreTraining", "dir": "theirs-sharded",
                          "config": "ours/pretraining", "inputs": "plain-pretraining.npz",
                          "save": {"max_shard_size": "20KB"}})
    get_format("safetensors").save(mlm, work / "pt-mlm")
    spec["convert"] = {"tag": "ptconv", "source": "pt-mlm", "dir": "ptconv", "inputs": "plain-masked-lm.npz"}
    tf2_dropin_reference.prepare(work)
    (work / "spec.json").write_text(json.dumps(spec, indent=1))
    return spec


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """Run transformers' TF classes once per test session (shared by xdist workers through a lock)."""
    base = tmp_path_factory.getbasetemp()
    work = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "tf2-reference"
    work.mkdir(exist_ok=True)
    with open(work / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (work / "done").exists() and not (work / "failed").exists():
            _prepare(work)
            env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "USE_TF": "1", "PYTHONPATH": str(ROOT),
                   "TF_CPP_MIN_LOG_LEVEL": "3", "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1"}
            result = subprocess.run([sys.executable, "-c", REFERENCE_SCRIPT, str(work)], capture_output=True,
                                    text=True, env=env, timeout=600)
            if result.returncode:
                (work / "failed").write_text(result.stderr[-5000:])
            else:
                (work / "done").write_text("ok")
    if (work / "failed").exists():
        message = (work / "failed").read_text()
        if "No module named 'tf_keras'" in message:
            pytest.skip("tf-keras (needed by transformers' TF classes) is not installed")
        pytest.fail(message)
    results = np.load(work / "results.npz")
    return work, {k: results[k] for k in results.files}, json.loads((work / "info.json").read_text())


def reference_outputs(results: dict, tag: str) -> dict[str, np.ndarray]:
    return {k.split(":", 1)[1]: v for k, v in results.items() if k.split(":", 1)[0] == tag}


def our_outputs(path: Path, head: HeadKind, inputs_file: Path, with_labels=False):
    data = np.load(inputs_file)
    model = MODEL_FOR_HEAD[head].from_pretrained(path)
    inputs = {k: data[k] for k in data.files}
    if not with_labels:
        inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    return numpy_outputs(model(**inputs, output_hidden_states=True))


@pytest.mark.slow
def test_transformers_loads_our_h5_with_matching_outputs(reference, head):
    work, results, info = reference
    tag = f"ours/{head.value}"
    # Their model's weightless Dropout is numbered by how many Dropouts this process built before (see layer_names).
    unexpected = [k for k in info[tag]["unexpected_keys"] if not k.startswith("dropout_")]
    assert info[tag]["missing_keys"] == [] and unexpected == [] and info[tag]["mismatched_keys"] == [], info[tag]
    theirs = reference_outputs(results, tag)
    ours = our_outputs(work / tag, head, work / f"inputs-{head.value}.npz", with_labels=True)
    worst = assert_close(ours, theirs, skip=NOT_LOSS)  # MLM logits match: decoder/bias is written
    print(f"{head.value}: ours vs transformers TF (our file) max |diff| {worst:.2e}")
    if head is not HeadKind.BASE:  # the same loss, of the same shape
        assert ours["loss"].shape == theirs["loss"].shape
        np.testing.assert_allclose(ours["loss"], theirs["loss"], atol=ATOL, rtol=0)


@pytest.mark.slow
def test_we_load_transformers_h5_with_matching_outputs(reference, head):
    work, results, _ = reference
    tag = f"theirs/{head.value}"
    ckpt = load(work / tag)
    assert ckpt.head is head and ckpt.problems() == [] and ckpt.report.unknown == []
    if head in MLM_HEADS:  # the perturbed predictions/bias differs from decoder/bias: said, decoder/bias used
        assert len(ckpt.report.warnings) == 1 and "decoder/bias" in ckpt.report.warnings[0]
    else:
        assert ckpt.report.warnings == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        worst = assert_close(our_outputs(work / tag, head, work / f"plain-{head.value}.npz"),
                             reference_outputs(results, tag), skip=NOT_LOSS)
    # Every variable assigned and nothing unused: the only warning is the MLM bias one.
    assert [str(w.message) for w in caught] == ckpt.report.warnings
    print(f"{head.value}: ours vs transformers TF (their file) max |diff| {worst:.2e}")


@pytest.mark.slow
@pytest.mark.parametrize("tag, head", [("ours-sharded", HeadKind.PRETRAINING), ("ours-split", HeadKind.MASKED_LM),
                                       ("ours-split-sharded", HeadKind.MASKED_LM),
                                       ("theirs-sharded", HeadKind.PRETRAINING)])
def test_sharded_and_split_files_both_ways(reference, tag, head):
    work, results, info = reference
    if tag in info:
        assert info[tag]["missing_keys"] == [] and info[tag]["unexpected_keys"] == [], info[tag]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_close(our_outputs(work / tag, head, work / f"plain-{head.value}.npz"), reference_outputs(results, tag),
                     skip=NOT_LOSS)
    # Only their randomly perturbed file has an MLM bias that is not its decoder bias.
    assert [("decoder/bias" in str(w.message)) for w in caught] == ([True] if tag.startswith("theirs") else [])
    if tag == "theirs-sharded":
        assert len(list((work / tag).glob("tf_model-*.h5"))) > 2


@pytest.mark.slow
def test_transformers_pt_to_tf_conversion_loads_with_the_warning(reference):
    work, results, _ = reference
    ckpt = load(work / "ptconv")
    assert ckpt.head is HeadKind.MASKED_LM
    [warning] = ckpt.report.warnings
    assert str(work / "ptconv" / "tf_model.h5") in warning and "predictions/decoder/bias" in warning
    assert not ckpt.tensors["head.mlm.output_bias"].read().any()
    # We compute what their converted TF model computes (no bias), which is not what the PyTorch source computes.
    theirs = reference_outputs(results, "ptconv")
    with pytest.warns(UserWarning, match="predictions/decoder/bias"):  # from_pretrained says so too
        ours = our_outputs(work / "ptconv", HeadKind.MASKED_LM, work / "plain-masked-lm.npz")
    assert_close(ours, theirs, skip=NOT_LOSS)
    source = our_outputs(work / "pt-mlm", HeadKind.MASKED_LM, work / "plain-masked-lm.npz")
    assert np.max(np.abs(source["logits"] - theirs["logits"])) > 0.05


def _walk(group):
    found = []
    group.visititems(lambda name, obj: found.append((name, obj)))
    return found


def _layout(path: Path) -> dict:
    """Everything about a tf_model.h5 but the values, the Keras model name (`tf_albert_model_1` in a process that
    built two) and the Dropout's per-process number."""
    import h5py

    def kind(attrs, name):
        return type(attrs.get_id(name).get_type()).__name__

    def norm(name) -> str:
        name = re.sub(r"^dropout_\d+", "dropout", str(name))
        return re.sub(r"^(tf_albert_[a-z_]+?)(_\d+)?/", "MODEL/", name)

    out = {}
    with h5py.File(path, "r") as f:
        out["root"] = {k: (kind(f.attrs, k), [norm(n) for n in np.atleast_1d(f.attrs[k])])
                       for k in sorted(f.attrs) if k != "keras_version"}
        for layer in sorted(f):
            group = f[layer]
            datasets = [(norm(n), o.shape, o.dtype.str, o.chunks, o.compression, dict(o.attrs))
                        for n, o in _walk(group) if isinstance(o, h5py.Dataset)]
            attrs = {k: (kind(group.attrs, k), [norm(n) for n in group.attrs[k]]) for k in group.attrs}
            out[norm(layer)] = attrs, sorted(datasets)
    return out


@pytest.mark.slow
def test_our_layout_equals_transformers_layout(reference, head):
    work, _, _ = reference
    assert _layout(work / "ours" / head.value / "tf_model.h5") == _layout(work / "theirs" / head.value / "tf_model.h5")
