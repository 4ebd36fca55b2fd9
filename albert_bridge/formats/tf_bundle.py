"""TensorFlow V2 checkpoints ("tensor bundles") read and written without TensorFlow.

A bundle is `<prefix>.index`, a LevelDB-style SSTable mapping tensor names to BundleEntryProto (key "" holds the
BundleHeaderProto), plus `<prefix>.data-NNNNN-of-MMMMM` shards of raw little-endian tensor bytes. This module knows
nothing about ALBERT: it lists, reads and writes named numpy arrays.
"""

from __future__ import annotations

import itertools
import math
import os
import struct
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

import google_crc32c
import numpy as np

from albert_bridge.arrays import contiguous, map_tensor
from albert_bridge.dtypes import TABLE, dtype_from_name
from albert_bridge.errors import BridgeError, truncated
from albert_bridge.protowire import WireError, bytes_field, encode_varint, known_fields, read_varint, signed, varint_field

__all__ = ["BundleEntry", "BundleReader", "TensorInfo", "data_shard_path", "write_bundle"]

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two BlockHandles padded to 40 bytes + fixed64 magic
BLOCK_TRAILER_SIZE = 5  # compression type byte + masked crc32c
BLOCK_SIZE = 256 << 10  # TF's table_options default (LevelDB uses 4 KiB); with it our index is byte-identical to TF's
RESTART_INTERVAL = 16
CHUNK = 16 << 20  # tensors larger than this are read (and checksummed) piecewise

# TF DataType enum -> numpy dtype (little-endian on disk whatever the host), and -> its name for messages.
DTYPES: dict[int, np.dtype] = {row.tf_code: dtype_from_name(row.name).newbyteorder("<")
                               for row in TABLE if row.name and row.tf_code is not None}
DTYPE_NAMES = {row.tf_code: row.tf_name for row in TABLE if row.tf_code is not None}
_TF_DTYPE = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}


def data_shard_path(prefix: str | os.PathLike, shard: int, num_shards: int) -> str:
    return f"{os.fspath(prefix)}.data-{shard:05d}-of-{num_shards:05d}"


def _mask(c: int) -> int:
    # LevelDB/TF store CRCs masked: a CRC over data that itself contains CRCs is otherwise weak.
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _masked_crc(data) -> int:
    return _mask(google_crc32c.value(data))


class _Corrupt(WireError):
    """Raised by the parsers (as is protowire's WireError); BundleReader turns it into a BridgeError naming the file."""


# ---- protobuf messages (the wire codec is albert_bridge.protowire) ----------------------------------------------------

def _field_varint(field: int, n: int) -> bytes:
    return varint_field(field, n) if n else b""  # proto3 omits defaults


@dataclass(frozen=True)
class BundleEntry:
    dtype: int
    shape: tuple[int, ...]
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int = 0  # masked
    sliced: bool = False

    @classmethod
    def decode(cls, buf: bytes) -> BundleEntry:
        f = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0, "crc32c": 0, "sliced": False}
        for field, value in known_fields(buf, {1: int, 2: bytes, 3: int, 4: int, 5: int, 6: int, 7: bytes}):
            if field == 1:
                f["dtype"] = value
            elif field == 2:
                dims = [dim for _, dim in known_fields(value, {2: bytes})]  # TensorShapeProto.dim
                f["shape"] = tuple(signed(dict(known_fields(d, {1: int})).get(1, 0)) for d in dims)  # Dim.size
            elif field in (3, 4, 5):
                f[("shard_id", "offset", "size")[field - 3]] = signed(value)
            elif field == 6:
                f["crc32c"] = value
            elif field == 7:
                f["sliced"] = True
        return cls(**f)

    def encode(self) -> bytes:
        dims = b"".join(bytes_field(2, _field_varint(1, d)) for d in self.shape)
        return (_field_varint(1, self.dtype) + bytes_field(2, dims) + _field_varint(3, self.shard_id)
                + _field_varint(4, self.offset) + _field_varint(5, self.size)
                + b"\x35" + struct.pack("<I", self.crc32c))  # field 6, wire type 5 (fixed32), always written


