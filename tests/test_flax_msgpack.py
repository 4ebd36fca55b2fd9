"""flax_model.msgpack without JAX: byte for byte flax.serialization's format, lazy reads, streamed writes, shards,
and one-line errors for damaged files."""

import json
import os
import re
import subprocess
import sys
import weakref

import ml_dtypes
import numpy as np
import pytest

from albert_bridge.arrays import arrays_equal
from albert_bridge.checkpoint import LazyTensor
from albert_bridge.errors import BridgeError
from albert_bridge.formats import detect_format, get_format, load
from albert_bridge.formats import hf_flax_msgpack as fm
from albert_bridge.schema import ARCHITECTURES, HeadKind
from albert_bridge.testing import make_checkpoint
from tests.helpers import FIXTURE, ROOT
from tests.helpers import flatten_tree as flat
from tests.helpers import cli as call


@pytest.fixture
def serialization():
    """flax.serialization, the reference implementation of the file format (imports JAX)."""
    return pytest.importorskip("flax.serialization")





def same_array(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def odd_tree() -> dict:
    """Leaves and keys that exercise every msgpack encoding a parameter tree can use."""
    rng = np.random.default_rng(0)
    tree = {
        "a": {"kernel": rng.standard_normal((3, 4)).astype(np.float32),
              "scalar": np.array(1.5, np.float32),              # 16-byte payload: msgpack's fixext16
              "empty": np.zeros((0, 5), np.float32),
              "big_dims": np.zeros((70000, 0), np.float16)},    # a uint32 dimension
        "x" * 40: {"y" * 300: rng.standard_normal((7,)).astype(ml_dtypes.bfloat16)},  # str8 and str16 keys
        "ints": np.arange(300, dtype=np.int64),
        "half": rng.standard_normal((100, 70)).astype(np.float16),  # a bin16 payload over 2**16 bytes: bin32
        "uint8": np.arange(256, dtype=np.uint8).reshape(16, 16),
    }
    for i in range(20):  # a map of more than 15 entries: map16
        tree[f"k{i}"] = np.full((i,), i, np.float64)
    return tree


def write(path, tree: dict) -> bytes:
    fm.write_msgpack(path, [(name, LazyTensor.of(value)) for name, value in flat(tree).items()])
    return path.read_bytes()


# --- the file format against flax.serialization ----------------------------------------------------------------------
@pytest.mark.flax
def test_bytes_equal_flax_to_bytes(tmp_path, serialization):
    tree = odd_tree()
    ours = write(tmp_path / "t.msgpack", tree)
    assert ours == serialization.to_bytes(tree)
    restored = flat(serialization.msgpack_restore(ours))
    assert list(restored) == list(flat(tree))
    assert all(same_array(restored[name], value) for name, value in flat(tree).items())


@pytest.mark.flax
def test_flax_written_files_read_here(tmp_path, serialization):
    tree = odd_tree()
    (tmp_path / "f.msgpack").write_bytes(serialization.to_bytes(tree))
    ours = flat(fm.msgpack_restore(tmp_path / "f.msgpack"))
    assert list(ours) == list(flat(tree))
    assert all(same_array(ours[name], value) for name, value in flat(tree).items())
    tensors, others = fm.read_msgpack(tmp_path / "f.msgpack")
    assert others == {} and all(same_array(tensors[n].read(), v) for n, v in flat(tree).items())


@pytest.mark.flax
def test_chunked_leaves_match_flax(tmp_path, serialization, monkeypatch):
    assert fm.MAX_CHUNK_SIZE == serialization.MAX_CHUNK_SIZE == 2**30
    # Arrays over MAX_CHUNK_SIZE bytes become chunked maps; a small limit exercises the same code on tiny arrays.
    monkeypatch.setattr(serialization, "MAX_CHUNK_SIZE", 64)
    monkeypatch.setattr(fm, "MAX_CHUNK_SIZE", 64)
    tree = odd_tree()
    ours = write(tmp_path / "c.msgpack", tree)
    assert b"__msgpack_chunked_array__" in ours
    assert ours == serialization.to_bytes(tree)
    assert all(same_array(a, b) for a, b in zip(flat(serialization.msgpack_restore(ours)).values(),
                                                 flat(tree).values()))
    ours_read = flat(fm.msgpack_restore(tmp_path / "c.msgpack"))
    assert all(same_array(ours_read[name], value) for name, value in flat(tree).items())


@pytest.mark.flax
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_every_head_decodes_with_flax(tmp_path, head, dtype, serialization):
    ckpt = make_checkpoint(head, seed=4, dtype=dtype)
    get_format("flax").save(ckpt, tmp_path)
    data = (tmp_path / "flax_model.msgpack").read_bytes()
    tree = serialization.msgpack_restore(data)
    assert serialization.to_bytes(tree) == data
    assert ("albert" in tree) is (head is not HeadKind.BASE)
    native = flat(tree)
    for key, tensor in ckpt.tensors.items():
        name, _ = fm.MAPPING.native_name(key, head)
        assert same_array(native.pop(name), tensor.read()), name
    assert native == {}
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == [ARCHITECTURES[head]]  # as transformers writes from every framework
    back = load(tmp_path)
    assert back.report.format == "flax" and back.head is head and back.problems() == []
    assert all(arrays_equal(back.tensors[k].read(), t.read()) for k, t in ckpt.tensors.items())


# --- sharding, laziness, streaming -----------------------------------------------------------------------------------
@pytest.mark.flax
def test_sharded_round_trip_in_transformers_layout(tmp_path, serialization):
    ckpt = make_checkpoint(HeadKind.PRETRAINING, seed=5)
    files = get_format("flax").save(ckpt, tmp_path, max_shard_size=20_000)
    shards = sorted(f.name for f in files if f.suffix == ".msgpack")
    n = len(shards)
    assert n > 2 and shards == [f"flax_model-{i:05d}-of-{n:05d}.msgpack" for i in range(1, n + 1)]
    index = json.loads((tmp_path / "flax_model.msgpack.index.json").read_text())
    assert index["metadata"]["total_size"] == ckpt.nbytes()
    for shard in shards:  # each shard is a nested tree of its own; the index names its leaves by "/"-joined path
        names = set(flat(serialization.msgpack_restore((tmp_path / shard).read_bytes())))
        assert names == {name for name, file in index["weight_map"].items() if file == shard}
    assert detect_format(tmp_path).name == "flax"
    back = load(tmp_path)
    assert set(back.tensors) == set(ckpt.tensors)
    assert all(arrays_equal(back.tensors[k].read(), t.read()) for k, t in ckpt.tensors.items())


def test_index_naming_an_absent_tensor_is_an_error(tmp_path):
    get_format("flax").save(make_checkpoint(HeadKind.MASKED_LM, seed=5), tmp_path, max_shard_size=20_000)
    index_path = tmp_path / "flax_model.msgpack.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["albert/pooler/kernel"] = next(iter(index["weight_map"].values()))
    index_path.write_text(json.dumps(index))
    with pytest.raises(BridgeError, match="albert/pooler/kernel"):
        load(tmp_path)


def test_reads_are_lazy(tmp_path):
    get_format("flax").save(make_checkpoint(HeadKind.BASE, seed=6), tmp_path)
    file = tmp_path / "flax_model.msgpack"
    ckpt = load(tmp_path)  # parsed the structure only
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(BridgeError, match="truncated since it was opened") as info:
        for tensor in ckpt.tensors.values():
            tensor.read()
    assert str(file) in str(info.value)


def test_writes_hold_one_tensor_at_a_time(tmp_path):
    alive: set[int] = set()
    peak = 0

    def tensor(i: int) -> LazyTensor:
        def read():
            nonlocal peak
            array = np.full((64, 64), i, np.float32)
            alive.add(i)
            weakref.finalize(array, alive.discard, i)
            peak = max(peak, len(alive))
            return array

        return LazyTensor((64, 64), np.dtype("float32"), read)

    fm.write_msgpack(tmp_path / "s.msgpack", [(f"layer/{i}/kernel", tensor(i)) for i in range(12)])
    assert peak == 1 and not alive
    tree = fm.msgpack_restore(tmp_path / "s.msgpack")
    assert [int(tree["layer"][str(i)]["kernel"][0, 0]) for i in range(12)] == list(range(12))


def test_reading_and_writing_need_no_jax(tmp_path):
    """The adapter is numpy + msgpack: it works where importing jax, flax (and torch) fails."""
    code = f"""
import sys
for name in ("jax", "jaxlib", "flax", "torch", "tensorflow"):
    sys.modules[name] = None
try:
    import jax
except ImportError:
    pass
else:
    raise SystemExit("jax importable")
from albert_bridge.convert import convert
from albert_bridge.formats import load
convert({str(FIXTURE)!r}, {str(tmp_path / 'flax')!r}, ["flax"])
convert({str(tmp_path / 'flax')!r}, {str(tmp_path / 'bf16')!r}, ["flax"], dtype="bfloat16", max_shard_size=20_000)
convert({str(tmp_path / 'bf16')!r}, {str(tmp_path / 'st')!r}, ["safetensors"])
print("OK", load({str(tmp_path / 'flax')!r}).report.format, load({str(tmp_path / 'st')!r}).dtypes())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and "OK flax {'bfloat16':" in out.stdout, out.stdout + out.stderr
    assert (tmp_path / "bf16" / "flax_model.msgpack.index.json").is_file()


def test_cli_converts_to_and_from_flax(tmp_path, capsys):
    code, stdout, err = call(capsys, "convert", FIXTURE, tmp_path / "flax", "--to", "flax")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "flax").iterdir()) == ["config.json", "flax_model.msgpack"]
    code, _, err = call(capsys, "convert", tmp_path / "flax", tmp_path / "back", "--to", "safetensors")
    assert code == 0, err
    original, back = load(FIXTURE), load(tmp_path / "back")
    assert set(original.tensors) == set(back.tensors)
    assert all(arrays_equal(t.read(), back.tensors[k].read()) for k, t in original.tensors.items())


# --- damaged files ---------------------------------------------------------------------------------------------------
def _damage(data: bytes, kind: str) -> bytes:
    if kind == "empty":
        return b""
    if kind == "garbage":
        return b"\xc1" + data[1:]
    if kind == "lfs-pointer":
        return b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 123\n"
    if kind == "extra-data":
        return data + b"\x00"
    if kind == "not-a-map":
        return b"\x93\x01\x02\x03"
    if kind == "bad-dtype":
        return data.replace(b"\xa7float32", b"\xa7floatXX", 1)
    if kind == "wrong-size":  # the first array claims one row more than its bytes hold
        match = re.search(rb"\x93\x92(\x63)\x18", data)  # shape [99, 24]: the word embeddings
        assert match
        return data[:match.start(1)] + b"\x64" + data[match.end(1):]
    if kind == "deep":
        return b"\x81\xa1a" * 100 + b"\xc0"
    cut = {"truncated-header": 30, "truncated-middle": len(data) // 2, "truncated-last-byte": len(data) - 1}[kind]
    return data[:cut]


DAMAGE = ["empty", "garbage", "lfs-pointer", "extra-data", "not-a-map", "bad-dtype", "wrong-size", "deep",
          "truncated-header", "truncated-middle", "truncated-last-byte"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_file_is_one_line_naming_it(tmp_path, capsys, kind):
    get_format("flax").save(make_checkpoint(HeadKind.MASKED_LM, seed=7), tmp_path / "src")
    file = tmp_path / "src" / "flax_model.msgpack"
    file.write_bytes(_damage(file.read_bytes(), kind))
    with pytest.raises(BridgeError) as info:
        ckpt = load(tmp_path / "src", "flax")
        for tensor in ckpt.tensors.values():
            tensor.read()
    assert str(file) in str(info.value)
    code, _, err = call(capsys, "convert", tmp_path / "src", tmp_path / "out", "--to", "safetensors")
    assert code == 3 and str(file) in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_random_corruption_never_escapes_as_another_error(tmp_path):
    get_format("flax").save(make_checkpoint(HeadKind.BASE, seed=8), tmp_path)
    file = tmp_path / "flax_model.msgpack"
    data = file.read_bytes()
    # Damage the structure (headers, keys, shapes, dtypes), not the array payloads (a flipped weight is still valid).
    payload = np.zeros(len(data), bool)
    for leaf in flat(fm.read_tree(file)).values():
        for span in leaf.spans:
            payload[span.offset:span.offset + span.length] = True
    structure = np.flatnonzero(~payload)
    rng = np.random.default_rng(0)
    errors = 0
    for position in rng.choice(structure, size=300, replace=False):
        damaged = bytearray(data)
        damaged[position] ^= int(rng.integers(1, 256))
        file.write_bytes(bytes(damaged))
        try:
            for tensor in load(tmp_path, "flax").tensors.values():
                tensor.read()
        except BridgeError as exc:  # anything else fails the test
            assert str(file) in str(exc)
            errors += 1
    assert errors > 100, errors


@pytest.mark.flax
def test_leaves_that_are_not_arrays_and_untied_decoders_are_named(tmp_path, serialization):
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=9)
    get_format("flax").save(ckpt, tmp_path)
    tree = fm.msgpack_restore(tmp_path / "flax_model.msgpack")
    tree["step"] = 7
    tree["predictions"]["decoder"] = {"kernel": np.zeros((24, 99), np.float32)}
    (tmp_path / "flax_model.msgpack").write_bytes(serialization.to_bytes(tree))
    back = load(tmp_path)
    assert sorted(back.report.unknown) == ["predictions/decoder/kernel", "step (integer)"]
    assert sorted(p.tensor for p in back.problems()) == ["predictions/decoder/kernel", "step (integer)"]
    with pytest.raises(BridgeError, match=r"step \(integer\).*not an ALBERT tensor.*1 more"):
        back.validate()


@pytest.mark.flax
def test_variables_dict_wrapper_is_read(tmp_path, serialization):
    ckpt = make_checkpoint(HeadKind.BASE, seed=9)
    get_format("flax").save(ckpt, tmp_path)
    tree = fm.msgpack_restore(tmp_path / "flax_model.msgpack")
    (tmp_path / "flax_model.msgpack").write_bytes(serialization.to_bytes({"params": tree}))
    back = load(tmp_path)
    assert back.problems() == [] and set(back.tensors) == set(ckpt.tensors)
