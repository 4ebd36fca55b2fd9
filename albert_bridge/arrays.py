"""Array and memory utilities for tensors read from and written to files: C order made by a tiled transpose on every
core, read-only memory maps of a file's bytes, copy-on-write when a model keeps a map, aligned copies a framework can
take over, one reused scratch buffer for streaming writers, and bit-exact comparison. Nothing here knows ALBERT."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import BridgeError

_TILE = 128  # 128 x 128 float32 = 64 KiB: a source tile and its transpose stay in L2 while copied


def contiguous(array: np.ndarray, scratch: "Scratch | None" = None) -> np.ndarray:
    """The array in C order (itself when it already is). A transposed 2-D view, which is what a kernel read in the
    other orientation is, is copied tile by tile on every core: numpy's own copy walks the source column by column,
    cache line after cache line thrown away (measured 2.7x slower single-threaded on a 4096 x 16384 kernel).
    With `scratch`, a copy goes into its reused buffer (valid until its next use) instead of new memory."""
    if array.flags.c_contiguous:
        return array
    out = scratch.take(array.shape, array.dtype) if scratch is not None else np.empty(array.shape, array.dtype)
    _copy_into(out, array)
    return out


def _copy_into(out: np.ndarray, array: np.ndarray) -> None:
    """out[...] = array; a large F-ordered 2-D `array` (a transposed view) tile by tile, on every core."""
    if array.ndim != 2 or not array.flags.f_contiguous or array.size < 1 << 16:
        np.copyto(out, array)
        return
    source = array.T  # C-contiguous [n, m]
    rows = array.shape[0]

    def copy(start: int, stop: int) -> None:  # numpy releases the GIL for each tile's copy
        for i in range(start, stop, _TILE):
            for j in range(0, array.shape[1], _TILE):
                out[i:i + _TILE, j:j + _TILE] = source[j:j + _TILE, i:i + _TILE].T

    workers = min(os.cpu_count() or 1, 8, max(1, rows // (4 * _TILE)))
    if workers == 1:
        copy(0, rows)
        return
    step = -(-rows // workers // _TILE) * _TILE
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda start: copy(start, min(start + step, rows)), range(0, rows, step)))


def map_tensor(path: Path | str, offset: int, dtype: np.dtype, shape: tuple[int, ...],
               tensor: str | None = None) -> np.ndarray:
    """A tensor's bytes in a file as a read-only memory map: nothing is copied, and pages already in the page cache
    cost no allocation (readers of every format return these). The file may have changed since its header was read,
    so the bytes are checked against its size now; a failure is one BridgeError naming the file and tensor."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes == 0:
        return np.empty(shape, dtype)
    try:
        size = os.path.getsize(path)
        if offset + nbytes > size:
            raise BridgeError(f"truncated since it was opened (the tensor needs bytes {offset}..{offset + nbytes}, "
                              f"the file has {size})", file=path, tensor=tensor)
        raw = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))
    except (OSError, ValueError) as exc:
        raise BridgeError(f"cannot read tensor data ({exc})", file=path, tensor=tensor) from None
    return raw.view(dtype).reshape(shape)


def owned_copy(array: np.ndarray, alignment: int = 64) -> np.ndarray:
    """A C-ordered copy in new memory aligned to `alignment` bytes (a transposed view copied tile by tile), for a
    framework to take over: TensorFlow and XLA use such a buffer as it is, where a misaligned or strided array
    costs them a second copy (and the peak memory of a load its size again)."""
    raw = np.empty(array.nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    out = raw[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    _copy_into(out, array)
    return out


class Scratch:
    """One buffer reused for every copy a conversion makes and drops before the next (a writer streaming tensor by
    tensor): fresh memory costs a page fault per 4 KiB on first touch (measured ~3 s per GiB on a VM), a reused
    buffer nothing. It grows to the largest copy, no further."""

    def __init__(self) -> None:
        self._buffer = np.empty(0, np.uint8)

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > self._buffer.nbytes:
            self._buffer = np.empty(0, np.uint8)  # the old one is released before the larger one is made
            self._buffer = np.empty(nbytes, np.uint8)
        return self._buffer[:nbytes].view(dtype).reshape(shape)


def writable(array: np.ndarray) -> np.ndarray:
    """A writable array with these contents: the array itself if writable; for exactly one read-only file map (as
    readers return them) a private copy-on-write map of the same bytes, so nothing is copied until written (a
    read-only map reads 4x faster where everything is copied anyway, as in conversions); else a copy."""
    if array.flags.writeable:
        return array
    root = array
    while isinstance(root.base, np.ndarray):
        root = root.base
    if (isinstance(root, np.memmap) and array.flags.c_contiguous and array.nbytes == root.nbytes
            and array.ctypes.data == root.ctypes.data):
        remapped = np.memmap(root.filename, dtype=np.uint8, mode="c", offset=root.offset, shape=(root.nbytes,))
        return remapped.view(array.dtype).reshape(array.shape)
    return array.copy()


def all_finite(array: np.ndarray) -> bool:
    """No NaN or Inf; a float64 sum propagates both without a full-size temporary (and cannot overflow here)."""
    return bool(np.isfinite(np.sum(array, dtype=np.float64)))


def arrays_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-exact equality (NaN payloads included): compare the raw bytes."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    a, b = (contiguous(x).reshape(-1).view(np.uint8) for x in (a, b))
    return bool(np.array_equal(a, b))
