"""TF V2 checkpoint bundles: our reader/writer against TensorFlow itself (in a subprocess) and against corruption."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import textwrap
import weakref
from pathlib import Path

import google_crc32c
import ml_dtypes
import numpy as np
import pytest

from albert_bridge import protowire
from albert_bridge.errors import BridgeError
from albert_bridge.formats import tf_bundle as tb
from albert_bridge.formats.tf_bundle import BundleReader, write_bundle

REPO = Path(__file__).resolve().parents[1]
QUERY = "bert/encoder/transformer/group_0/inner_group_0/attention_1/self/query/kernel"


def sample_tensors() -> dict[str, np.ndarray]:
    """Every supported dtype, scalars, an empty tensor, ALBERT-like names sharing long prefixes."""
    rng = np.random.default_rng(0)
    t = {
        QUERY: rng.standard_normal((4, 6)).astype(np.float32),
        "bert/encoder/transformer/group_0/inner_group_0/attention_1/self/key/kernel": rng.standard_normal((4, 6))
        .astype(np.float32),
        "bert/encoder/transformer/group_0/inner_group_0/attention_1/self/query/bias": np.float32([0.5, -1, 2, 0, 3, 4]),
        "global_step": np.int64(123456789012),
        "f64": rng.standard_normal(3),
        "i32": np.int32([-1, 0, 7]),
        "half": rng.standard_normal((2, 3)).astype(np.float16),
        "bf16": rng.standard_normal((3, 2)).astype(ml_dtypes.bfloat16),
        "bool": np.array([True, False, True]),
        "i8": np.int8([-128, 0, 127]),
        "u8": np.uint8([0, 255]),
        "i16": np.int16([-3, 3]),
        "u16": np.uint16([65535]),
        "u32": np.uint32([4000000000]),
        "u64": np.uint64([2**64 - 1]),
        "scalar": np.float32(3.25),
        "empty": np.zeros((0, 3), np.float32),
        "empty_bf16": np.zeros((2, 0), ml_dtypes.bfloat16),
    }
    return t


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-exact equality, including dtype and shape (NaN-safe, works for bfloat16)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def save_npz(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Raw bytes + a JSON manifest: npz cannot hold bfloat16, and names with '/' make poor npz keys."""
    meta = [[n, str(a.dtype), list(a.shape)] for n, a in tensors.items()]
    np.savez(path, meta=json.dumps(meta), **{f"t{i}": np.frombuffer(a.tobytes(), np.uint8)
                                            for i, a in enumerate(tensors.values())})


def load_npz(path: Path) -> dict[str, np.ndarray]:
    z = np.load(path)
    dtypes = {"bfloat16": np.dtype(ml_dtypes.bfloat16)}
    return {n: z[f"t{i}"].view(dtypes.get(d, np.dtype(d))).reshape(s)
            for i, (n, d, s) in enumerate(json.loads(str(z["meta"])))}


# ---- our writer -> our reader ------------------------------------------------------------------------------------------

def test_round_trip_every_dtype(tmp_path):
    tensors = sample_tensors()
    write_bundle(tmp_path / "m.ckpt", tensors)
    assert sorted(os.listdir(tmp_path)) == ["m.ckpt.data-00000-of-00001", "m.ckpt.index"]
    with BundleReader(tmp_path / "m.ckpt") as r:
        assert r.keys() == sorted(tensors)
        for name, want in tensors.items():
            assert r.info(name) == (want.dtype, want.shape, want.nbytes)
            got = r.read(name)
            assert same(got, want), name
    write_bundle(tmp_path / "be", {"x": np.arange(3, dtype=">f4"), "t": np.arange(6, dtype=np.int32).reshape(2, 3).T})
    with BundleReader(tmp_path / "be") as r:  # big-endian and non-contiguous inputs are normalized, values kept
        assert same(r.read("x"), np.arange(3, dtype="<f4"))
        assert same(r.read("t"), np.ascontiguousarray(np.arange(6, dtype=np.int32).reshape(2, 3).T))
    # Back-to-back data, as TF writes it.
    assert os.path.getsize(tmp_path / "m.ckpt.data-00000-of-00001") == sum(a.nbytes for a in tensors.values())


