"""Hugging Face Flax checkpoints: `flax_model.msgpack`, single or sharded, read and written without JAX.

The file format is flax.serialization's (`to_bytes` / `msgpack_restore`), implemented here with `msgpack` + numpy:
- the file is ONE msgpack map: the parameter tree as nested maps with str keys;
- an array leaf is `ExtType(1, packb((shape, dtype_name, C-order bytes)))`; bfloat16 is named "bfloat16"
  (numpy's via ml_dtypes); 0-d numpy scalars use ExtType(3) the same way;
- an array over 2**30 bytes (flax's MAX_CHUNK_SIZE: msgpack objects are capped at 2**31-1 bytes) becomes the map
  `{"__msgpack_chunked_array__": True, "shape": {"0": d0, ...}, "chunks": {"0": flat chunk, ...}}` of flat chunks of
  2**30 // itemsize elements.
Sharded checkpoints are `flax_model-0000i-of-0000N.msgpack`, each a nested tree of its own, plus
`flax_model.msgpack.index.json` whose weight_map names tensors by their "/"-joined paths (transformers'
`flax_shard_checkpoint`).

Names here are those "/"-joined paths: the base model has no `albert/` prefix, heads have one; kernels are [in, out]
(the canonical layout, so every rule is the identity), LayerNorm `scale`/`bias`, embedding tables `embedding`; the
MLM decoder is tied to the word embeddings, so only `predictions/bias` is stored.

Memory: flax and transformers read a msgpack file whole (`f.read()` then unpack, so the file's size plus the
arrays). Here a load parses only the structure (headers are read, array bytes are skipped by seeking) and each
tensor is read from its file offset when asked for, so a conversion holds one tensor at a time. A save streams
too: map headers come from the names, then each tensor is packed straight into the file as it is read.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Sequence

import msgpack
import numpy as np

from ..arrays import contiguous, map_tensor
from ..checkpoint import Checkpoint, LazyTensor
from ..config import AlbertConfig
from ..dtypes import dtype_from_name
from ..errors import BridgeError, truncated
from ..schema import HeadKind
from .hf_layout import HFWeights, find_weights, load_hf, save_config, write_sharded
from .mapping import HFSpelling

FLAX_NAME = "flax_model.msgpack"
FLAX_INDEX = "flax_model.msgpack.index.json"

# flax.serialization.MAX_CHUNK_SIZE: arrays above it are written as chunked maps (read at call time: tests lower it).
MAX_CHUNK_SIZE = 2**30
_CHUNKED = "__msgpack_chunked_array__"
_EXT_NDARRAY, _EXT_COMPLEX, _EXT_NPSCALAR = 1, 2, 3
_MAX_DEPTH = 64  # parameter trees are ~8 deep; a deeper file is corrupt (and must not exhaust the stack)

# transformers' FlaxAlbert* parameter paths (checked against transformers 4.57 for every head in the tests).
FLAX_NAMES = HFSpelling(sep="/", index="/", dense=("kernel", "bias"), norm=("scale", "bias"),
                        embeddings=dict.fromkeys(("embeddings.word", "embeddings.position", "embeddings.token_type"),
                                                 "embedding"),
                        mlm_bias=("bias",))
MAPPING = FLAX_NAMES.mapping()


# --- reading: a structure-only msgpack parser ---------------------------------------------------------------------
class _Corrupt(Exception):
    """Raised inside the parser; turned into a BridgeError naming the file."""


class _Truncated(_Corrupt):
    def __init__(self, needed: int | None):
        super().__init__("truncated")
        self.needed = needed


@dataclass(frozen=True)
class _Span:
    offset: int
    length: int


@dataclass(frozen=True)
class _ArrayLeaf:
    """Where an array's bytes are in the file: one span, or several for a chunked array."""

    shape: tuple[int, ...]
    dtype: np.dtype
    spans: tuple[_Span, ...]