def _encode_header(num_shards: int = 1, big_endian: bool = False) -> bytes:
    # BundleHeaderProto{num_shards, endianness, version: VersionDef{producer: 1}} - what TF writes.
    return _field_varint(1, num_shards) + _field_varint(2, int(big_endian)) + bytes_field(3, _field_varint(1, 1))


# ---- SSTable (LevelDB table format) -----------------------------------------------------------------------------------

def _read_block(table: bytes, handle: bytes) -> bytes:
    offset, pos = read_varint(handle, 0)
    size, _ = read_varint(handle, pos)
    end = offset + size
    if end + BLOCK_TRAILER_SIZE > len(table) - FOOTER_SIZE:
        raise _Corrupt(f"block at offset {offset} (size {size}) runs past the end of the index")
    data, kind = table[offset:end], table[end]
    stored = struct.unpack_from("<I", table, end + 1)[0]
    if _masked_crc(table[offset:end + 1]) != stored:
        raise _Corrupt(f"block checksum mismatch at offset {offset}")
    if kind == 1:
        raise _Corrupt("snappy-compressed index blocks are not supported (TF writes bundles uncompressed)")
    if kind != 0:
        raise _Corrupt(f"unknown block compression type {kind}")
    return data


def _block_entries(block: bytes):
    """Yield (key, value) of one block: prefix-compressed entries followed by the restart array."""
    if len(block) < 4:
        raise _Corrupt("block too short")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * num_restarts
    if limit < 0:
        raise _Corrupt("bad restart count in block")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = read_varint(block, pos)
        non_shared, pos = read_varint(block, pos)
        value_len, pos = read_varint(block, pos)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise _Corrupt("bad entry in block")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        yield key, block[pos:pos + value_len]
        pos += value_len


