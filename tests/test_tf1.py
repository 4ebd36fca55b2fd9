"""Original google-research TF1 checkpoints: every layout, numerics against an independent NumPy transcription of the
original forward pass (tests/tf1_reference.py), bit-exact round trips, refusals. TensorFlow only ever runs in
subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from albert_bridge.arrays import arrays_equal
from albert_bridge.convert import convert
from albert_bridge.errors import BridgeError
from albert_bridge.formats import detect_format, get_format, load
from albert_bridge.formats import tf1_original as tf1
from albert_bridge.formats.tar_stream import TarStream
from albert_bridge.formats.tf_bundle import BundleReader
from albert_bridge.schema import ARCHITECTURES, HeadKind
from albert_bridge.testing import make_checkpoint, tiny_config
from fixtures.tf1.generate import COMMITTED, ORIGINAL_CONFIG, TOKENIZER, write_checkpoint
from tests.helpers import ROOT
from tests.helpers import cli, deadline, one_line_error
from tests.tf1_reference import OriginalAlbert, sample_inputs

TOL = 1e-5  # fp32 PyTorch vs the float64 reference
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "TRANSFORMERS_VERBOSITY": "error"}
needs_tokenizer = pytest.mark.skipif(not TOKENIZER.is_file(), reason="fixtures/tokenizer/spiece.model not present")


def bundle(prefix: Path) -> dict[str, np.ndarray]:
    with BundleReader(prefix) as reader:
        return {name: reader.read(name) for name in reader}


def model_names(names) -> set[str]:
    return {n for n in names if tf1.MAPPING.skip_reason(n.removeprefix("module/")) is None}


def reference(prefix: Path, config: dict) -> OriginalAlbert:
    return OriginalAlbert(bundle(prefix), config)


def max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def torch_inputs(ids, types, mask):
    import torch

    return {"input_ids": torch.tensor(ids), "token_type_ids": torch.tensor(types), "attention_mask": torch.tensor(mask)}


def tarball(src: Path, target: Path, top: str = "albert_base", data_first: bool = True) -> Path:
    """A release-like archive: one top-level folder; the data member before (or after) the index."""
    files = sorted(src.iterdir(), key=lambda p: (".data-" not in p.name) == data_first)
    with tarfile.open(target, "w:gz") as tar:
        tar.add(src, arcname=top, recursive=False)
        for file in files:
            tar.add(file, arcname=f"{top}/{file.name}")
    return target


# ---- the committed fixture ---------------------------------------------------------------------------------------

def test_committed_fixture_is_what_the_generator_writes(tmp_path):
    write_checkpoint(tmp_path, tokenizer=False)
    assert sorted(p.name for p in COMMITTED.iterdir()) == sorted(p.name for p in tmp_path.iterdir())
    for file in COMMITTED.iterdir():
        assert file.read_bytes() == (tmp_path / file.name).read_bytes(), file.name
    assert not (COMMITTED / "checkpoint").exists()  # like the releases
    assert json.loads((COMMITTED / "albert_config.json").read_text())["hidden_act"] == "gelu"


# ---- numerics: the original computation, reproduced after conversion ----------------------------------------------

@pytest.mark.parametrize("variant", ["release", "e_equals_h_relu"])
def test_pretraining_reproduces_the_original_computation(tmp_path, capsys, variant):
    from transformers import AlbertForPreTraining

    if variant == "release":
        src, config = COMMITTED, ORIGINAL_CONFIG
    else:  # no embedding_hidden_mapping_in at all; a relu config passes through
        config = {**ORIGINAL_CONFIG, "embedding_size": 32, "hidden_act": "relu"}
        src = write_checkpoint(tmp_path / "src", config=config, seed=3).parent
    code, out, err = cli(capsys, "convert", src, tmp_path / "out", "--to", "safetensors")
    assert code == 0, err
    assert "head pretraining" in out
    model = AlbertForPreTraining.from_pretrained(tmp_path / "out").eval()
    assert model.config.hidden_act == {"gelu": "gelu_new", "relu": "relu"}[config["hidden_act"]]

    ref = reference(src / "model.ckpt-best", config)
    assert ("bert/encoder/embedding_hidden_mapping_in/kernel" in ref.w) == (variant == "release")
    ids, types, mask = sample_inputs(config)
    sequence, layers = ref.encode(ids, types, mask)
    import torch

    with torch.no_grad():
        got = model(**torch_inputs(ids, types, mask), output_hidden_states=True)
    diffs = {
        "prediction_logits": max_diff(got.prediction_logits, ref.mlm_logits(sequence)),
        "sop_logits": max_diff(got.sop_logits, ref.sop_logits(ref.pooled(sequence))),
        "sequence_output": max_diff(got.hidden_states[-1], sequence),
        "every_layer": max(max_diff(h, r) for h, r in zip(got.hidden_states[1:], layers, strict=True)),
    }
    print(variant, diffs)
    assert max(diffs.values()) < TOL, diffs


FINE_TUNED = [  # generator head, --head, expected head
    ("classifier", None, HeadKind.SEQUENCE_CLASSIFICATION),
    ("race", None, HeadKind.MULTIPLE_CHOICE),
    ("race", "sequence-classification", HeadKind.SEQUENCE_CLASSIFICATION),  # a 1-label (STS-B) regression head
    ("squad", None, HeadKind.QUESTION_ANSWERING),
    ("masked-lm", None, HeadKind.MASKED_LM),
]


@pytest.mark.parametrize(("kind", "head", "expected"), FINE_TUNED, ids=[f"{k}-{h or 'default'}" for k, h, _ in FINE_TUNED])
def test_fine_tuned_heads_reproduce_the_original_computation(tmp_path, kind, head, expected):
    import torch

    import albert_bridge

    # Fine-tuning on a hub module puts the backbone under module/ and the head outside it.
    src = write_checkpoint(tmp_path / "src", head=kind, seed=5, module=kind == "classifier").parent
    result = convert(src, tmp_path / "out", ["safetensors"], head=head)
    ckpt = result.checkpoint
    assert ckpt.head is expected
    model = getattr(albert_bridge, ARCHITECTURES[expected]).from_pretrained(tmp_path / "out").eval()
    ref = reference(src / "model.ckpt-best", ORIGINAL_CONFIG)

    if kind == "race" and head is None:
        assert any("RACE multiple choice" in w for w in result.warnings)
        ids, types, mask = (a.reshape(2, 3, -1) for a in sample_inputs(ORIGINAL_CONFIG, batch=6))
        with torch.no_grad():
            logits = model(**torch_inputs(ids, types, mask)).logits
        diff = max_diff(logits, ref.race_logits(ids, types, mask))
    else:
        ids, types, mask = sample_inputs(ORIGINAL_CONFIG)
        sequence, _ = ref.encode(ids, types, mask)
        with torch.no_grad():
            got = model(**torch_inputs(ids, types, mask))
        if kind == "squad":
            start, end = ref.squad_logits(sequence)
            diff = max(max_diff(got.start_logits, start), max_diff(got.end_logits, end))
        elif kind == "masked-lm":
            diff = max_diff(got.logits, ref.mlm_logits(sequence))
        else:
            diff = max_diff(got.logits, ref.classifier_logits(ref.pooled(sequence)))
    print(kind, head, diff)
    assert diff < TOL
    expected_labels = {"classifier": 3, "race": 1, "squad": 2}.get(kind)
    if expected is not HeadKind.MULTIPLE_CHOICE and expected_labels:
        assert model.config.num_labels == expected_labels
    if expected in (HeadKind.MASKED_LM, HeadKind.QUESTION_ANSWERING):  # transformers' heads without a pooler
        assert ckpt.report.skipped["pooler.kernel"] == f"not part of head {expected.value}"


# ---- bit-exact round trips --------------------------------------------------------------------------------------

@pytest.mark.parametrize("via", ["canonical", "safetensors"])
@pytest.mark.parametrize("kind", ["pretraining", "classifier", "race", "e_equals_h"])
def test_round_trip_through_another_format_is_bit_exact(tmp_path, via, kind):
    config = {**ORIGINAL_CONFIG, "embedding_size": 32} if kind == "e_equals_h" else ORIGINAL_CONFIG
    head = "pretraining" if kind == "e_equals_h" else kind
    src = write_checkpoint(tmp_path / "src", head=head, config=config, seed=7)
    convert(src.parent, tmp_path / "mid", [via])
    convert(tmp_path / "mid", tmp_path / "back", ["tf1"])  # HF layouts add an identity projection when E == H
    original, written = bundle(src), bundle(tmp_path / "back" / tf1.PREFIX)
    assert set(written) == model_names(original)
    for name, array in written.items():
        assert arrays_equal(array, original[name]), name
    assert (tmp_path / "back" / "checkpoint").read_text().splitlines()[0] == 'model_checkpoint_path: "model.ckpt-best"'
    written_config = json.loads((tmp_path / "back" / "albert_config.json").read_text())
    assert {k: written_config[k] for k in config} == config  # the original form, gelu included
    if TOKENIZER.is_file():
        assert (tmp_path / "back" / tf1.TOKENIZER_NAME).read_bytes() == TOKENIZER.read_bytes()


@pytest.mark.slow
@pytest.mark.tf
def test_written_checkpoint_restores_with_tensorflow_and_transformers_loader_agrees(tmp_path):
    """One TensorFlow subprocess: tf.train.load_checkpoint on what we wrote (found through the `checkpoint` file),
    and transformers' own TF1 loader (load_tf_weights_in_albert) on an original checkpoint, run on the same inputs."""
    convert(COMMITTED, tmp_path / "hf", ["safetensors"])
    convert(tmp_path / "hf", tmp_path / "tf1", ["tf1"])
    # transformers' loader skips adam slots but loads lamb slots into the weights, so its input has none.
    original = write_checkpoint(tmp_path / "original", slots=False).parent
    ids, types, mask = sample_inputs(ORIGINAL_CONFIG)
    np.savez(tmp_path / "inputs.npz", ids=ids, types=types, mask=mask)
    script = r"""
import json, sys
import numpy as np
import tensorflow as tf
import torch
from transformers import AlbertConfig, AlbertForPreTraining
from transformers.models.albert.modeling_albert import load_tf_weights_in_albert

written, original, inputs, out = sys.argv[1:]
found = tf.train.latest_checkpoint(written)
reader = tf.train.load_checkpoint(written)
variables = {"var:" + name: reader.get_tensor(name) for name, _ in tf.train.list_variables(written)}
config = json.load(open(original + "/albert_config.json"))
config["hidden_act"] = "gelu_new"  # the original gelu is the tanh approximation
config = AlbertConfig(**config)
model = AlbertForPreTraining(config)
load_tf_weights_in_albert(model, config, original + "/model.ckpt-best")
x = np.load(inputs)
with torch.no_grad():
    o = model.eval()(input_ids=torch.tensor(x["ids"]), token_type_ids=torch.tensor(x["types"]),
                     attention_mask=torch.tensor(x["mask"]), output_hidden_states=True)
np.savez(out, **variables, prediction_logits=o.prediction_logits.numpy(), sop_logits=o.sop_logits.numpy(),
         sequence_output=o.hidden_states[-1].numpy(), latest=np.array(found))
"""
    result = subprocess.run([sys.executable, "-c", script, tmp_path / "tf1", original, tmp_path / "inputs.npz",
                             tmp_path / "tf.npz"], check=False, capture_output=True, text=True, env=ENV,
                            timeout=240)
    if result.returncode and "No module named 'tensorflow'" in result.stderr:
        pytest.skip("TensorFlow is not installed")
    assert result.returncode == 0, result.stderr[-3000:]
    got = np.load(tmp_path / "tf.npz")
    assert Path(str(got["latest"])) == tmp_path / "tf1" / tf1.PREFIX
    ours = bundle(tmp_path / "tf1" / tf1.PREFIX)
    restored = {k.removeprefix("var:"): got[k] for k in got.files if k.startswith("var:")}
    assert set(restored) == set(ours) == model_names(bundle(COMMITTED / tf1.PREFIX))
    for name, array in ours.items():
        assert arrays_equal(restored[name], array), name

    ref = reference(original / "model.ckpt-best", ORIGINAL_CONFIG)
    sequence, _ = ref.encode(ids, types, mask)
    diffs = {"prediction_logits": max_diff(got["prediction_logits"], ref.mlm_logits(sequence)),
             "sop_logits": max_diff(got["sop_logits"], ref.sop_logits(ref.pooled(sequence))),
             "sequence_output": max_diff(got["sequence_output"], sequence)}
    print("transformers load_tf_weights_in_albert", diffs)
    assert max(diffs.values()) < TOL, diffs


