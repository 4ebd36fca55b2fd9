"""Checkpoint: a config, a head kind and lazily loaded canonical tensors, with strict accounting."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .config import AlbertConfig
from .dtypes import is_float, numpy_dtype  # noqa: F401  (numpy_dtype: re-exported, casts read it from here)
from .errors import BridgeError, ShapeMismatch
from .schema import HeadKind, expected_tensors

@dataclass(frozen=True)
class LazyTensor:
    """A tensor whose bytes are read only when asked for; shape and dtype are known up front."""

    shape: tuple[int, ...]
    dtype: np.dtype
    load: Callable[[], np.ndarray] = field(repr=False, compare=False)
    origin: str = ""  # "file: native name", for error messages

    @classmethod
    def of(cls, array: np.ndarray, origin: str = "") -> "LazyTensor":
        array = np.asarray(array)
        return cls(tuple(array.shape), array.dtype, lambda: array, origin)

    def read(self) -> np.ndarray:
        array = self.load()
        if tuple(array.shape) != self.shape or array.dtype != self.dtype:
            raise BridgeError(
                f"read {array.dtype}{list(array.shape)}, header says {self.dtype}{list(self.shape)}",
                file=self.origin,
            )
        return array

    def map(self, fn: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...], dtype=None) -> "LazyTensor":
        return LazyTensor(tuple(shape), np.dtype(dtype or self.dtype), lambda: fn(self.read()), self.origin)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize  # exact: a lying header must not wrap around


@dataclass
class LoadReport:
    """What a load did with every source tensor: mapped, skipped on purpose, or not understood."""

    format: str = ""
    source: str = ""
    consumed: int = 0
    skipped: dict[str, str] = field(default_factory=dict)   # native name -> why (optimizer slot, tied, buffer)
    unknown: list[str] = field(default_factory=list)         # native names nothing maps
    warnings: list[str] = field(default_factory=list)

    def skip(self, name: str, why: str) -> None:
        self.skipped[name] = why


@dataclass
class Problem:
    tensor: str
    message: str
    kind: str = ""  # missing, shape, unexpected, unknown


@dataclass
class Checkpoint:
    config: AlbertConfig
    head: HeadKind
    tensors: dict[str, LazyTensor]
    report: LoadReport = field(default_factory=LoadReport)
    assets: dict[str, Path] = field(default_factory=dict)  # files carried along (tokenizer), by target name

    # --- accounting ---------------------------------------------------------------------------
    def problems(self) -> list[Problem]:
        expected = expected_tensors(self.config, self.head)
        found: list[Problem] = []
        for key, exp in expected.items():
            tensor = self.tensors.get(key)
            if tensor is None:
                if exp.required:
                    found.append(Problem(key, "missing", "missing"))
            elif tuple(tensor.shape) != exp.shape:
                found.append(Problem(key, f"shape {list(tensor.shape)} but the config implies {list(exp.shape)}",
                                     "shape"))
        for key in sorted(set(self.tensors) - set(expected)):
            found.append(Problem(key, f"unexpected for head {self.head.value}", "unexpected"))
        for name in self.report.unknown:
            found.append(Problem(name, "not an ALBERT tensor this format knows (use --allow-unused to drop it)",
                                 "unknown"))
        return found

    def validate(self, kinds: tuple[str, ...] | None = None) -> "Checkpoint":
        """Raise the first problem (of these kinds, default all) as a one-line error naming file and tensor."""
        problems = [p for p in self.problems() if kinds is None or p.kind in kinds]
        if problems:
            first = problems[0]
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            origin = self.tensors[first.tensor].origin if first.tensor in self.tensors else self.report.source
            error = ShapeMismatch if first.kind == "shape" else BridgeError
            raise error(f"{first.message}{more}", file=origin or self.report.source, tensor=first.tensor)
        return self

    # --- transformations (all lazy) -----------------------------------------------------------
    def with_head(self, head: HeadKind) -> "Checkpoint":
        """Re-target to another head: tensors the new head lacks are dropped (and reported)."""
        if head is self.head:
            return self
        keep = expected_tensors(self.config, head)
        report = replace(self.report, skipped=dict(self.report.skipped), warnings=list(self.report.warnings))
        for key in sorted(set(self.tensors) - set(keep)):
            report.skip(key, f"not part of head {head.value}")
        config = AlbertConfig.from_dict(self.config.to_dict())
        config.architectures = None
        tensors = {k: v for k, v in self.tensors.items() if k in keep}
        return replace(self, config=config, head=head, tensors=tensors, report=report)

    def with_projection(self) -> "Checkpoint":
        """Add the identity E->H projection the original code omits when E == H (transformers always has one)."""
        if "encoder.projection.kernel" in self.tensors or self.config.embedding_size != self.config.hidden_size:
            return self
        h = self.config.hidden_size
        dtype = self.tensors["embeddings.word"].dtype
        identity = {
            "encoder.projection.kernel": LazyTensor((h, h), dtype, lambda: np.eye(h, dtype=dtype), "identity (E == H)"),
            "encoder.projection.bias": LazyTensor((h,), dtype, lambda: np.zeros(h, dtype=dtype), "identity (E == H)"),
        }
        return replace(self, tensors={**self.tensors, **identity})

    def cast(self, dtype: str | np.dtype | None) -> "Checkpoint":
        """Cast floating tensors (integer ones stay) lazily; None keeps every dtype as stored."""
        if dtype is None:
            return self
        target = numpy_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)

        def cast(array: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore"):  # overflow to Inf is reported by name where it is written
                return array.astype(target)

        tensors = {key: t if (not is_float(t.dtype) or t.dtype == target) else t.map(cast, t.shape, target)
                   for key, t in self.tensors.items()}
        return replace(self, tensors=tensors)

    def checking_finite(self, on_nonfinite: Callable[[str, LazyTensor], None]) -> "Checkpoint":
        """The same checkpoint, each floating tensor checked for NaN and Inf when read: `on_nonfinite(key, tensor)`
        hears of each that holds any (and may raise to refuse it)."""
        def checked(key: str, tensor: LazyTensor) -> LazyTensor:
            def check(array: np.ndarray) -> np.ndarray:
                if not all_finite(array):
                    on_nonfinite(key, tensor)
                return array
            return tensor.map(check, tensor.shape) if is_float(tensor.dtype) else tensor

        return replace(self, tensors={key: checked(key, t) for key, t in self.tensors.items()})

    def num_parameters(self) -> int:
        return sum(math.prod(t.shape) for t in self.tensors.values())

    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors.values())

    def dtypes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.tensors.values():
            counts[t.dtype.name] = counts.get(t.dtype.name, 0) + 1
        return counts

    def materialize(self) -> dict[str, np.ndarray]:
        return {key: t.read() for key, t in self.tensors.items()}


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


def nonfinite_warning(origins: list[str]) -> str:
    shown = ", ".join(origins[:8]) + (f" and {len(origins) - 8} more" if len(origins) > 8 else "")
    return f"NaN or Inf in {len(origins)} tensor{'s' * (len(origins) > 1)}: {shown}"


def arrays_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-exact equality (NaN payloads included): compare the raw bytes."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    a, b = (contiguous(x).reshape(-1).view(np.uint8) for x in (a, b))
    return bool(np.array_equal(a, b))


def iter_shards(items: Iterable[tuple[str, LazyTensor]], max_bytes: int | None) -> list[list[tuple[str, LazyTensor]]]:
    """Split (name, tensor) pairs into shards of at most max_bytes (a tensor larger than that is alone)."""
    shards: list[list[tuple[str, LazyTensor]]] = [[]]
    size = 0
    for name, tensor in items:
        if max_bytes and shards[-1] and size + tensor.nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append((name, tensor))
        size += tensor.nbytes
    return shards
