"""Adapters: round trips bit-exact for every head x format, sharding, dtypes, tied weights, strict accounting."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from albert_bridge.arrays import arrays_equal
from albert_bridge.convert import convert
from albert_bridge.errors import BridgeError
from albert_bridge.formats import FORMATS, detect_format, get_format, load
from albert_bridge.formats.hf_layout import parse_size
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint, tiny_config
from tests.helpers import assert_same_tensors

# Every format that holds every head and shares a directory: keras-hub (some heads, a directory of its own) has its
# round trips in tests/test_keras_hub.py, the deployment tiers theirs in tests/test_tiers.py.
WRITABLE = [name for name, fmt in FORMATS.items() if fmt.available and fmt.in_all]


@pytest.mark.parametrize("fmt", WRITABLE)
def test_round_trip_is_bit_exact(tmp_path, head, fmt):
    ckpt = make_checkpoint(head, seed=1)
    get_format(fmt).save(ckpt, tmp_path)
    back = load(tmp_path, fmt)
    assert back.head is head
    assert back.config.to_dict() | {"architectures": None} == ckpt.config.to_dict() | {"architectures": None}
    assert back.problems() == []
    assert_same_tensors(ckpt, back)


@pytest.mark.parametrize("src_fmt", WRITABLE)
@pytest.mark.parametrize("dst_fmt", WRITABLE)
def test_every_pair_of_formats(tmp_path, src_fmt, dst_fmt):
    ckpt = make_checkpoint(HeadKind.PRETRAINING, seed=2)
    get_format(src_fmt).save(ckpt, tmp_path / "src")
    convert(tmp_path / "src", tmp_path / "dst", [dst_fmt], src_format=src_fmt)
    assert_same_tensors(ckpt, load(tmp_path / "dst", dst_fmt))


@pytest.mark.parametrize("fmt", ["safetensors", "pytorch"])
def test_sharded_write_and_read(tmp_path, fmt):
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=3)
    files = get_format(fmt).save(ckpt, tmp_path, max_shard_size=20_000)
    index = [f for f in files if f.name.endswith(".index.json")]
    assert len(index) == 1 and len(files) > 3
    data = json.loads(index[0].read_text())
    assert data["metadata"]["total_size"] == ckpt.nbytes()
    assert set(data["weight_map"].values()) == {f.name for f in files if f not in index and f.name != "config.json"}
    assert detect_format(tmp_path).name == fmt
    assert_same_tensors(ckpt, load(tmp_path, fmt))


def test_missing_shard_is_named(tmp_path):
    files = get_format("safetensors").save(make_checkpoint(seed=3), tmp_path, max_shard_size=20_000)
    files[1].unlink()
    with pytest.raises(BridgeError, match=files[1].name):
        load(tmp_path)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("fmt", WRITABLE)
def test_dtypes_are_preserved(tmp_path, fmt, dtype):
    ckpt = make_checkpoint(HeadKind.BASE, seed=4, dtype=dtype)
    get_format(fmt).save(ckpt, tmp_path)
    back = load(tmp_path, fmt)
    assert back.dtypes() == {dtype: len(ckpt.tensors)}
    assert_same_tensors(ckpt, back)


def test_cast_on_request(tmp_path):
    ckpt = make_checkpoint(HeadKind.BASE, seed=4)
    convert_dir = tmp_path / "out"
    get_format("safetensors").save(ckpt, tmp_path / "src")
    convert(tmp_path / "src", convert_dir, ["safetensors"], dtype="bfloat16")
    back = load(convert_dir)
    assert back.dtypes() == {"bfloat16": len(ckpt.tensors)}
    word = back.tensors["embeddings.word"].read().astype(np.float32)
    np.testing.assert_allclose(word, ckpt.tensors["embeddings.word"].read(), rtol=1e-2)


def test_bin_keeps_tied_copies_and_safetensors_drops_them(tmp_path):
    import torch

    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=5)
    get_format("pytorch").save(ckpt, tmp_path)
    get_format("safetensors").save(ckpt, tmp_path)
    state = torch.load(tmp_path / "pytorch_model.bin", weights_only=True)
    assert torch.equal(state["predictions.decoder.weight"], state["albert.embeddings.word_embeddings.weight"])
    assert torch.equal(state["predictions.decoder.bias"], state["predictions.bias"])
    assert not any("decoder" in k for k in load_file(tmp_path / "model.safetensors"))
    report = load(tmp_path, "pytorch").report
    assert report.skipped["predictions.decoder.weight"].startswith("tied")


def test_differing_decoder_bias_warns(tmp_path):
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=5)
    get_format("safetensors").save(ckpt, tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["predictions.decoder.bias"] = tensors["predictions.bias"] + 1
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    back = load(tmp_path)
    assert any("decoder.bias differs" in w for w in back.report.warnings)
    assert arrays_equal(back.tensors["head.mlm.output_bias"].read(), ckpt.tensors["head.mlm.output_bias"].read())


def test_legacy_buffers_are_skipped(tmp_path):
    ckpt = make_checkpoint(HeadKind.BASE, seed=6)
    get_format("safetensors").save(ckpt, tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["embeddings.position_ids"] = np.arange(40, dtype=np.int64)[None]
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    back = load(tmp_path)
    assert back.report.skipped == {"embeddings.position_ids": "buffer, not a weight"}
    assert back.problems() == []


def test_unknown_tensor_is_reported_by_name(tmp_path):
    get_format("safetensors").save(make_checkpoint(HeadKind.BASE, seed=6), tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["encoder.mystery.weight"] = np.zeros(3, np.float32)
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(BridgeError, match="encoder.mystery.weight"):
        load(tmp_path).validate()
    result = convert(tmp_path, tmp_path.parent / f"{tmp_path.name}-out", ["safetensors"], allow_unused=True)
    assert "encoder.mystery.weight" in result.checkpoint.report.skipped


def test_missing_and_misshapen_tensors_are_named(tmp_path):
    get_format("safetensors").save(make_checkpoint(HeadKind.BASE, seed=7), tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    del tensors["encoder.albert_layer_groups.1.albert_layers.0.ffn.bias"]
    tensors["pooler.weight"] = np.zeros((32, 31), np.float32)
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    problems = {p.tensor: p.message for p in load(tmp_path).problems()}
    assert problems["encoder.group.1.inner.0.ffn.intermediate.bias"] == "missing"
    assert "shape [31, 32]" in problems["pooler.kernel"]


def test_config_mismatch_is_caught(tmp_path):
    get_format("safetensors").save(make_checkpoint(HeadKind.BASE, seed=7), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["intermediate_size"] = 41
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BridgeError, match=r"ffn\.intermediate.*config implies \[32, 41\]"):
        load(tmp_path).validate()


def test_head_override_drops_and_reports(tmp_path):
    get_format("safetensors").save(make_checkpoint(HeadKind.PRETRAINING, seed=8), tmp_path)
    base = load(tmp_path, head="base")
    assert base.head is HeadKind.BASE and base.problems() == []
    assert base.report.skipped["head.sop.kernel"] == "not part of head base"


def test_head_is_inferred_without_architectures(tmp_path, head):
    get_format("safetensors").save(make_checkpoint(head, seed=9), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["architectures"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    inferred = load(tmp_path).head
    # Multiple choice and single-output sequence classification share one tensor layout.
    assert inferred is (HeadKind.SEQUENCE_CLASSIFICATION if head is HeadKind.MULTIPLE_CHOICE else head)


def test_projection_is_optional_only_when_e_equals_h(tmp_path):
    config = tiny_config(embedding_size=32)
    ckpt = make_checkpoint(HeadKind.BASE, config=config)
    del ckpt.tensors["encoder.projection.kernel"], ckpt.tensors["encoder.projection.bias"]
    assert ckpt.problems() == []
    ckpt = make_checkpoint(HeadKind.BASE)
    del ckpt.tensors["encoder.projection.kernel"]
    assert [p.tensor for p in ckpt.problems()] == ["encoder.projection.kernel"]


def test_parse_size():
    assert parse_size("5GB") == 5 * 10**9
    assert parse_size("2GiB") == 2 * 2**30
    assert parse_size("100") == 100
    assert parse_size("0") is None
    with pytest.raises(ValueError):
        parse_size("lots")


def test_progress_counts_every_byte_written(tmp_path):
    ckpt = make_checkpoint(HeadKind.PRETRAINING, seed=1)
    get_format("safetensors").save(ckpt, tmp_path / "src")
    seen = []
    convert(tmp_path / "src", tmp_path / "out", ["safetensors", "canonical"], progress=lambda n, total: seen.append((n, total)))
    assert sum(n for n, _ in seen) == 2 * ckpt.nbytes() == seen[-1][1]


@pytest.mark.parametrize("fmt", ["safetensors", "pytorch"])
def test_naming_one_shard_reads_the_whole_checkpoint(tmp_path, fmt):
    ckpt = make_checkpoint(HeadKind.BASE, seed=3)
    files = get_format(fmt).save(ckpt, tmp_path, max_shard_size=20_000)
    shard = next(f for f in files if "-00002-of-" in f.name)
    assert_same_tensors(ckpt, load(shard))


def test_cast_up_from_bfloat16_on_request(tmp_path, capsys):
    """Every other cast test casts down; `--dtype float32` on a bfloat16 checkpoint must widen it, exactly."""
    from tests.helpers import cli

    ckpt = make_checkpoint(HeadKind.BASE, seed=4, dtype="bfloat16")
    get_format("safetensors").save(ckpt, tmp_path / "src")
    code, _, err = cli(capsys, "convert", tmp_path / "src", tmp_path / "out", "--to", "safetensors,flax",
                       "--dtype", "float32")
    assert code == 0, err
    for fmt in ("safetensors", "flax"):
        back = load(tmp_path / "out", fmt)
        assert back.dtypes() == {"float32": len(ckpt.tensors)}
        for key, tensor in ckpt.tensors.items():
            assert arrays_equal(back.tensors[key].read(), tensor.read().astype(np.float32)), key


def test_bin_with_only_the_decoder_bias_reads_it_as_the_bias(tmp_path):
    """Old pytorch_model.bin files hold `predictions.decoder.bias` and no `predictions.bias`."""
    import torch

    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=5)
    get_format("pytorch").save(ckpt, tmp_path)
    state = torch.load(tmp_path / "pytorch_model.bin", weights_only=True)
    del state["predictions.bias"]
    torch.save(state, tmp_path / "pytorch_model.bin")
    back = load(tmp_path)
    assert back.problems() == [] and back.report.unknown == []
    assert arrays_equal(back.tensors["head.mlm.output_bias"].read(), ckpt.tensors["head.mlm.output_bias"].read())


def test_convert_to_all_writes_every_available_format(tmp_path, capsys, monkeypatch):
    """`--to all` is every format this installation writes; announced ones (not yet available) are left out."""
    from albert_bridge.formats import Format
    from tests.helpers import FIXTURE
    from tests.helpers import cli

    monkeypatch.setitem(FORMATS, "someday", Format("someday", None, "a format a later release brings", issue="#99"))
    code, stdout, err = cli(capsys, "convert", FIXTURE, tmp_path / "out", "--to", "all")
    assert code == 0, err
    assert [line.split(":")[0] for line in stdout.splitlines() if line.startswith("wrote ")] == \
        [f"wrote {name}" for name in WRITABLE]
    original = load(FIXTURE)
    for fmt in WRITABLE:
        assert_same_tensors(original, load(tmp_path / "out", fmt))