def test_writer_streams_one_tensor_at_a_time(tmp_path):
    class Tracked(np.ndarray):  # ndarray itself cannot be weakly referenced
        pass

    alive, order = [], []

    def make(name, n):
        def produce():
            assert all(ref() is None for ref in alive), "writer kept an earlier tensor alive"
            order.append(name)
            arr = np.full((n, 3), n, np.float32).view(Tracked)
            alive.append(weakref.ref(arr))
            return arr
        return produce

    names = ["b", "a/z", "a", "c", "a/b"]
    write_bundle(tmp_path / "s", [(n, make(n, i)) for i, n in enumerate(names)])
    assert order == sorted(names)
    r = BundleReader(tmp_path / "s")
    assert same(r.read("c"), np.full((3, 3), 3, np.float32))
    r.close()


def test_many_long_names_span_several_index_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(tb, "BLOCK_SIZE", 4096)  # LevelDB's size: many blocks from few tensors
    tensors = {f"bert/encoder/layer_{i:03d}/" + "x" * (i % 50) + "/kernel": np.float32([i]) for i in range(300)}
    write_bundle(tmp_path / "m", tensors)
    index = (tmp_path / "m.index").read_bytes()
    assert len(tb._table_blocks(index)) > 3
    with BundleReader(tmp_path / "m") as r:
        assert r.keys() == sorted(tensors)
        assert all(same(r.read(n), a) for n, a in tensors.items())


def test_big_tensor_read_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(tb, "CHUNK", 1000)  # CRC over many pieces must equal the CRC over the whole
    a = np.arange(10_003, dtype=np.float64)
    write_bundle(tmp_path / "m", {"a": a, "b": np.ones(3, np.float32)})
    with BundleReader(tmp_path / "m") as r:
        assert same(r.read("a"), a)
    with open(tmp_path / "m.data-00000-of-00001", "rb") as f:
        data = f.read()
    r = BundleReader.from_sources((tmp_path / "m.index").read_bytes(), lambda i: io.BytesIO(data), name="mem")
    assert same(r.read("a"), a)
    r.close()


def test_from_sources_reads_tar_members(tmp_path):
    tensors = sample_tensors()
    write_bundle(tmp_path / "m.ckpt", tensors)
    with tarfile.open(tmp_path / "m.tar", "w") as tar:
        for suffix in (".index", ".data-00000-of-00001"):
            tar.add(tmp_path / f"m.ckpt{suffix}", arcname=f"model/m.ckpt{suffix}")
    with tarfile.open(tmp_path / "m.tar") as tar:
        index = tar.extractfile("model/m.ckpt.index").read()
        opened = []

        def open_shard(i):
            opened.append(i)
            return tar.extractfile(f"model/m.ckpt.data-{i:05d}-of-00001")

        with BundleReader.from_sources(index, open_shard, name="m.tar:model/m.ckpt") as r:
            assert all(same(r.read(n), a) for n, a in tensors.items())
        assert opened == [0]


def test_multiple_data_shards(tmp_path):
    parts = {"a": (0, np.float32([1, 2])), "b": (1, np.int64([3])), "c": (1, np.float16([4, 5]))}
    items = [(b"", tb._encode_header(num_shards=2))]
    data = [bytearray(), bytearray()]
    for name, (shard, arr) in parts.items():
        raw = arr.tobytes()
        entry = tb.BundleEntry(tb._TF_DTYPE[arr.dtype], arr.shape, shard, len(data[shard]), len(raw), tb._masked_crc(raw))
        items.append((name.encode(), entry.encode()))
        data[shard] += raw
    for i, raw in enumerate(data):
        Path(tb.data_shard_path(tmp_path / "m", i, 2)).write_bytes(raw)
    (tmp_path / "m.index").write_bytes(tb._build_table(items))
    with BundleReader(tmp_path / "m") as r:
        assert r.num_shards == 2
        assert all(same(r.read(n), a) for n, (_, a) in parts.items())


def test_writer_refuses_bad_input_and_leaves_nothing(tmp_path):
    with pytest.raises(BridgeError, match="tensor 's': dtype <U1 cannot be stored"):
        write_bundle(tmp_path / "m", {"a": np.ones(2), "s": np.array(["x"])})
    with pytest.raises(BridgeError, match="duplicate"):
        write_bundle(tmp_path / "m", [("a", np.ones(2)), ("a", np.ones(2))])
    with pytest.raises(BridgeError, match="non-empty"):
        write_bundle(tmp_path / "m", {"": np.ones(2)})

    def boom():
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        write_bundle(tmp_path / "m", {"a": np.ones(2), "b": boom})
    assert os.listdir(tmp_path) == []