# ---- layouts -----------------------------------------------------------------------------------------------------

def test_directory_with_several_steps_reads_the_highest(tmp_path):
    for step, seed in ((100, 1), (2000, 2), (300, 3)):
        write_checkpoint(tmp_path, prefix=f"model.ckpt-{step}", seed=seed, slots=False)
    ckpt = load(tmp_path)
    assert ckpt.report.source == str(tmp_path / "model.ckpt-2000")
    assert any("model.ckpt-2000, the highest step" in w for w in ckpt.report.warnings)
    expected = bundle(tmp_path / "model.ckpt-2000")["bert/embeddings/word_embeddings"]
    assert arrays_equal(ckpt.tensors["embeddings.word"].read(), expected)


def test_checkpoint_file_names_the_one_to_read(tmp_path):
    for step, seed in ((100, 1), (2000, 2)):
        write_checkpoint(tmp_path, prefix=f"model.ckpt-{step}", seed=seed, slots=False)
    # Absolute paths in a `checkpoint` file go stale when a directory moves: the base name decides.
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "/elsewhere/model.ckpt-100"\n'
                                         'all_model_checkpoint_paths: "/elsewhere/model.ckpt-100"\n')
    ckpt = load(tmp_path)
    assert ckpt.report.source == str(tmp_path / "model.ckpt-100")
    assert any("named by the `checkpoint` file" in w for w in ckpt.report.warnings)
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-5"\n')
    with pytest.raises(BridgeError, match="model.ckpt-5, which is missing"):
        load(tmp_path)