@dataclass(frozen=True)
class _OtherLeaf:
    """A leaf that is no array (a number, string, list, unknown ext type): reported, never a tensor."""

    kind: str


def _dtype_from_name(name: str) -> np.dtype:
    """numpy's dtype names, plus ml_dtypes' (bfloat16, float8_*, int4, ...), which numpy cannot name itself."""
    try:
        dtype = dtype_from_name(name)
    except (TypeError, ValueError, AttributeError):
        raise _Corrupt(f"unknown array dtype {name!r}") from None
    if dtype.hasobject or dtype.fields is not None or dtype.itemsize == 0:
        raise _Corrupt(f"unsupported array dtype {name!r}")
    return dtype


class _Parser:
    """Walks one msgpack object, reading headers and seeking over array bytes (which are recorded, not read)."""

    def __init__(self, stream: BinaryIO, size: int):
        self.stream, self.size, self.pos = stream, size, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > self.size:
            raise _Truncated(self.pos + n)
        data = self.stream.read(n)
        if len(data) != n:
            raise _Truncated(self.pos + n)
        self.pos += n
        return data

    def skip(self, n: int) -> _Span:
        if self.pos + n > self.size:
            raise _Truncated(self.pos + n)
        span = _Span(self.pos, n)
        self.stream.seek(n, 1)
        self.pos += n
        return span

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def count(self, n: int) -> int:
        """A container length: each element takes at least one byte, so a corrupt huge count fails here."""
        if n > self.size - self.pos:
            raise _Corrupt(f"a container claims {n} entries at offset {self.pos}, more than the file holds")
        return n

    def value(self, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise _Corrupt("nested too deep")
        at = self.pos
        b = self.take(1)[0]
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if b <= 0x8F:
            return self.map(b & 0x0F, depth)
        if b <= 0x9F:
            return self.array(b & 0x0F, depth)
        if b <= 0xBF:
            return self.str(b & 0x1F)
        if b == 0xC0:
            return None
        if b in (0xC2, 0xC3):
            return b == 0xC3
        if 0xC4 <= b <= 0xC6:  # bin 8/16/32: recorded, not read
            return self.skip(self.uint(1 << (b - 0xC4)))
        if 0xC7 <= b <= 0xC9:  # ext 8/16/32
            n = self.uint(1 << (b - 0xC7))
            return self.ext(struct.unpack(">b", self.take(1))[0], n, depth)
        if b == 0xCA:
            return struct.unpack(">f", self.take(4))[0]
        if b == 0xCB:
            return struct.unpack(">d", self.take(8))[0]
        if 0xCC <= b <= 0xCF:
            return self.uint(1 << (b - 0xCC))
        if 0xD0 <= b <= 0xD3:
            n = 1 << (b - 0xD0)
            return int.from_bytes(self.take(n), "big", signed=True)
        if 0xD4 <= b <= 0xD8:  # fixext 1/2/4/8/16
            code = struct.unpack(">b", self.take(1))[0]
            return self.ext(code, 1 << (b - 0xD4), depth)
        if 0xD9 <= b <= 0xDB:
            return self.str(self.uint(1 << (b - 0xD9)))
        if b in (0xDC, 0xDD):
            return self.array(self.uint(2 if b == 0xDC else 4), depth)
        if b in (0xDE, 0xDF):
            return self.map(self.uint(2 if b == 0xDE else 4), depth)
        raise _Corrupt(f"invalid msgpack byte 0x{b:02x} at offset {at}")

    def str(self, n: int) -> str:
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise _Corrupt(f"a string at offset {self.pos - n} is not UTF-8") from None

    def array(self, n: int, depth: int) -> list:
        return [self.value(depth + 1) for _ in range(self.count(n))]

    def map(self, n: int, depth: int) -> Any:
        out: dict[str, Any] = {}
        for _ in range(self.count(n)):
            at = self.pos
            key = self.value(depth + 1)
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise _Corrupt(f"a map key at offset {at} is a {type(key).__name__}, not a string")
            key = str(key)
            if key in out:
                raise _Corrupt(f"duplicate key {key!r} at offset {at}")
            out[key] = self.value(depth + 1)
        if out.get(_CHUNKED) is True:
            return _unchunk(out)
        return out

    def ext(self, code: int, n: int, depth: int) -> Any:
        end = self.pos + n
        if end > self.size:
            raise _Truncated(end)
        if code not in (_EXT_NDARRAY, _EXT_NPSCALAR):
            self.skip(n)
            return _OtherLeaf("complex number" if code == _EXT_COMPLEX else f"msgpack ext type {code}")
        at = self.pos
        inner = self.value(depth + 1)
        if self.pos != end or not (isinstance(inner, list) and len(inner) == 3 and isinstance(inner[2], _Span)):
            raise _Corrupt(f"the array at offset {at} is not (shape, dtype, bytes)")
        shape, name, data = inner
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise _Corrupt(f"the array at offset {at} has shape {shape!r}")
        if not isinstance(name, str):
            raise _Corrupt(f"the array at offset {at} has dtype {name!r}")
        dtype = _dtype_from_name(name)
        if math.prod(shape) * dtype.itemsize != data.length:
            raise _Corrupt(f"the array at offset {at} is {name}{shape} but holds {data.length} bytes")
        return _ArrayLeaf(tuple(shape), dtype, (data,))


def _unchunk(node: dict[str, Any]) -> _ArrayLeaf:
    """flax's chunked-array map back into one leaf (the chunks stay on disk)."""
    shape_map, chunks = node.get("shape"), node.get("chunks")
    if set(node) != {_CHUNKED, "shape", "chunks"} or not isinstance(shape_map, dict) or not isinstance(chunks, dict):
        raise _Corrupt("a chunked array is not {__msgpack_chunked_array__, shape, chunks}")
    try:
        shape = tuple(shape_map[str(i)] for i in range(len(shape_map)))
        parts = [chunks[str(i)] for i in range(len(chunks))]
    except KeyError:
        raise _Corrupt("a chunked array's shape or chunks are not numbered 0..n-1") from None
    if not all(isinstance(d, int) and d >= 0 for d in shape) or not all(
            isinstance(p, _ArrayLeaf) and len(p.shape) == 1 for p in parts) or not parts:
        raise _Corrupt("a chunked array has a bad shape or a chunk that is not a flat array")
    dtype = parts[0].dtype
    if any(p.dtype != dtype for p in parts) or sum(p.shape[0] for p in parts) != math.prod(shape):
        raise _Corrupt(f"a chunked array's chunks do not add up to {dtype}{list(shape)}")
    return _ArrayLeaf(shape, dtype, tuple(span for p in parts for span in p.spans))


def _kind(value: Any) -> str:
    """What a parsed msgpack value is, in msgpack's words."""
    if isinstance(value, _OtherLeaf):
        return value.kind
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "map",
             type(None): "nil", _Span: "bin", _ArrayLeaf: "array (ext 1)"}
    return names.get(type(value), type(value).__name__)


