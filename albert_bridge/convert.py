"""Conversion pipeline: load -> (re-head, cast) -> validate -> write every format to a temp dir -> verify -> rename."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .checkpoint import Checkpoint, LazyTensor
from .errors import BridgeError
from .formats import get_format, load
from .schema import HeadKind


@dataclass
class ConversionResult:
    checkpoint: Checkpoint
    written: dict[str, list[Path]] = field(default_factory=dict)  # format -> files
    validated: dict[str, dict[str, float]] = field(default_factory=dict)  # format -> max abs diff per output
    warnings: list[str] = field(default_factory=list)


@contextmanager
def atomic_directory(target: Path, force: bool) -> Iterator[Path]:
    """Yield a temp dir beside `target`; on success it replaces `target`, on failure nothing remains."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise BridgeError("exists and is not a directory", file=target)
    if target.is_dir() and any(target.iterdir()) and not force:
        raise BridgeError("output directory is not empty (use --force to replace it)", file=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes 0700; the result should look like a normal directory
    try:
        yield staging
        # Swap in: move the old directory aside first, so a failure here still leaves one of the two.
        backup = None
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rename(target, backup / "old")
        os.rename(staging, target)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def convert(
    src: str | Path,
    dst: str | Path,
    to: Sequence[str],
    *,
    src_format: str | None = None,
    head: HeadKind | str | None = None,
    config: str | Path | None = None,
    dtype: str | None = None,
    force: bool = False,
    max_shard_size: int | None = None,
    verify: bool = True,
    validate: bool = True,
    allow_unused: bool = False,
    progress: Callable[[int, int], None] | None = None,  # (bytes just written, bytes to write in all)
) -> ConversionResult:
    formats = [get_format(name).require() for name in to]
    ckpt = load(src, src_format, head, config)
    if allow_unused and ckpt.report.unknown:
        for name in ckpt.report.unknown:
            ckpt.report.skip(name, "dropped (--allow-unused)")
        ckpt.report.unknown.clear()
    ckpt = ckpt.cast(dtype).validate()
    result = ConversionResult(ckpt, warnings=list(ckpt.report.warnings))
    digests: dict[str, bytes] = {}
    total = ckpt.nbytes() * len(formats)
    recording = _recording(ckpt, digests, progress and (lambda n: progress(n, total)))
    with atomic_directory(Path(dst), force) as staging:
        for fmt in formats:
            result.written[fmt.name] = [p for p in fmt.save(recording, staging, max_shard_size) if p.name != "config.json"]
        if any(fmt.hf_layout for fmt in formats):  # tokenizer files under transformers' names
            for name, src_path in ckpt.assets.items():
                if not (staging / name).exists():
                    shutil.copyfile(src_path, staging / name)
        if verify:
            for fmt in formats:
                _verify(ckpt, digests, fmt.load(staging, ckpt.head), f"{dst} ({fmt.name})")
        if validate:  # a written model (ONNX) is run against the reference forward pass before it is published
            for fmt in formats:
                diffs = fmt.validate(staging, ckpt)
                if diffs is not None:
                    result.validated[fmt.name] = diffs
    final = Path(dst)
    result.written = {name: [final / p.name for p in paths] for name, paths in result.written.items()}
    return result


def tensor_digest(array: np.ndarray) -> bytes:
    """SHA-256 of a tensor's bytes in C order: a bit-exact comparison without keeping the source tensor around."""
    return hashlib.sha256(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data).digest()


def _recording(ckpt: Checkpoint, digests: dict[str, bytes], tick: Callable[[int], None] | None) -> Checkpoint:
    """The same checkpoint, noting each tensor's digest (and progress) as the writers read it."""

    def recorded(key: str, tensor: LazyTensor) -> LazyTensor:
        def load():
            array = tensor.read()
            if key not in digests:
                digests[key] = tensor_digest(array)
            if tick:
                tick(tensor.nbytes)
            return array

        return LazyTensor(tensor.shape, tensor.dtype, load, tensor.origin)

    return replace(ckpt, tensors={key: recorded(key, t) for key, t in ckpt.tensors.items()})


def _verify(ckpt: Checkpoint, digests: dict[str, bytes], written: Checkpoint, where: str) -> None:
    """Read back what was just written: the same tensors, shapes, dtypes and bytes, one tensor at a time.

    When E == H a format may add the identity E->H projection the source lacked (transformers' layouts always
    have one), or leave out the identity one the source had (the original code has none): both compute the same.
    """
    expected = ckpt.with_projection() if "encoder.projection.kernel" in written.tensors else ckpt
    written = written.with_projection() if "encoder.projection.kernel" in expected.tensors else written
    missing = sorted(set(expected.tensors) - set(written.tensors))
    extra = sorted(set(written.tensors) - set(expected.tensors))
    if missing or extra:
        raise BridgeError("missing after reload" if missing else "unexpected after reload", file=where,
                          tensor=(missing or extra)[0])
    for key, tensor in written.tensors.items():
        source = expected.tensors[key]
        if (tensor.shape, tensor.dtype) != (source.shape, source.dtype):
            raise BridgeError(f"reloaded as {tensor.dtype}{list(tensor.shape)}", file=where, tensor=key)
        digest = digests[key] if key in digests else tensor_digest(source.read())
        if tensor_digest(tensor.read()) != digest:
            raise BridgeError("differs after reload", file=where, tensor=key)
