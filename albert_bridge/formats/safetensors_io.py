"""safetensors without a framework: lazy reads as memory maps, streamed writes one tensor at a time.

The header (a length and a JSON object) is parsed and checked here, every tensor's offsets against the file;
each tensor is then mapped on its own, so a conversion that reads, writes and drops one tensor at a time never
holds more than that tensor's pages, while a model built from the arrays keeps them mapped, like transformers.
The safetensors library writes only from a dict of tensors held in memory; a conversion must not hold the
whole model, so the writer lays out the header from shapes and dtypes first, then streams the bytes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

from ..arrays import contiguous, map_tensor, write_array
from ..checkpoint import LazyTensor
from ..dtypes import TABLE, dtype_from_name
from ..errors import BridgeError, truncated

_TO_ST = {row.name: row.safetensors for row in TABLE if row.name and row.safetensors}
_FROM_ST = {v: k for k, v in _TO_ST.items()}


_MAX_HEADER = 100 * 2**20  # the safetensors library's own limit


def read_safetensors(path: Path) -> tuple[dict[str, LazyTensor], dict[str, str]]:
    """Lazy tensors and the metadata of one safetensors file; each tensor is read as a read-only memory map of its
    bytes (`arrays.writable` turns one into a lazy copy-on-write map for a model that keeps it)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = path.stat().st_size
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise BridgeError("not a safetensors file (shorter than its header length)", file=path)
            (length,) = struct.unpack("<Q", prefix)
            if length > _MAX_HEADER:
                raise BridgeError(f"header length {length} exceeds the format's limit ({_MAX_HEADER})", file=path)
            if length > size - 8:
                raise truncated(path, size, 8 + length)
            header = json.loads(handle.read(length))
    except OSError as exc:
        raise BridgeError(f"not a readable safetensors file ({exc})", file=path) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BridgeError(f"not a readable safetensors file (header: {exc})", file=path) from None
    if not isinstance(header, dict):
        raise BridgeError("not a readable safetensors file (header is not an object)", file=path)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise BridgeError("not a readable safetensors file (__metadata__ is not an object)", file=path)
    start, data_size = 8 + length, size - 8 - length
    entries = {name: _entry(path, name, entry) for name, entry in header.items()}
    for name, (dtype, shape, (begin, end)) in entries.items():
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if not 0 <= begin <= end or end - begin != nbytes:
            raise BridgeError(f"data offsets [{begin}, {end}) do not fit {dtype}{list(shape)}", file=path,
                              tensor=name)
    needed = max((end for _, _, (_, end) in entries.values()), default=0)
    if needed > data_size:  # the header is whole, the data it describes is not
        raise truncated(path, size, start + needed)
    tensors = {name: LazyTensor(shape, dtype, _reader(path, name, start + begin, dtype, shape), f"{path}: {name}")
               for name, (dtype, shape, (begin, _)) in entries.items()}
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def _entry(path: Path, name: str, entry: object) -> tuple[np.dtype, tuple[int, ...], tuple[int, int]]:
    try:
        st_dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]  # type: ignore[index]
        shape = tuple(int(d) for d in shape)
        begin, end = (int(o) for o in offsets)
    except (TypeError, KeyError, ValueError):
        raise BridgeError("malformed header entry", file=path, tensor=name) from None
    if st_dtype not in _FROM_ST:
        raise BridgeError(f"unsupported dtype {st_dtype}", file=path, tensor=name)
    if any(d < 0 for d in shape):
        raise BridgeError(f"negative dimension in shape {list(shape)}", file=path, tensor=name)
    return dtype_from_name(_FROM_ST[st_dtype]), shape, (begin, end)


def _reader(path: Path, name: str, offset: int, dtype: np.dtype, shape: tuple[int, ...]):
    def load() -> np.ndarray:
        return map_tensor(path, offset, dtype, shape, name)

    return load


def write_safetensors(path: Path, tensors: Sequence[tuple[str, LazyTensor]], metadata: dict[str, str]) -> None:
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for name, tensor in tensors:
        if tensor.dtype.name not in _TO_ST:
            raise BridgeError(f"dtype {tensor.dtype} cannot be stored in safetensors", file=path, tensor=name)
        header[name] = {"dtype": _TO_ST[tensor.dtype.name], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + tensor.nbytes]}
        offset += tensor.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header to 8 bytes with spaces
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for _, tensor in tensors:
            array = tensor.read()
            if array.dtype.byteorder == ">":
                array = array.astype(array.dtype.newbyteorder("<"))
            write_array(out, contiguous(array))