def test_several_checkpoints_without_steps_are_refused(tmp_path):
    for name in ("model.ckpt-best", "model.ckpt-final"):
        write_checkpoint(tmp_path, prefix=name, slots=False)
    with pytest.raises(BridgeError, match="pass the prefix"):
        load(tmp_path)


def test_prefix_paths(tmp_path, capsys):
    for step, seed in ((100, 1), (2000, 2)):
        write_checkpoint(tmp_path / "src", prefix=f"model.ckpt-{step}", seed=seed, slots=False)
    older = tmp_path / "src" / "model.ckpt-100"
    word = bundle(older)["bert/embeddings/word_embeddings"]
    for path in (older, Path(f"{older}.index"), Path(f"{older}.data-00000-of-00001")):
        ckpt = get_format("tf1").load(path)
        assert ckpt.report.source == str(older) and not ckpt.report.warnings
        assert arrays_equal(ckpt.tensors["embeddings.word"].read(), word)
    code, _, err = cli(capsys, "convert", f"{older}.index", tmp_path / "a", "--to", "canonical")
    assert code == 0, err
    code, _, err = cli(capsys, "convert", older, tmp_path / "b", "--to", "canonical")  # a bare prefix names no file
    assert code == 0, err
    assert load(tmp_path / "b").tensors["embeddings.word"].read().tobytes() == word.tobytes()


