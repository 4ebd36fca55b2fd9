"""Array and memory utilities for tensors read from and written to files: C order made by a tiled transpose on every
core, read-only memory maps of a file's bytes, copy-on-write when a model keeps a map, aligned copies a framework can
take over, one reused scratch buffer for streaming writers, and bit-exact comparison. Nothing here knows ALBERT."""

from __future__ import annotations

import math
import mmap
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

from .errors import BridgeError

T = TypeVar("T")

_TILE = 64  # 64 x 64 float32 = 16 KiB: a tile's 64 source rows lie on 64 pages, which the data TLB still holds
# (128-wide tiles touch 128 pages: measured 0.55-0.61 s against 0.33-0.45 s per 4096 x 16384 kernel, alternated)
_PART = 4 << 20  # bytes per part folded over an array that is already contiguous: stays in L2/L3 between passes


def contiguous(array: np.ndarray, scratch: "Scratch | None" = None) -> np.ndarray:
    """The array in C order (itself when it already is). A transposed 2-D view, which is what a kernel read in the
    other orientation is, is copied tile by tile on every core: numpy's own copy walks the source column by column,
    cache line after cache line thrown away (measured 2.7x slower single-threaded on a 4096 x 16384 kernel).
    With `scratch`, a copy goes into its reused buffer (valid until its next use) instead of new memory."""
    return contiguous_folded(array, scratch)[0]


def contiguous_folded(array: np.ndarray, scratch: "Scratch | None" = None,
                      fold: "Callable[[np.ndarray], T] | None" = None) -> tuple[np.ndarray, list[T]]:
    """`contiguous(array, scratch)`, and `fold` applied to consecutive parts of its C-ordered bytes (1-D arrays of
    its dtype, in order, together the whole array) while each part is still in the cache: a checksum or a finite
    check then costs no pass of its own over memory. A copied kernel's parts are folded by the core that copied
    them, right after copying."""
    results: list = []
    if array.flags.c_contiguous:
        if fold is not None and array.size:
            flat = array.reshape(-1)
            step = max(1, _PART // array.itemsize)
            results = [fold(flat[i:i + step]) for i in range(0, flat.size, step)]
        return array, results
    out = scratch.take(array.shape, array.dtype) if scratch is not None else np.empty(array.shape, array.dtype)
    results = _copy_into(out, array, fold)
    return out, results


def _copy_into(out: np.ndarray, array: np.ndarray, fold: "Callable[[np.ndarray], T] | None" = None) -> list[T]:
    """out[...] = array; a large F-ordered 2-D `array` (a transposed view) tile by tile, on every core, each row
    panel of `out` folded (`fold`) once copied. Returns the folds in order."""
    if array.ndim != 2 or not array.flags.f_contiguous or array.size < 1 << 16:
        np.copyto(out, array)
        return contiguous_folded(out, None, fold)[1] if fold is not None else []
    source = array.T  # C-contiguous [n, m]
    rows = array.shape[0]
    results: list = [None] * -(-rows // _TILE)

    def copy(start: int, stop: int) -> None:  # numpy releases the GIL for each tile's copy
        for i in range(start, stop, _TILE):
            for j in range(0, array.shape[1], _TILE):
                out[i:i + _TILE, j:j + _TILE] = source[j:j + _TILE, i:i + _TILE].T
            if fold is not None:
                results[i // _TILE] = fold(out[i:i + _TILE].reshape(-1))

    workers = min(os.cpu_count() or 1, 8, max(1, rows // (4 * _TILE)))
    if workers == 1:
        copy(0, rows)
    else:
        step = -(-rows // workers // _TILE) * _TILE
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda start: copy(start, min(start + step, rows)), range(0, rows, step)))
    return results if fold is not None else []


# Bytes per write() call. On this project's VM (Linux 6.18) one write of 256 MiB took 0.24-2.59 s, all of it
# system time, while the same bytes in 1 MiB calls took 0.22-0.25 s in the same loop (5 rounds alternated): the
# kernel's cost of very large writes varies, that of small ones does not. See README, Performance, second round.
WRITE_CHUNK = 1 << 20


def write_array(handle, array: np.ndarray) -> None:
    """Write a C-contiguous array's bytes to a binary file object in WRITE_CHUNK calls (no copy: views)."""
    data = memoryview(array.reshape(-1).view(np.uint8)) if array.size else memoryview(b"")
    for start in range(0, len(data), WRITE_CHUNK):
        handle.write(data[start:start + WRITE_CHUNK])


def rows_per_write(array: np.ndarray) -> int:
    """How many leading-axis rows of `array` make about WRITE_CHUNK bytes (at least one)."""
    row = array.nbytes // max(1, array.shape[0]) if array.ndim else array.nbytes
    return max(1, WRITE_CHUNK // max(1, row))


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
    buffer nothing. It grows to the largest copy, no further, in huge pages where the kernel has them
    (`_fresh_buffer`)."""

    def __init__(self) -> None:
        self._buffer = np.empty(0, np.uint8)

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > self._buffer.nbytes:
            self._buffer = np.empty(0, np.uint8)  # the old one is released before the larger one is made
            self._buffer = _fresh_buffer(nbytes)
        return self._buffer[:nbytes].view(dtype).reshape(shape)


_HUGE_PAGE = 2 << 20


def _fresh_buffer(nbytes: int) -> np.ndarray:
    """`nbytes` of new memory; from 8 MiB up an anonymous map advised to use transparent huge pages (Linux): its
    first touch then faults once per 2 MiB, not per 4 KiB (a 256 MiB kernel's copy: 0.05-0.07 s against
    0.06-1.05 s for numpy's memory on this VM, fresh processes alternated)."""
    advise = getattr(mmap, "MADV_HUGEPAGE", None)
    if nbytes < 4 * _HUGE_PAGE or advise is None:
        return np.empty(nbytes, np.uint8)
    region = mmap.mmap(-1, nbytes + _HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        region.madvise(advise)
    except OSError:  # a kernel without transparent huge pages: ordinary pages
        pass
    raw = np.frombuffer(region, np.uint8)  # keeps the map alive as long as any view of it
    start = -raw.ctypes.data % _HUGE_PAGE
    return raw[start:start + nbytes]


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