# ---- corruption ----------------------------------------------------------------------------------------------------------

@pytest.fixture
def bundle(tmp_path):
    write_bundle(tmp_path / "m", sample_tensors())
    return tmp_path / "m"


def patch(path: Path, offset: int, data: bytes) -> None:
    buf = bytearray(path.read_bytes())
    buf[offset:offset + len(data)] = data
    path.write_bytes(bytes(buf))


def test_flipped_data_byte_names_tensor(bundle):
    entry = BundleReader(bundle).entry(QUERY)
    data = Path(f"{bundle}.data-00000-of-00001")
    patch(data, entry.offset + 5, bytes([data.read_bytes()[entry.offset + 5] ^ 0x10]))
    with BundleReader(bundle) as r:
        with pytest.raises(BridgeError, match="checksum mismatch") as e:
            r.read(QUERY)
        assert e.value.tensor == QUERY and e.value.file.endswith(".data-00000-of-00001")
        assert same(r.read("global_step"), np.int64(123456789012))  # other tensors still readable


def test_truncated_data_file(bundle):
    data = Path(f"{bundle}.data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:10])
    with BundleReader(bundle) as r, pytest.raises(BridgeError, match="truncated") as e:
        r.read(QUERY)
    assert e.value.tensor == QUERY


def test_missing_data_file(bundle):
    os.remove(f"{bundle}.data-00000-of-00001")
    with BundleReader(bundle) as r, pytest.raises(BridgeError, match="cannot open data shard"):
        r.read("u8")


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-7], "bad table magic"),
    (lambda b: b[:30], "shorter than"),
    (lambda b: b"", "shorter than"),
    (lambda b: bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8)), "bad table magic"),
    (lambda b: b[:-8] + struct.pack("<Q", 0x1234), "bad table magic"),
    (lambda b: b[:3] + bytes([b[3] ^ 1]) + b[4:], "block checksum mismatch"),
    (lambda b: b[100:], "past the end|checksum"),
])
def test_damaged_index(bundle, damage, message):
    index = Path(f"{bundle}.index")
    index.write_bytes(damage(index.read_bytes()))
    with pytest.raises(BridgeError, match=message) as e:
        BundleReader(bundle)
    assert e.value.file == str(index)


def table_with(items, compression=0) -> bytes:
    """An index with the given (key, value) items; `compression` is written (with a valid CRC) on the data block."""
    table = bytearray(tb._build_table(items))
    if compression:
        n = len(tb._table_blocks(bytes(table))[0])
        table[n] = compression
        table[n + 1:n + 5] = struct.pack("<I", tb._masked_crc(bytes(table[:n + 1])))
    return bytes(table)


def test_snappy_block_rejected():
    items = [(b"", tb._encode_header()), (b"a", tb.BundleEntry(1, (), size=4).encode())]
    with pytest.raises(BridgeError, match="snappy"):
        BundleReader.from_sources(table_with(items, compression=1), io.BytesIO)


def test_big_endian_and_missing_header_rejected():
    big = [(b"", tb._encode_header(big_endian=True))]
    with pytest.raises(BridgeError, match="big-endian"):
        BundleReader.from_sources(table_with(big), io.BytesIO)
    with pytest.raises(BridgeError, match="missing bundle header"):
        BundleReader.from_sources(table_with([(b"a", tb.BundleEntry(1, ()).encode())]), io.BytesIO)


def test_sliced_entry_rejected():
    sliced = tb.BundleEntry(1, (4,), size=16).encode() + b"\x3a\x00"  # field 7: one empty TensorSliceProto
    items = [(b"", tb._encode_header()), (b"part", sliced)]
    with pytest.raises(BridgeError, match="sliced") as e:
        BundleReader.from_sources(table_with(items), io.BytesIO)
    assert e.value.tensor == "part"


