"""The `tf_model.h5` adapter: round trips, sharding, split attributes, errors, and no TensorFlow needed.

Files written by transformers' own TF classes are checked in tests/test_tf2_models.py (one shared subprocess).
"""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from albert_bridge.cli import main
from albert_bridge.errors import BridgeError
from albert_bridge.formats import detect_format, get_format, hf_keras_h5, load
from albert_bridge.schema import ARCHITECTURES, HeadKind
from albert_bridge.testing import make_checkpoint
from tests.helpers import FIXTURE, ROOT, assert_same_tensors

TF = get_format("tf")


def test_round_trip_is_bit_exact(tmp_path, head):
    ckpt = make_checkpoint(head, seed=4)
    written = TF.save(ckpt, tmp_path)
    assert sorted(p.name for p in written) == ["config.json", "tf_model.h5"]
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == [ARCHITECTURES[head]]
    assert detect_format(tmp_path).name == "tf"
    back = load(tmp_path)
    assert back.problems() == [] and back.report.unknown == [] and back.report.warnings == []
    assert_same_tensors(ckpt, back)
    # Written again from what was read: the same bytes (datasets, attributes, order).
    TF.save(back, tmp_path / "again")
    assert (tmp_path / "again" / "tf_model.h5").read_bytes() == (tmp_path / "tf_model.h5").read_bytes()


def test_layout_is_keras_save_weights(tmp_path):
    TF.save(make_checkpoint(HeadKind.PRETRAINING, seed=1), tmp_path)
    with h5py.File(tmp_path / "tf_model.h5", "r") as f:
        assert list(f.attrs["layer_names"]) == ["albert", "predictions", "sop_classifier"]
        assert f.attrs["backend"] == "tensorflow" and "keras_version" in f.attrs
        assert sorted(f) == ["albert", "predictions", "sop_classifier", "top_level_model_weights"]
        names = list(f["predictions"].attrs["weight_names"])
        assert names[:2] == ["tf_albert_for_pre_training/predictions/bias:0",
                             "tf_albert_for_pre_training/predictions/decoder/bias:0"]
        # Keras lists the tied embeddings under the MLM head too.
        assert "tf_albert_for_pre_training/albert/embeddings/word_embeddings/weight:0" in names
        kernel = f["albert/tf_albert_for_pre_training/albert/encoder/albert_layer_groups_._1/albert_layers_._0/ffn/kernel:0"]
        assert kernel.shape == (32, 40)  # [in, out]
        bias = f["predictions/tf_albert_for_pre_training/predictions/bias:0"][()]
        assert np.array_equal(bias, f["predictions/tf_albert_for_pre_training/predictions/decoder/bias:0"][()])


def test_keras_model_names():
    assert hf_keras_h5.MODEL_NAMES == {
        HeadKind.BASE: "tf_albert_model", HeadKind.PRETRAINING: "tf_albert_for_pre_training",
        HeadKind.MASKED_LM: "tf_albert_for_masked_lm",
        HeadKind.SEQUENCE_CLASSIFICATION: "tf_albert_for_sequence_classification",
        HeadKind.MULTIPLE_CHOICE: "tf_albert_for_multiple_choice",
        HeadKind.TOKEN_CLASSIFICATION: "tf_albert_for_token_classification",
        HeadKind.QUESTION_ANSWERING: "tf_albert_for_question_answering"}