@pytest.mark.parametrize("data_first", [True, False], ids=["data-first", "index-first"])
def test_release_tarball_is_read_without_unpacking(tmp_path, capsys, monkeypatch, data_first):
    src = write_checkpoint(tmp_path / "src", seed=11, full_slots=True).parent
    (tmp_path / "dl").mkdir()
    archive = tarball(src, tmp_path / "dl" / "albert_base_v2.tar.gz", data_first=data_first)
    assert detect_format(archive).name == "tf1"

    passes = []
    stream = TarStream._stream
    monkeypatch.setattr(TarStream, "_stream", lambda self: passes.append(1) or stream(self))
    from_tar, from_dir = load(archive), load(src)
    assert from_tar.head is HeadKind.PRETRAINING and from_tar.report.source == f"{archive}:albert_base/model.ckpt-best"
    assert len(from_tar.report.skipped) == len(from_dir.report.skipped) > 100  # slots for every variable
    assert set(from_tar.tensors) == set(from_dir.tensors)
    for key, tensor in from_tar.tensors.items():
        assert arrays_equal(tensor.read(), from_dir.tensors[key].read()), key
    assert len(passes) == 2  # one pass for the small members, one for every tensor: never one per tensor
    if TOKENIZER.is_file():
        assert from_tar.assets["spiece.model"].read_bytes() == TOKENIZER.read_bytes()

    code, _, err = cli(capsys, "convert", archive, tmp_path / "out", "--to", "safetensors")
    assert code == 0, err
    assert sorted(p.name for p in archive.parent.iterdir()) == [archive.name]  # nothing unpacked beside it
    if TOKENIZER.is_file():
        assert (tmp_path / "out" / "spiece.model").read_bytes() == TOKENIZER.read_bytes()


