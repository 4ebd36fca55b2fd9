"""Checkpoint: a config, a head kind and lazily loaded canonical tensors, with strict accounting."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .config import AlbertConfig
# The array and memory utilities live in .arrays, dtype names in .dtypes; readers and writers import them from here too.
from .dtypes import is_float, numpy_dtype
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
    layout: str = ""  # the family of names the source uses (google-research TF1, transformers, ...)
    inferred: list[str] = field(default_factory=list)  # config fields taken from the tensors, one line each

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


def nonfinite_warning(origins: list[str]) -> str:
    shown = ", ".join(origins[:8]) + (f" and {len(origins) - 8} more" if len(origins) > 8 else "")
    return f"NaN or Inf in {len(origins)} tensor{'s' * (len(origins) > 1)}: {shown}"


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