def _lfs_pointer(head: bytes) -> bool:
    return head.startswith(b"version https://git-lfs")


def read_tree(path: Path) -> dict[str, Any]:
    """The file's tree: nested dicts whose leaves say where each array is (nothing but headers is read)."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            size = path.stat().st_size
            if size == 0:
                raise BridgeError("empty file, not a flax msgpack checkpoint", file=path)
            if _lfs_pointer(stream.read(32)):
                raise BridgeError("a Git LFS pointer, not the weights (run `git lfs pull`)", file=path)
            stream.seek(0)
            parser = _Parser(stream, size)
            tree = parser.value()
            if not isinstance(tree, dict):
                raise _Corrupt(f"the file starts with a msgpack {_kind(tree)}, not a map (a parameter tree)")
            if parser.pos != size:
                raise _Corrupt(f"{size - parser.pos} bytes of extra data after the parameter tree")
    except _Truncated as exc:
        raise truncated(path, size, exc.needed) from None
    except _Corrupt as exc:
        raise BridgeError(f"not a readable flax msgpack checkpoint ({exc})", file=path) from None
    except OSError as exc:
        raise BridgeError(f"cannot read ({exc.strerror or exc})", file=path) from None
    return tree


def _reader(path: Path, leaf: _ArrayLeaf, name: str):
    def load() -> np.ndarray:
        if len(leaf.spans) == 1:  # one run of bytes: mapped, as safetensors are read
            return map_tensor(path, leaf.spans[0].offset, leaf.dtype, leaf.shape, name)
        out = np.empty(leaf.shape, leaf.dtype)  # chunked (over 1 GiB): the runs read one after another
        flat = memoryview(out.reshape(-1).view(np.uint8))
        done = 0
        try:
            with open(path, "rb") as stream:
                for span in leaf.spans:
                    stream.seek(span.offset)
                    if stream.readinto(flat[done:done + span.length]) != span.length:
                        raise BridgeError("truncated since it was opened", file=path, tensor=name)
                    done += span.length
        except OSError as exc:
            raise BridgeError(f"cannot read ({exc.strerror or exc})", file=path, tensor=name) from None
        return out

    return load


def _flatten(node: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, name + "/", out)
        else:
            out[name] = value


def read_msgpack(path: Path) -> tuple[dict[str, LazyTensor], dict[str, str]]:
    """Lazy tensors by "/"-joined path, and the leaves that are not arrays (path -> what they are)."""
    tree = read_tree(path)
    if list(tree) == ["params"] and isinstance(tree["params"], dict):
        tree = tree["params"]  # a whole flax variables dict {"params": ...}
    leaves: dict[str, Any] = {}
    _flatten(tree, "", leaves)
    tensors, others = {}, {}
    for name, leaf in leaves.items():
        if isinstance(leaf, _ArrayLeaf):
            tensors[name] = LazyTensor(leaf.shape, leaf.dtype, _reader(path, leaf, name), f"{path}: {name}")
        else:
            others[name] = _kind(leaf)
    return tensors, others


def msgpack_restore(path: Path) -> dict[str, Any]:
    """The whole tree with numpy arrays, like flax.serialization.msgpack_restore (for tests and small files)."""
    def materialize(node: dict[str, Any], prefix: str) -> dict[str, Any]:
        out = {}
        for key, value in node.items():
            if isinstance(value, dict):
                out[key] = materialize(value, f"{prefix}{key}/")
            elif isinstance(value, _ArrayLeaf):
                out[key] = _reader(path, value, prefix + key)()
            else:
                out[key] = value
        return out

    return materialize(read_tree(path), "")


# --- writing: streamed, one tensor at a time ------------------------------------------------------------------------
def _ext_header(code: int, n: int) -> bytes:
    """msgpack's ext header exactly as msgpack's Packer chooses it (fixext for 1/2/4/8/16 bytes)."""
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if n in fixed:
        head = bytes([fixed[n]])
    elif n < 2**8:
        head = bytes([0xC7, n])
    elif n < 2**16:
        head = b"\xc8" + n.to_bytes(2, "big")
    elif n < 2**32:
        head = b"\xc9" + n.to_bytes(4, "big")
    else:
        raise ValueError(f"an ext object of {n} bytes is over msgpack's limit")
    return head + struct.pack(">b", code)


def _bin_header(n: int) -> bytes:
    if n < 2**8:
        return bytes([0xC4, n])
    if n < 2**16:
        return b"\xc5" + n.to_bytes(2, "big")
    if n < 2**32:
        return b"\xc6" + n.to_bytes(4, "big")
    raise ValueError(f"a bin object of {n} bytes is over msgpack's limit")


class _Writer:
    def __init__(self, stream: BinaryIO, path: Path):
        self.stream, self.path = stream, path
        self.packer = msgpack.Packer(use_bin_type=True)

    def node(self, node: dict[str, Any]) -> None:
        self.stream.write(self.packer.pack_map_header(len(node)))
        for key, value in node.items():
            self.stream.write(self.packer.pack(key))
            if isinstance(value, dict):
                self.node(value)
            else:
                self.leaf(key, value)

    def leaf(self, key: str, tensor: LazyTensor) -> None:
        array = np.asarray(tensor.read())
        array = contiguous(array)
        if array.dtype.hasobject or array.dtype.fields is not None:
            raise BridgeError(f"cannot write dtype {array.dtype}", file=self.path, tensor=tensor.origin or key)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))  # flax writes native (little-endian) bytes
        if array.nbytes <= MAX_CHUNK_SIZE:
            self.array(array)
            return
        # flax.serialization._chunk: flat chunks of MAX_CHUNK_SIZE / itemsize elements, numbered maps.
        size = max(1, int(MAX_CHUNK_SIZE / array.dtype.itemsize))
        flat = array.reshape(-1)
        starts = range(0, flat.size, size)
        pack = self.packer.pack
        self.stream.write(self.packer.pack_map_header(3) + pack(_CHUNKED) + pack(True) + pack("shape"))
        self.stream.write(self.packer.pack_map_header(array.ndim))
        for i, dim in enumerate(array.shape):
            self.stream.write(pack(str(i)) + pack(int(dim)))
        self.stream.write(pack("chunks") + self.packer.pack_map_header(len(starts)))
        for i, start in enumerate(starts):
            self.stream.write(pack(str(i)))
            self.array(flat[start:start + size])

    def array(self, array: np.ndarray) -> None:
        # ExtType(1, packb((shape, dtype name, bytes))), the payload written from the array's own buffer.
        inner = (b"\x93" + self.packer.pack([int(d) for d in array.shape]) + self.packer.pack(array.dtype.name)
                 + _bin_header(array.nbytes))
        self.stream.write(_ext_header(_EXT_NDARRAY, len(inner) + array.nbytes) + inner)
        self.stream.write(array.reshape(-1).view(np.uint8).data)


def nest(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """"/"-joined names -> nested dicts, in the order the names come."""
    tree: dict[str, Any] = {}
    for name, value in items:
        *parents, last = name.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{name!r}: {part!r} is both a tensor and a subtree")
        if last in node:
            raise ValueError(f"{name!r} given twice, or both a tensor and a subtree")
        node[last] = value
    return tree


def write_msgpack(path: Path, items: Sequence[tuple[str, LazyTensor]]) -> None:
    """One msgpack file holding these tensors as a nested tree, byte for byte what flax.serialization.to_bytes
    writes for the same tree; tensors are read and written one at a time."""
    tree = nest(items)
    with open(path, "wb") as stream:
        _Writer(stream, Path(path)).node(tree)


# --- the adapter -----------------------------------------------------------------------------------------------------
def detect(path: Path) -> Path | None:
    return find_weights(Path(path), FLAX_NAME, FLAX_INDEX)


FLAX = HFWeights("flax", FLAX_NAME, FLAX_INDEX, MAPPING, lambda path, report: read_msgpack(path))


def load(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    return load_hf(FLAX, detect(Path(path)), Path(path), head, config)


def save(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    """config.json (architectures FlaxAlbert...) + flax_model.msgpack, or transformers-named shards + index."""
    ckpt = ckpt.with_projection()  # transformers' Flax ALBERT always has the E->H projection
    native = MAPPING.to_native(ckpt.tensors, ckpt.head)
    config = save_config(ckpt, directory)
    return [config, *write_sharded(directory, native, FLAX_NAME, max_shard_size, write_msgpack)]