def test_unsupported_dtype_and_bad_size():
    string_entry = tb.BundleEntry(7, (), size=3, crc32c=tb._masked_crc(b"abc")).encode()
    items = [(b"", tb._encode_header()), (b"_CHECKPOINTABLE_OBJECT_GRAPH", string_entry),
             (b"w", tb.BundleEntry(1, (2, 3), size=20).encode())]
    r = BundleReader.from_sources(table_with(items), lambda i: io.BytesIO(bytes(64)), name="mem")
    assert r.keys() == ["_CHECKPOINTABLE_OBJECT_GRAPH", "w"]
    assert r.info("_CHECKPOINTABLE_OBJECT_GRAPH") == (None, (), 3)
    with pytest.raises(BridgeError, match="unsupported dtype DT_STRING") as e:
        r.read("_CHECKPOINTABLE_OBJECT_GRAPH")
    assert e.value.tensor == "_CHECKPOINTABLE_OBJECT_GRAPH" and e.value.file == "mem.index"
    with pytest.raises(BridgeError, match="size 20 does not match"):
        r.read("w")
    with pytest.raises(BridgeError, match="no such tensor"):
        r.read("nope")


def test_protobuf_wire_helpers():
    e = tb.BundleEntry(dtype=14, shape=(0, 7, 1 << 40), shard_id=3, offset=1 << 33, size=5, crc32c=0xFFFFFFFF)
    assert tb.BundleEntry.decode(e.encode()) == e
    assert protowire.signed(protowire.read_varint(protowire.encode_varint(-1), 0)[0]) == -1
    with pytest.raises(ValueError):
        protowire.read_varint(b"\x80\x80", 0)
    assert tb._mask(google_crc32c.value(b"")) == 0xA282EAD8  # what TF stores for empty tensors