def _table_blocks(table: bytes) -> list[bytes]:
    """Data blocks of an SSTable, in order, each checked against its checksum."""
    if len(table) < FOOTER_SIZE:
        raise _Corrupt(f"index is {len(table)} bytes, shorter than the {FOOTER_SIZE}-byte table footer")
    footer = table[-FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != TABLE_MAGIC:
        raise _Corrupt("not a TensorFlow V2 checkpoint index (bad table magic)")
    _, pos = read_varint(footer, 0)
    _, pos = read_varint(footer, pos)  # skip the metaindex handle: bundles have no filter blocks
    index_handle = footer[pos:40]
    return [_read_block(table, handle) for _, handle in _block_entries(_read_block(table, index_handle))]


class _BlockBuilder:
    def __init__(self, restart_interval: int):
        self.interval, self.buf, self.restarts, self.count, self.last_key = restart_interval, bytearray(), [0], 0, b""

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self.count < self.interval:
            while shared < min(len(key), len(self.last_key)) and key[shared] == self.last_key[shared]:
                shared += 1
        else:  # a restart point stores the full key so readers can binary-search
            self.restarts.append(len(self.buf))
            self.count = 0
        self.buf += encode_varint(shared) + encode_varint(len(key) - shared) + encode_varint(len(value))
        self.buf += key[shared:] + value
        self.last_key, self.count = key, self.count + 1

    def size(self) -> int:
        return len(self.buf) + 4 * len(self.restarts) + 4

    def finish(self) -> bytes:
        return bytes(self.buf) + struct.pack(f"<{len(self.restarts) + 1}I", *self.restarts, len(self.restarts))


def _separator(last: bytes, following: bytes | None) -> bytes:
    """A short key >= last and < following (LevelDB's FindShortestSeparator / FindShortSuccessor), as TF writes."""
    if following is None:
        for i, b in enumerate(last):
            if b != 0xFF:
                return last[:i] + bytes([b + 1])
        return last
    n = 0
    while n < min(len(last), len(following)) and last[n] == following[n]:
        n += 1
    if n < min(len(last), len(following)) and last[n] < 0xFF and last[n] + 1 < following[n]:
        return last[:n] + bytes([last[n] + 1])
    return last


def _build_table(items: Iterable[tuple[bytes, bytes]], block_size: int | None = None) -> bytes:
    """An SSTable of bytewise-sorted (key, value) items: data blocks, empty metaindex, index block, footer."""
    block_size = block_size or BLOCK_SIZE
    out, index = bytearray(), _BlockBuilder(restart_interval=1)
    block, pending = _BlockBuilder(RESTART_INTERVAL), None  # pending: (last key, handle) of a block awaiting its index key

    def put(block: bytes) -> bytes:
        handle = encode_varint(len(out)) + encode_varint(len(block))
        out.extend(block + b"\0" + struct.pack("<I", _masked_crc(block + b"\0")))
        return handle

    for key, value in items:
        if pending:  # the index key of a finished block must sort before this block's first key
            index.add(_separator(pending[0], key), pending[1])
            pending = None
        block.add(key, value)
        if block.size() >= block_size:
            pending = block.last_key, put(block.finish())
            block = _BlockBuilder(RESTART_INTERVAL)
    if block.count:
        pending = block.last_key, put(block.finish())
    if pending:
        index.add(_separator(pending[0], None), pending[1])
    handles = put(_BlockBuilder(RESTART_INTERVAL).finish()) + put(index.finish())
    return bytes(out) + handles.ljust(40, b"\0") + struct.pack("<Q", TABLE_MAGIC)


# ---- reading ----------------------------------------------------------------------------------------------------------

class TensorInfo(NamedTuple):
    dtype: np.dtype | None  # None: a dtype this module cannot read (string, resource, ...)
    shape: tuple[int, ...]
    nbytes: int


class BundleReader:
    """Lists and reads the tensors of a bundle; each read touches only that tensor's bytes and checks its CRC."""

    def __init__(self, prefix: str | os.PathLike):
        prefix = os.fspath(prefix)
        try:
            with open(f"{prefix}.index", "rb") as f:
                index = f.read()
        except OSError as e:
            raise BridgeError(f"cannot read checkpoint index: {e.strerror or e}", file=f"{prefix}.index") from e
        self._init(index, None, prefix)

    @classmethod
    def from_sources(cls, index_bytes: bytes, open_shard: Callable[[int], BinaryIO], name: str = "<bundle>"):
        """A reader over in-memory index bytes; open_shard(i) returns a seekable binary file of data shard i."""
        self = cls.__new__(cls)
        self._init(bytes(index_bytes), open_shard, name)
        return self

    def _init(self, index: bytes, open_shard, prefix: str) -> None:
        self.prefix, self._open_shard, self._files, self._lock = prefix, open_shard, {}, threading.Lock()
        self.index_name = f"{prefix}.index"
        self._entries: dict[str, BundleEntry] = {}
        try:
            items = [kv for block in _table_blocks(index) for kv in _block_entries(block)]
            if not items or items[0][0] != b"":
                raise _Corrupt("missing bundle header (key '')")
            header = dict(known_fields(items[0][1], {1: int, 2: int, 3: bytes}))
            if header.get(2, 0) != 0:
                raise _Corrupt("big-endian checkpoints are not supported")
            self.num_shards = signed(header.get(1, 0))
            version = dict(known_fields(header.get(3, b""), {1: int}))
            self.producer = version.get(1, 0)
            for (prev, _), (key, value) in itertools.pairwise(items):
                if key <= prev:
                    raise _Corrupt(f"index keys out of order at {key!r}")
                entry = BundleEntry.decode(value)
                name = key.decode("utf-8")
                if entry.sliced:
                    raise BridgeError("sliced (partitioned) variables are not supported", file=self.index_name,
                                      tensor=name)
                if not 0 <= entry.shard_id < self.num_shards or entry.offset < 0 or entry.size < 0:
                    raise _Corrupt(f"tensor {name!r}: bad location (shard {entry.shard_id} of {self.num_shards}, "
                                   f"offset {entry.offset}, size {entry.size})")
                self._entries[name] = entry
        except (WireError, UnicodeDecodeError) as e:
            raise BridgeError(f"corrupt checkpoint index: {e}", file=self.index_name) from e

    def keys(self) -> list[str]:
        return list(self._entries)  # the index is sorted bytewise, which for UTF-8 is str order

    def __iter__(self):
        return iter(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> BundleEntry:
        if name not in self._entries:
            raise BridgeError("no such tensor in checkpoint", file=self.index_name, tensor=name)
        return self._entries[name]

    def info(self, name: str) -> TensorInfo:
        e = self.entry(name)
        return TensorInfo(DTYPES.get(e.dtype), e.shape, e.size)

    def dtype_name(self, name: str) -> str:
        code = self.entry(name).dtype
        return DTYPE_NAMES.get(code, f"DataType {code}")

    def read(self, name: str) -> np.ndarray:
        e = self.entry(name)
        shard = data_shard_path(self.prefix, e.shard_id, self.num_shards)
        dtype = DTYPES.get(e.dtype)
        if dtype is None:
            raise BridgeError(f"unsupported dtype {self.dtype_name(name)}", file=self.index_name, tensor=name)
        if any(d < 0 for d in e.shape) or math.prod(e.shape) * dtype.itemsize != e.size:
            raise BridgeError(f"entry size {e.size} does not match shape {e.shape} of {dtype}", file=self.index_name,
                              tensor=name)
        if e.size:
            with self._lock:
                _, available = self._shard(e.shard_id)
            if e.offset + e.size > available:  # checked before allocating: a corrupt size must not exhaust memory
                raise truncated(shard, available, e.offset + e.size, tensor=name)
        if self._open_shard is None:  # a plain file: mapped (no fresh memory to fault in, no copy)
            buf = map_tensor(shard, e.offset, np.uint8, (e.size,), name)
            crc = google_crc32c.extend(0, buf)
        else:  # a member of an archive: read in chunks
            buf = np.empty(e.size, np.uint8)
            crc, done = 0, 0
            while done < e.size:
                n = self._read_into(e.shard_id, e.offset + done, buf[done:done + CHUNK])
                if n == 0:
                    raise truncated(shard, e.offset + done, e.offset + e.size, tensor=name)
                crc = google_crc32c.extend(crc, buf[done:done + n])
                done += n
        if _mask(crc) != e.crc32c:
            raise BridgeError("checksum mismatch: tensor data is corrupted", file=shard, tensor=name)
        return buf.view(dtype).reshape(e.shape)

    def read_strings(self, name: str, limit: int = 256 << 20) -> list[bytes]:
        """A DT_STRING tensor's elements (e.g. a TF2 checkpoint's `_CHECKPOINTABLE_OBJECT_GRAPH`). On disk:
        varint64 length per element, a masked CRC-32C of the lengths, then the bytes. The entry's checksum covers
        each length as a fixed-width little-endian integer (not its varint; uint32 in the TF 2.x we checked against,
        uint64 in older writers: either is accepted), that masked CRC, then the bytes."""
        e = self.entry(name)
        shard = data_shard_path(self.prefix, e.shard_id, self.num_shards)
        if e.dtype != 7:
            raise BridgeError(f"expected a string tensor, found {self.dtype_name(name)}", file=self.index_name,
                              tensor=name)
        if e.size > limit:
            raise BridgeError(f"string tensor of {e.size} bytes (more than {limit})", file=self.index_name, tensor=name)
        with self._lock:
            _, available = self._shard(e.shard_id)
        if e.offset + e.size > available:
            raise truncated(shard, available, e.offset + e.size, tensor=name)
        raw = np.empty(e.size, np.uint8)
        done = 0
        while done < e.size:
            n = self._read_into(e.shard_id, e.offset + done, raw[done:])
            if n == 0:
                raise truncated(shard, e.offset + done, e.offset + e.size, tensor=name)
            done += n
        buf = raw.tobytes()
        try:
            count, pos, lengths = math.prod(e.shape), 0, []
            for _ in range(count):
                length, pos = read_varint(buf, pos)
                lengths.append(length)
            stored = buf[pos:pos + 4]
            crcs = [google_crc32c.value(b"".join(struct.pack(f"<{w}", n & 0xFFFFFFFF if w == "I" else n)
                                                 for n in lengths)) for w in "IQ"]
            crc = next((c for c in crcs if struct.pack("<I", _mask(c)) == stored), None)
            if crc is None or pos + 4 + sum(lengths) != e.size:
                raise _Corrupt("bad string lengths")
            crc = google_crc32c.extend(crc, stored)
            out, pos = [], pos + 4
            for length in lengths:
                out.append(buf[pos:pos + length])
                crc = google_crc32c.extend(crc, out[-1])
                pos += length
        except WireError as exc:
            raise BridgeError(f"corrupt string tensor: {exc}", file=shard, tensor=name) from None
        if _mask(crc) != e.crc32c:
            raise BridgeError("checksum mismatch: tensor data is corrupted", file=shard, tensor=name)
        return out

    def _shard(self, shard_id: int) -> tuple[BinaryIO, int]:
        """The open file of a data shard and its size; opened on first use, kept until close()."""
        if shard_id not in self._files:
            path = data_shard_path(self.prefix, shard_id, self.num_shards)
            try:
                f = self._open_shard(shard_id) if self._open_shard else open(path, "rb", buffering=0)  # noqa: SIM115
                self._files[shard_id] = f, f.seek(0, os.SEEK_END)
            except OSError as e:
                raise BridgeError(f"cannot open data shard: {e.strerror or e}", file=path) from e
        return self._files[shard_id]

    def _read_into(self, shard_id: int, offset: int, out: np.ndarray) -> int:
        with self._lock:
            f, _ = self._shard(shard_id)
            if self._open_shard is not None or not hasattr(os, "preadv"):
                f.seek(offset)  # a shared file position: keep seek and read together under the lock
                if hasattr(f, "readinto"):
                    return f.readinto(memoryview(out)) or 0
                data = f.read(out.size)
                out[:len(data)] = np.frombuffer(data, np.uint8)
                return len(data)
        return os.preadv(f.fileno(), [out], offset)  # positional read straight into the array

    def close(self) -> None:
        with self._lock:
            files, self._files = self._files, {}
        for f, _ in files.values():
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- writing ----------------------------------------------------------------------------------------------------------

TensorSource = np.ndarray | Callable[[], np.ndarray]


def write_bundle(
    prefix: str | os.PathLike, tensors: Mapping[str, TensorSource] | Iterable[tuple[str, TensorSource]]
) -> None:
    """Write a single-shard bundle. Values may be zero-argument callables: they are called one at a time in key order,
    so only one tensor needs to be in memory. Files appear under their final names only when complete."""
    prefix = os.fspath(prefix)
    sources: dict[str, TensorSource] = {}
    for name, source in tensors.items() if isinstance(tensors, Mapping) else tensors:
        if not isinstance(name, str) or not name:
            raise BridgeError("tensor names must be non-empty strings", file=f"{prefix}.index", tensor=repr(name))
        if name in sources:
            raise BridgeError("duplicate tensor name", file=f"{prefix}.index", tensor=name)
        sources[name] = source
    names = sorted(sources, key=lambda n: n.encode("utf-8"))

    data_path, index_path = data_shard_path(prefix, 0, 1), f"{prefix}.index"
    tmp = f".tmp-{uuid.uuid4().hex[:12]}"
    os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
    items = [(b"", _encode_header())]
    try:
        with open(data_path + tmp, "wb") as f:
            offset = 0
            for name in names:
                source = sources.pop(name)  # hold no reference: each tensor can be freed once written
                arr = np.asarray(source() if callable(source) else source)
                code = _TF_DTYPE.get(arr.dtype.newbyteorder("="))
                if code is None:
                    raise BridgeError(f"dtype {arr.dtype} cannot be stored in a TF checkpoint", file=data_path,
                                      tensor=name)
                arr = contiguous(np.asarray(arr, dtype=DTYPES[code]))  # little-endian, C order; keeps 0-d shapes
                raw = arr.reshape(-1).view(np.uint8)
                f.write(raw)
                items.append((name.encode("utf-8"), BundleEntry(code, arr.shape, 0, offset, raw.size,
                                                                _masked_crc(raw)).encode()))
                offset += raw.size
                del arr, raw
        with open(index_path + tmp, "wb") as f:
            f.write(_build_table(items))
        os.replace(data_path + tmp, data_path)  # data first: an index must never point at missing data
        os.replace(index_path + tmp, index_path)
    finally:
        for path in (data_path + tmp, index_path + tmp):
            if os.path.exists(path):
                os.remove(path)