def test_tf_hub_module_directory(tmp_path):
    write_checkpoint(tmp_path / "hub", layout="hub", seed=4, slots=False, global_step=None)
    write_checkpoint(tmp_path / "release", seed=4, slots=False, global_step=None)
    assert detect_format(tmp_path / "hub").name == "tf1"
    hub, release = load(tmp_path / "hub"), load(tmp_path / "release")
    assert hub.report.source == str(tmp_path / "hub" / "variables" / "variables")
    assert hub.head is HeadKind.PRETRAINING and hub.config == release.config
    for key, tensor in release.tensors.items():
        assert arrays_equal(hub.tensors[key].read(), tensor.read()), key
    if TOKENIZER.is_file():
        assert hub.assets["spiece.model"] == tmp_path / "hub" / "assets" / "30k-clean.model"
    # tfhub.dev serves modules as tarballs of the module directory, member names starting with ./
    with tarfile.open(tmp_path / "module.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "hub", arcname=".")
    packed = load(tmp_path / "module.tar.gz")
    assert packed.report.source == f"{tmp_path / 'module.tar.gz'}:variables/variables"
    assert packed.config == release.config and ("spiece.model" in packed.assets) == TOKENIZER.is_file()
    for key, tensor in release.tensors.items():
        assert arrays_equal(packed.tensors[key].read(), tensor.read()), key


def test_module_prefix_is_read_as_if_absent(tmp_path):
    write_checkpoint(tmp_path / "plain", head="classifier", seed=6)
    write_checkpoint(tmp_path / "module", head="classifier", seed=6, module=True)
    assert "module/bert/embeddings/word_embeddings" in BundleReader(tmp_path / "module" / tf1.PREFIX)
    plain, module = load(tmp_path / "plain"), load(tmp_path / "module")
    assert module.head is HeadKind.SEQUENCE_CLASSIFICATION and module.config.num_labels == 3
    assert "module/bert/embeddings/word_embeddings/adam_m" in module.report.skipped
    for key, tensor in plain.tensors.items():
        assert arrays_equal(module.tensors[key].read(), tensor.read()), key


# ---- accounting and refusals -------------------------------------------------------------------------------------

def test_optimizer_slots_and_global_step_are_skipped_and_counted(capsys, tmp_path):
    names = list(bundle(COMMITTED / tf1.PREFIX))
    slots = [n for n in names if n.rsplit("/", 1)[-1] in ("adam_m", "adam_v", "lamb_m", "lamb_v")]
    assert any(n.endswith("lamb_m") for n in slots) and any(n.endswith("adam_v") for n in slots)
    ckpt = load(COMMITTED)
    assert ckpt.report.skipped == {**dict.fromkeys(slots, "optimizer slot"), "global_step": "training state"}
    assert ckpt.report.unknown == [] and ckpt.report.consumed == len(names) - len(slots) - 1
    code, out, err = cli(capsys, "convert", COMMITTED, tmp_path / "out", "--to", "canonical")
    assert code == 0, err
    assert f"{ckpt.report.consumed} tensors mapped, {len(slots) + 1} skipped" in out


def test_unknown_tensor_stops_the_conversion_unless_allowed(tmp_path, capsys):
    src = write_checkpoint(tmp_path / "src", extra={"bert/encoder/mystery_scale": np.float32([2.0])}).parent
    code, _, err = cli(capsys, "convert", src, tmp_path / "out", "--to", "safetensors")
    assert code == 3
    one_line_error(err, "bert/encoder/mystery_scale", "--allow-unused")
    assert not (tmp_path / "out").exists()
    code, _, err = cli(capsys, "convert", src, tmp_path / "out", "--to", "safetensors", "--allow-unused")
    assert code == 0, err


# Other layouts of a bundle (brightmart/albert_zh, TF2 object-based) are read or refused by the layout table:
# test_wild_layouts.py and test_tf2_objects.py.


@pytest.mark.parametrize("packaging", ["directory", "tarball"])
def test_corrupt_tensor_data_is_named(tmp_path, capsys, packaging):
    src = write_checkpoint(tmp_path / "src", seed=8).parent
    victim = "bert/encoder/transformer/group_1/inner_group_0/ffn_1/intermediate/dense/kernel"
    with BundleReader(src / tf1.PREFIX) as reader:
        offset = reader.entry(victim).offset + 17
    data = src / f"{tf1.PREFIX}.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[offset] ^= 0x40
    data.write_bytes(bytes(raw))
    path = tarball(src, tmp_path / "a.tar.gz") if packaging == "tarball" else src
    code, _, err = cli(capsys, "convert", path, tmp_path / "out", "--to", "safetensors")
    assert code == 3
    one_line_error(err, victim, "checksum")
    assert not (tmp_path / "out").exists()


def test_config_is_required_and_can_be_given(tmp_path, capsys):
    src = write_checkpoint(tmp_path / "src", seed=9, slots=False).parent
    (tmp_path / "albert_config.json").write_text((src / "albert_config.json").read_text())
    (src / "albert_config.json").unlink()
    code, _, err = cli(capsys, "convert", src, tmp_path / "out", "--to", "safetensors")
    assert code == 3
    one_line_error(err, "albert_config.json", "--config")
    code, _, err = cli(capsys, "convert", src, tmp_path / "out", "--to", "safetensors",
                       "--config", tmp_path / "albert_config.json")
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "config.json").read_text())["hidden_act"] == "gelu_new"
    # --config also wins over the albert_config.json beside the weights.
    (src / "albert_config.json").write_text((tmp_path / "albert_config.json").read_text())
    (tmp_path / "albert_config.json").write_text(json.dumps({**ORIGINAL_CONFIG, "hidden_act": "relu"}))
    code, _, err = cli(capsys, "convert", src, tmp_path / "relu", "--to", "safetensors",
                       "--config", tmp_path / "albert_config.json")
    assert code == 0, err
    assert json.loads((tmp_path / "relu" / "config.json").read_text())["hidden_act"] == "relu"