def test_sharded_round_trip(tmp_path):
    ckpt = make_checkpoint(HeadKind.PRETRAINING, seed=2)
    written = TF.save(ckpt, tmp_path, max_shard_size=20_000)
    shards = sorted(p.name for p in written if p.name.startswith("tf_model-"))
    assert len(shards) > 2 and shards[0] == f"tf_model-00001-of-{len(shards):05d}.h5"
    index = json.loads((tmp_path / "tf_model.h5.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    assert all(name.startswith("tf_albert_for_pre_training/") for name in index["weight_map"])
    with h5py.File(tmp_path / shards[0], "r") as f:  # flat datasets named without the model name
        listed = list(f.attrs["layer_names"])
        assert listed and all(isinstance(f[name], h5py.Dataset) for name in listed)
        assert not any(name.startswith("tf_albert") for name in listed)
    assert not (tmp_path / "tf_model.h5").exists()
    back = load(tmp_path)
    assert back.report.format == "tf" and back.report.warnings == []
    assert_same_tensors(ckpt, back)


def test_split_attributes_read_back(tmp_path, monkeypatch):
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=3)
    monkeypatch.setattr(hf_keras_h5, "HDF5_OBJECT_HEADER_LIMIT", 1000)
    TF.save(ckpt, tmp_path / "full")
    TF.save(ckpt, tmp_path / "sharded", max_shard_size=30_000)
    with h5py.File(tmp_path / "full" / "tf_model.h5", "r") as f:
        assert "weight_names" not in f["albert"].attrs and "weight_names3" in f["albert"].attrs
        assert all(f["albert"].attrs[k].nbytes <= 1000 for k in f["albert"].attrs)
    shard = sorted((tmp_path / "sharded").glob("tf_model-*.h5"))[0]
    with h5py.File(shard, "r") as f:
        assert "layer_names" not in f.attrs and "layer_names1" in f.attrs
    monkeypatch.undo()
    assert_same_tensors(ckpt, load(tmp_path / "full"))
    assert_same_tensors(ckpt, load(tmp_path / "sharded"))
    # The root attribute splits the same way (a tiny limit: the three short layer names no longer fit).
    monkeypatch.setattr(hf_keras_h5, "HDF5_OBJECT_HEADER_LIMIT", 90)
    with h5py.File(tmp_path / "attrs.h5", "w") as f:
        hf_keras_h5.write_name_list(f, "layer_names", ["albert", "dropout", "classifier"] * 4)
        assert "layer_names" not in f.attrs and "layer_names1" in f.attrs
        assert hf_keras_h5.read_name_list(f, "layer_names") == ["albert", "dropout", "classifier"] * 4


def test_mlm_bias_mismatch_warns_and_uses_decoder_bias(tmp_path):
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=5)
    TF.save(ckpt, tmp_path)
    path = tmp_path / "tf_model.h5"
    with h5py.File(path, "r+") as f:  # what transformers' PyTorch->TF conversion leaves: decoder/bias zero
        f["predictions/tf_albert_for_masked_lm/predictions/decoder/bias:0"][...] = 0.0
    back = load(tmp_path)
    assert len(back.report.warnings) == 1
    warning = back.report.warnings[0]
    assert str(path) in warning and "predictions/decoder/bias" in warning
    assert not back.tensors["head.mlm.output_bias"].read().any()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_round_trips(tmp_path, dtype):
    ckpt = make_checkpoint(HeadKind.MASKED_LM, dtype=dtype)
    TF.save(ckpt, tmp_path)
    back = load(tmp_path)
    assert back.dtypes() == {dtype: len(ckpt.tensors)}
    assert_same_tensors(ckpt, back)
    with h5py.File(tmp_path / "tf_model.h5", "r") as f:
        ds = f["albert/tf_albert_for_masked_lm/albert/embeddings/word_embeddings/weight:0"]
        # HDF5 has no bfloat16: Keras 3's convention, opaque 2-byte data tagged with the dtype.
        assert (ds.dtype.kind, ds.attrs.get("dtype")) == (("V", "bfloat16") if dtype == "bfloat16" else ("f", None))


def test_projection_added_when_e_equals_h(tmp_path):
    from albert_bridge.testing import tiny_config

    ckpt = make_checkpoint(HeadKind.BASE, config=tiny_config(embedding_size=32))
    del ckpt.tensors["encoder.projection.kernel"], ckpt.tensors["encoder.projection.bias"]
    TF.save(ckpt, tmp_path)
    back = load(tmp_path)
    assert np.array_equal(back.tensors["encoder.projection.kernel"].read(), np.eye(32, dtype=np.float32))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "no-layer-names", "missing-dataset"])