def test_reading_and_writing_need_no_tensorflow(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.modules["tensorflow"] = None  # any `import tensorflow` now raises ImportError
        import numpy as np
        from albert_bridge.formats.tf_bundle import BundleReader, write_bundle
        write_bundle({str(tmp_path / 'm')!r}, {{"w": np.arange(6, dtype=np.float32).reshape(2, 3)}})
        with BundleReader({str(tmp_path / 'm')!r}) as r:
            assert r.read("w").tolist() == [[0, 1, 2], [3, 4, 5]]
        assert not [m for m, mod in sys.modules.items() if mod and m.startswith(("tensorflow", "keras"))]
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# ---- TensorFlow cross-checks (TensorFlow runs in a subprocess, never in this process) -------------------------------------

TF_SCRIPT = r"""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, sys.argv[2])
import numpy as np
import tensorflow as tf
from test_tf_bundle import load_npz, save_npz, same  # shared helpers, no TF inside

work = sys.argv[1]
out = {}

# 1. TF reads the bundle we wrote.
ours = load_npz(os.path.join(work, "ours.npz"))
reader = tf.train.load_checkpoint(os.path.join(work, "ours"))
out["read_ok"] = {n: bool(same(np.asarray(reader.get_tensor(n)), a)) for n, a in ours.items()}
out["shapes"] = {n: list(s) for n, s in reader.get_variable_to_shape_map().items()}
out["dtypes"] = {n: d.name for n, d in reader.get_variable_to_dtype_map().items()}

# 2. Saver (graph mode) and tf.train.Checkpoint (eager, name-based fallback) restore it.
restorable = {n: a for n, a in ours.items() if a.dtype.name in ("float32", "int64", "float16", "bfloat16")}
with tf.Graph().as_default():
    vs = {n: tf.compat.v1.get_variable(n, a.shape, tf.as_dtype(a.dtype), tf.zeros_initializer())
          for n, a in restorable.items()}
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver(vs).restore(sess, os.path.join(work, "ours"))
        got = sess.run(vs)
out["saver_ok"] = {n: bool(same(np.asarray(got[n]), a)) for n, a in restorable.items()}
eager = {n: tf.Variable(tf.zeros(a.shape, tf.as_dtype(a.dtype)), name=n) for n, a in restorable.items()}
tf.train.Checkpoint(**{f"v{i}": v for i, v in enumerate(eager.values())}).restore(os.path.join(work, "ours"))
out["checkpoint_ok"] = {n: bool(same(eager[n].numpy(), restorable[n])) for n in restorable}

# 3. TF writes: a tf.compat.v1 Saver checkpoint (with names long enough for several 256 KiB index blocks) ...
theirs = load_npz(os.path.join(work, "theirs.npz"))
with tf.Graph().as_default():
    vs = [tf.compat.v1.get_variable(n, initializer=tf.constant(a)) for n, a in theirs.items()]
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver(vs).save(sess, os.path.join(work, "saver", "model.ckpt-best"))

# ... and an object-based tf.train.Checkpoint.
ck = {"kernel": tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3)), "step": tf.Variable(np.int64(42)),
      "half": tf.Variable(np.float16([1.5, -2])), "bf": tf.Variable(tf.constant([0.1, 2.5], tf.bfloat16))}
tf.train.Checkpoint(**ck).write(os.path.join(work, "obj", "ckpt"))
save_npz(os.path.join(work, "obj.npz"), {f"{k}/.ATTRIBUTES/VARIABLE_VALUE": v.numpy() for k, v in ck.items()})
print(json.dumps(out))
"""


def theirs_tensors() -> dict[str, np.ndarray]:
    t = {n: a for n, a in sample_tensors().items() if a.dtype.name in
         ("float32", "float64", "int32", "int64", "float16", "bfloat16", "bool", "int8", "uint8", "int16")}
    # ~300 KiB of keys with distinct early bytes: prefix compression cannot hide them, so TF writes 2 index blocks.
    t.update({f"long/{i:03d}/" + "x" * 1000: np.float32(i) for i in range(300)})
    return t


@pytest.fixture(scope="module")
def tf_run(tmp_path_factory):
    if importlib.util.find_spec("tensorflow") is None:  # not importorskip: that would import TF into this process
        pytest.skip("tensorflow is not installed")
    work = tmp_path_factory.mktemp("tf")
    write_bundle(work / "ours", sample_tensors())
    save_npz(work / "ours.npz", sample_tensors())
    save_npz(work / "theirs.npz", theirs_tensors())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", TF_SCRIPT, str(work), str(Path(__file__).parent)], check=False,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work, json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.tf
def test_tf_reads_our_bundle(tf_run):
    _, out = tf_run
    tensors = sample_tensors()
    assert out["read_ok"] == {n: True for n in tensors}
    assert out["shapes"] == {n: list(a.shape) for n, a in tensors.items()}
    assert out["dtypes"] == {n: a.dtype.name for n, a in tensors.items()}


@pytest.mark.slow
@pytest.mark.tf
def test_tf_saver_and_checkpoint_restore_our_bundle(tf_run):
    _, out = tf_run
    assert out["saver_ok"] and all(out["saver_ok"].values()), out["saver_ok"]
    assert out["checkpoint_ok"] == out["saver_ok"]


@pytest.mark.slow
@pytest.mark.tf
def test_we_read_tf_saver_bundle(tf_run):
    work, _ = tf_run
    prefix = work / "saver" / "model.ckpt-best"
    want = theirs_tensors()
    with BundleReader(prefix) as r:
        assert r.num_shards == 1 and r.producer == 1
        assert r.keys() == sorted(want)
        for name, a in want.items():
            assert r.info(name) == (a.dtype, a.shape, a.nbytes)
            assert same(r.read(name), a), name
    index = Path(f"{prefix}.index").read_bytes()
    assert len(tb._table_blocks(index)) >= 2
    # Rewriting TF's tensors gives byte-identical files: same entries, block layout, separators and data order.
    write_bundle(work / "rewritten", want)
    assert (work / "rewritten.index").read_bytes() == index
    assert Path(work / "rewritten.data-00000-of-00001").read_bytes() == Path(
        f"{prefix}.data-00000-of-00001").read_bytes()


@pytest.mark.slow
@pytest.mark.tf
def test_we_read_tf_object_checkpoint(tf_run):
    work, _ = tf_run
    want = load_npz(work / "obj.npz")
    with BundleReader(work / "obj" / "ckpt") as r:
        for name, a in want.items():
            assert same(r.read(name), a), name
        assert r.info("_CHECKPOINTABLE_OBJECT_GRAPH").dtype is None
        with pytest.raises(BridgeError, match="DT_STRING"):
            r.read("_CHECKPOINTABLE_OBJECT_GRAPH")