def test_tensorflow_is_not_needed(tmp_path):
    code = ("import sys\nsys.modules['tensorflow'] = None\n"
            "from albert_bridge.cli import main\n"
            "try:\n    import tensorflow\nexcept ImportError:\n    print('NO TF')\n"
            f"main(['convert', {str(COMMITTED)!r}, {str(tmp_path / 'out')!r}, '--to', 'safetensors,tf1,canonical'])\n")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=ENV,
                            timeout=120)
    assert result.returncode == 0 and "NO TF" in result.stdout, result.stderr
    assert (tmp_path / "out" / "model.safetensors").is_file() and (tmp_path / "out" / "model.ckpt-best.index").is_file()


def test_retired_transformers_script_still_works(tmp_path):
    import torch
    from transformers import AlbertForPreTraining

    script = ROOT / "converters" / "convert_albert_original_tf_checkpoint_to_pytorch.py"
    result = subprocess.run([sys.executable, script, "--tf_checkpoint_path", COMMITTED / tf1.PREFIX,
                             "--albert_config_file", COMMITTED / "albert_config.json",
                             "--pytorch_dump_path", tmp_path / "out" / "pytorch_model.bin"],
                            check=False, capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    model = AlbertForPreTraining.from_pretrained(tmp_path / "out").eval()
    ref = reference(COMMITTED / tf1.PREFIX, ORIGINAL_CONFIG)
    ids, types, mask = sample_inputs(ORIGINAL_CONFIG)
    sequence, _ = ref.encode(ids, types, mask)
    with torch.no_grad():
        got = model(**torch_inputs(ids, types, mask))
    assert max_diff(got.prediction_logits, ref.mlm_logits(sequence)) < TOL
    assert max_diff(got.sop_logits, ref.sop_logits(ref.pooled(sequence))) < TOL


# ---- writing -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("head", list(HeadKind), ids=[h.value for h in HeadKind])
def test_every_head_is_written_with_original_names(tmp_path, head):
    ckpt = make_checkpoint(head, seed=12)
    get_format("tf1").save(ckpt, tmp_path)
    names = set(bundle(tmp_path / tf1.PREFIX))
    heads = {n.rsplit("/", 1)[0] for n in names if not n.startswith("bert/")}
    expected = {
        HeadKind.BASE: set(),
        HeadKind.PRETRAINING: {"cls/predictions", "cls/predictions/transform/dense", "cls/predictions/transform/LayerNorm",
                               "cls/seq_relationship"},
        HeadKind.MASKED_LM: {"cls/predictions", "cls/predictions/transform/dense", "cls/predictions/transform/LayerNorm"},
        HeadKind.SEQUENCE_CLASSIFICATION: {"output_weights", "output_bias"},
        HeadKind.MULTIPLE_CHOICE: {"output_weights", "output_bias"},
        HeadKind.QUESTION_ANSWERING: {"cls/squad"},
        HeadKind.TOKEN_CLASSIFICATION: {"cls/token_classification"},  # no original name: ours, unmistakable
    }[head]
    assert heads == expected
    assert ("bert/pooler/dense/kernel" in names) == (head not in (HeadKind.MASKED_LM, HeadKind.QUESTION_ANSWERING,
                                                                  HeadKind.TOKEN_CLASSIFICATION))
    config = json.loads((tmp_path / "albert_config.json").read_text())
    assert config["architectures"] == [ARCHITECTURES[head]] and config["hidden_act"] == "gelu"
    assert load(tmp_path).head is head


def test_e_equals_h_projection_is_omitted_or_refused(tmp_path):
    config = tiny_config(embedding_size=32)
    ckpt = make_checkpoint(HeadKind.BASE, config=config).with_projection()  # random projection: not expressible
    with pytest.raises(BridgeError, match="not the identity"):
        get_format("tf1").save(ckpt, tmp_path / "a")
    assert not (tmp_path / "a" / f"{tf1.PREFIX}.index").exists()
    del ckpt.tensors["encoder.projection.kernel"], ckpt.tensors["encoder.projection.bias"]
    get_format("tf1").save(ckpt.with_projection(), tmp_path / "b")  # identity: omitted, as the original code does
    assert not any("embedding_hidden_mapping_in" in n for n in bundle(tmp_path / "b" / tf1.PREFIX))
    assert load(tmp_path / "b").problems() == []


def test_exact_gelu_has_no_original_spelling(tmp_path):
    ckpt = make_checkpoint(HeadKind.BASE, config=tiny_config(hidden_act="gelu"))
    with pytest.raises(BridgeError, match="hidden_act 'gelu'"):
        get_format("tf1").save(ckpt, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_label_count_from_the_index_is_bounded(tmp_path):
    """The classifier's shape in the index sets num_labels where the config does not say it: a lying one (10**12
    labels) used to hang building the label maps; it is refused like any config change, naming the tensor. Where the
    config states the labels (ours write id2label), the lie contradicts it and is refused naming both."""
    from dataclasses import replace

    from albert_bridge.formats import tf_bundle

    get_format("tf1").save(make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION, seed=3), tmp_path)
    index = tmp_path / "model.ckpt-best.index"
    items = [kv for block in tf_bundle._table_blocks(index.read_bytes()) for kv in tf_bundle._block_entries(block)]
    lie = {b"output_weights": lambda e: replace(e, shape=(10**12, e.shape[1]))}
    index.write_bytes(tf_bundle._build_table(
        [(key, lie[key](tf_bundle.BundleEntry.decode(value)).encode() if key in lie else value) for key, value in items]))
    with deadline(5), pytest.raises(BridgeError, match=r"says num_labels 3, but output_weights is \[1000000000000, 32\]"):
        load(tmp_path)
    config = tmp_path / "albert_config.json"
    config.write_text(json.dumps({k: v for k, v in json.loads(config.read_text()).items()
                                  if k not in ("id2label", "label2id", "num_labels")}))
    with deadline(5), pytest.raises(BridgeError, match="num_labels 1000000000000 exceeds") as info:
        load(tmp_path)
    assert "output_weights" in str(info.value) and str(tmp_path) in str(info.value)