def test_damaged_files_give_one_line_errors(tmp_path, capsys, damage):
    TF.save(make_checkpoint(HeadKind.MASKED_LM, seed=6), tmp_path)
    path = tmp_path / "tf_model.h5"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    else:
        with h5py.File(path, "r+") as f:
            if damage == "no-layer-names":
                del f.attrs["layer_names"]
            else:
                del f["albert/tf_albert_for_masked_lm/albert/encoder/embedding_hidden_mapping_in/kernel:0"]
    with pytest.raises(BridgeError) as info:
        load(tmp_path).materialize()
    assert str(path) in str(info.value)
    try:
        main(["inspect", str(tmp_path)])
        code = 0
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1 and str(path) in err, err


def test_cli_convert_and_h5_io_need_no_tensorflow(tmp_path):
    """In a process where `import tensorflow` fails: convert to tf (plain and sharded) and read both back."""
    code = f"""
import sys
sys.modules["tensorflow"] = None
sys.modules["keras"] = None
from albert_bridge.cli import main
from albert_bridge.formats import load
for args in (["--to", "tf"], ["--to", "tf,safetensors", "--max-shard-size", "30KB"]):
    out = {str(tmp_path)!r} + "/out" + str(len(args))
    try:
        main(["convert", {str(FIXTURE)!r}, out, *args])
    except SystemExit as exc:
        assert not exc.code, exc.code
    ckpt = load(out, "tf")
    assert ckpt.problems() == [] and ckpt.report.format == "tf"
    ckpt.materialize()
print("HEAVY", [m for m in ("tensorflow", "keras", "torch", "jax") if sys.modules.get(m) is not None])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "HEAVY []" in out.stdout
    assert_same_tensors(load(FIXTURE), load(tmp_path / "out2"))
    assert sorted(p.name for p in (tmp_path / "out4").iterdir() if p.name.startswith("tf_model"))[-1] \
        == "tf_model.h5.index.json"


def test_a_lying_string_datatype_is_a_bridge_error(tmp_path):
    """Found by fuzzing: a corrupt character type inside a string attribute's datatype made h5py raise a bare
    RuntimeError from the library API (the CLI hid it as `error: RuntimeError: ...`, without the file)."""
    import re

    TF.save(make_checkpoint(HeadKind.BASE, seed=3), tmp_path)
    path = tmp_path / "tf_model.h5"
    data = bytearray(path.read_bytes())
    # A variable-length string datatype (class 9, version 1, size 16) followed by its 1-byte character base type.
    at = re.search(re.escape(bytes.fromhex("1901000010000000")), data).start()
    data[at + 14:at + 22] = b"\x7f" + b"\xff" * 7  # the base type's precision and offset: nonsense
    path.write_bytes(bytes(data))
    with pytest.raises(BridgeError, match="damaged HDF5 file") as info:
        load(tmp_path).materialize()
    assert str(info.value).startswith(f"{path}: ")


def test_headers_claiming_more_than_the_file_are_refused_before_reading(tmp_path):
    TF.save(make_checkpoint(HeadKind.BASE, seed=3), tmp_path)
    path = tmp_path / "tf_model.h5"
    with h5py.File(path, "r+") as f:  # a dataset whose shape claims far more than the file holds
        group = f["albert"]
        name = "tf_albert_model/albert/pooler/bias:0"
        del group[name]
        group.create_dataset(name, shape=(2**40,), dtype="float32")  # never written: HDF5 allocates on read
    with pytest.raises(BridgeError, match=r"dataset claims 4398046511104 bytes, the file has \d+") as info:
        load(tmp_path)
    assert "pooler/bias:0" in str(info.value)
