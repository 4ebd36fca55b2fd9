"""Conversion pipeline: resolve the source (`sources`) -> load -> (re-head, cast) -> validate -> write every format
to a temp dir -> verify -> rename (`atomic`; how the new files reach DST, a whole swap or a merge into an existing
Hugging Face layout, is decided here: this is the module that knows the formats)."""

from __future__ import annotations

import fnmatch
import os
import shutil
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Callable, Sequence

import google_crc32c
import numpy as np

from . import atomic
from .arrays import Scratch, all_finite, contiguous, contiguous_folded
from .checkpoint import Checkpoint, LazyTensor, nonfinite_warning
from .dtypes import is_float
from .errors import BridgeError
from .config import AlbertConfig, unknown_keys
from .formats import FORMATS, Format, get_format, load
from .sources import resolve_source
from .tokenization.wordpiece_vocab import read_wordpiece_vocab, write_bert_tokenizer_files
from .tokenizer_files import CONFIG_FILE, TOKENIZER_PATTERNS, VOCAB_FILE, WORDPIECE_VOCAB_FILE
from .formats.mapping import Transform
from .schema import HeadKind


@dataclass
class ConversionResult:
    checkpoint: Checkpoint
    written: dict[str, list[Path]] = field(default_factory=dict)  # format -> files
    validated: dict[str, dict[str, float]] = field(default_factory=dict)  # format -> max abs diff per output
    warnings: list[str] = field(default_factory=list)


# Files a Hugging Face layout holds besides each format's weights: replaced by the new ones on a merge.
_SHARED_FILES = ("config.json", "albert_config.json", "README.md", ".gitattributes", *TOKENIZER_PATTERNS, "*.vocab")
# What makes two configs the same model, so that formats written from each may share a folder.
_MODEL_FIELDS = ("vocab_size", "embedding_size", "hidden_size", "intermediate_size", "num_attention_heads",
                 "num_hidden_layers", "num_hidden_groups", "inner_group_num", "max_position_embeddings",
                 "type_vocab_size", "hidden_act", "num_labels")


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _format_files(fmt: Format) -> tuple[str, ...]:
    return (*fmt.hub_files, *fmt.marker_files)


def _merge_plan(target: Path, formats: Sequence[Format], config: AlbertConfig, force: bool,
                read_back: Callable[[Path], None] | None = None) -> Callable[[Path, Path], None]:
    """How a conversion reaches DST. New or empty: renamed into place. A Hugging Face layout of the same model:
    merged file by file, the other formats' files kept; files of a format being written are replaced (stale
    shards removed) only with --force. Anything else is replaced whole, only with --force."""
    if not atomic.is_non_empty_dir(target):
        return atomic.swap
    names = atomic.directory_names(target)
    if any(fmt.own_directory for fmt in formats):  # nothing to merge with: its files are the whole directory
        if not force:
            raise BridgeError(f"output directory is not empty: a {formats[0].name} output needs a directory of its "
                              f"own; choose a new or empty one, or --force to replace it (removes "
                              f"{atomic.listing(names)})", file=target)
        return atomic.swap
    every_format = [p for fmt in FORMATS.values() for p in _format_files(fmt)]
    foreign = [n for n in names if not (target / n).is_file() or not _matches(n, (*every_format, *_SHARED_FILES))]
    other_model = _other_model(target, config)
    if foreign or other_model:
        why = (f"holds {other_model}" if other_model else
               f"is not a Hugging Face layout (it holds {atomic.listing(foreign)})")
        if not force:
            raise BridgeError(f"output directory is not empty and {why}: choose a new or empty directory, or "
                              f"--force to replace it (removes {atomic.listing(names)})", file=target)
        return atomic.swap
    replaced = [n for n in names if any(_matches(n, _format_files(fmt)) for fmt in formats)]
    if replaced and not force:
        kinds = ", ".join(fmt.name for fmt in formats if any(_matches(n, _format_files(fmt)) for n in replaced))
        raise BridgeError(f"already holds {kinds} weights: --force replaces them (removes {atomic.listing(replaced)}; "
                          "the other formats stay), or choose a new or empty directory", file=target)
    return partial(_merge, replaced=replaced, read_back=read_back)


def _other_model(target: Path, config: AlbertConfig) -> str | None:
    """Says why the config in `target` is not that of the model being written (None when it is, or there is none)."""
    for name in ("config.json", "albert_config.json"):
        if (target / name).is_file():
            try:
                existing = AlbertConfig.from_json_file(target / name)
            except BridgeError:
                return f"an unreadable {name}"
            differs = [k for k in _MODEL_FIELDS if getattr(existing, k) != getattr(config, k)]
            return f"another model ({name} differs in {', '.join(differs)})" if differs else None
    return None


def _merge(staging: Path, target: Path, replaced: Sequence[str], read_back: Callable[[Path], None] | None) -> None:
    """Move each new file into `target` (os.replace: atomic per file), weights before the indexes and configs that
    point at them, drop the replaced format's files the new output no longer has (stale shards), then read back
    what `target` now holds of each format written (its neighbours must not shadow it)."""
    new = sorted(atomic.directory_names(staging), key=lambda name: (name.endswith(".json"), name))
    for name in new:
        os.replace(staging / name, target / name)
    for name in replaced:
        if name not in new:
            (target / name).unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    if read_back is not None:
        read_back(target)


def _refuse_unsafe_destination(src: str | Path, dst: Path, to: Sequence[str]) -> None:
    """DST must never hold the source (--force would delete it) nor name a weight file (DST is a directory)."""
    retry = f"albert-bridge convert {src} {{}} --to {','.join(to)}"
    if not dst.is_dir() and _matches(dst.name.lower(), ("*.safetensors", "*.bin", "*.h5", "*.msgpack", "*.onnx",
                                                        "*.index.json")):
        raise BridgeError(f"DST is the directory to write into, not a weight file: {retry.format(dst.parent)}",
                          file=dst)
    source = Path(src).resolve() if os.path.lexists(src) or Path(src).parent.is_dir() else None
    if source is None:  # a Hub repo id: its snapshot lives in the cache
        return
    where = dst.resolve()
    relation = ("is SRC" if where == source else "contains SRC" if where in source.parents else
                "is inside SRC" if source in where.parents else None)
    if relation:
        raise BridgeError(f"DST {relation}, which a conversion there could overwrite or remove: write to another "
                          f"directory ({retry.format('OUT')})", file=dst)


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
    strict: bool = False,  # refuse tensors holding NaN or Inf, and unknown config keys, instead of warning
    progress: Callable[[int, int], None] | None = None,  # (bytes just written, bytes to write in all)
) -> ConversionResult:
    formats = [get_format(name).require() for name in to]
    _refuse_unsafe_destination(src, Path(dst), to)
    ckpt = load(resolve_source(src, src_format), src_format, head, config)
    if get_format(ckpt.report.format).tier:
        raise BridgeError(f"already a reduced-precision deployment tier ({ckpt.report.format}: quantized or cast), not "
                          "a checkpoint to convert: nothing written; convert from the fp32 model it was made from",
                          file=ckpt.report.source)
    if strict and unknown_keys(ckpt.config):
        key, hint = next(iter(unknown_keys(ckpt.config).items()))
        raise BridgeError(f"unknown config key {key!r}{hint} (refused: --strict)", file=ckpt.report.source)
    if allow_unused and ckpt.report.unknown:
        for name in ckpt.report.unknown:
            ckpt.report.skip(name, "dropped (--allow-unused)")
        ckpt.report.unknown.clear()
    ckpt = ckpt.cast(dtype).validate()
    alone = [fmt.name for fmt in formats if fmt.own_directory]
    if alone and len(formats) > 1:
        raise BridgeError(f"format {alone[0]!r} needs a directory of its own (its config.json is not transformers'): "
                          f"convert to it separately", file=dst)
    prepared: list[str] = []
    for fmt in formats:  # a format that holds another head, or refuses what it cannot compute (before any write)
        ckpt, notes = fmt.prepare(ckpt, force)
        prepared += notes
    if WORDPIECE_VOCAB_FILE in ckpt.assets:  # a bad vocab.txt is refused before anything is written
        read_wordpiece_vocab(ckpt.assets[WORDPIECE_VOCAB_FILE])
    result = ConversionResult(ckpt, warnings=[*ckpt.report.warnings, *prepared])
    digests: dict[str, dict[str, int]] = {}  # format -> canonical key -> digest of the bytes written
    total = ckpt.nbytes() * len(formats)
    nonfinite: list[str] = []

    def on_nonfinite(key: str, tensor: LazyTensor) -> None:  # checked after the cast: float16 may overflow to Inf
        if strict:
            raise BridgeError("holds NaN or Inf (refused: --strict)", file=tensor.origin, tensor=key)
        if tensor.origin not in nonfinite:
            nonfinite.append(tensor.origin or key)

    tick = progress and (lambda n: progress(n, total))
    layouts = {fmt.name: partial(fmt.native_transform, head=ckpt.head) for fmt in formats}

    def read_back(directory: Path) -> None:
        for fmt in formats:
            if fmt.tier:  # lossy by design: its validator runs it instead (agreement with the reference forward)
                continue
            _verify(ckpt, digests[fmt.name], fmt.load(directory, ckpt.head), f"{dst} ({fmt.name})", layouts[fmt.name])

    plan = partial(_merge_plan, formats=formats, config=ckpt.config, force=force, read_back=read_back if verify else None)
    with atomic.atomic_directory(Path(dst), plan=plan) as staging:
        for fmt in formats:
            digests[fmt.name] = {}
            recording = _recording(ckpt, digests[fmt.name], tick, layouts[fmt.name],
                                   Scratch() if fmt.streams_writes else None, on_nonfinite)
            result.written[fmt.name] = [p for p in fmt.save(recording, staging, max_shard_size) if p.name != "config.json"]
        if any(fmt.hf_layout for fmt in formats):  # tokenizer files under transformers' names
            for name, src_path in ckpt.assets.items():
                if not (staging / name).exists():
                    shutil.copyfile(src_path, staging / name)
            if WORDPIECE_VOCAB_FILE in ckpt.assets and not {VOCAB_FILE, CONFIG_FILE} & set(ckpt.assets):
                # A bare vocab.txt (the Chinese TF1 releases): name BertTokenizer, else AutoTokenizer would take
                # config.json's model_type and look for an ALBERT SentencePiece model.
                write_bert_tokenizer_files(staging, ckpt.config.max_position_embeddings)
        if verify:
            read_back(staging)
        if validate:  # a written model (ONNX) is run against the reference forward pass before it is published
            for fmt in formats:
                diffs = fmt.validate(staging, ckpt)
                if diffs is not None:
                    result.validated[fmt.name] = diffs
    if nonfinite:
        result.warnings.append(nonfinite_warning(nonfinite))
    final = Path(dst)
    result.written = {name: [final / p.relative_to(staging) for p in paths] for name, paths in result.written.items()}
    return result


def tensor_digest(array: np.ndarray) -> int:
    """CRC-32C of a tensor's bytes in C order: a bit-exact comparison without keeping the source tensor around.
    The checksum TF's own bundles use, in hardware: ~10x SHA-256's speed, and no byte that is corrupted, lost or
    moved between what was meant to be written and what reads back goes unnoticed but with odds of 1 in 4e9."""
    data = contiguous(array).reshape(-1).view(np.uint8)
    return google_crc32c.extend(0, data) if data.size else 0


_CRC32C_POLY = 0x82F63B78  # Castagnoli, reflected


def _gf2_times(matrix: Sequence[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


@lru_cache(maxsize=None)
def _zeros_operator(log2_nbytes: int) -> tuple[int, ...]:
    """The GF(2) operator that appends 2**log2_nbytes zero bytes to a CRC-32C register (zlib's crc32_combine
    method, for Castagnoli's polynomial): each the square of the one before, made once per process."""
    if log2_nbytes:
        half = _zeros_operator(log2_nbytes - 1)
        return tuple(_gf2_times(half, row) for row in half)
    operator = [_CRC32C_POLY] + [1 << n for n in range(31)]  # one zero bit
    for _ in range(3):  # one zero byte
        operator = [_gf2_times(operator, row) for row in operator]
    return tuple(operator)


def crc32c_combine(first: int, second: int, second_nbytes: int) -> int:
    """CRC-32C of A + B from CRC-32C(A), CRC-32C(B) and len(B): parts checksummed apart (while in the cache, on
    any core) give the same digest as one pass over the whole (`tensor_digest`)."""
    power = 0
    while second_nbytes:
        if second_nbytes & 1:
            first = _gf2_times(_zeros_operator(power), first)
        second_nbytes >>= 1
        power += 1
    return first ^ second


def _digest_part(part: np.ndarray, check_finite: bool) -> tuple[int, int, bool]:
    data = part.view(np.uint8)
    return google_crc32c.extend(0, data), data.size, not check_finite or all_finite(part)


def _recording(ckpt: Checkpoint, digests: dict[str, int], tick: Callable[[int], None] | None,
               layout: Callable[[str], Transform], scratch: Scratch | None,
               on_nonfinite: Callable[[str, LazyTensor], None]) -> Checkpoint:
    """The same checkpoint, noting each tensor's digest (and progress) as a writer reads it, and checking floating
    tensors for NaN and Inf (`on_nonfinite` hears of each that holds any, and may raise to refuse it). The digest
    is of the bytes in the layout the writer writes (`layout(key)`: as is, or transposed), made contiguous here
    once: the writer gets a view of that same array, which its own transform turns back into the C-ordered bytes
    it writes. The checksum and the finite check run on each part of those bytes as it is copied (or read), while
    it is in the cache: one pass over memory, not three. A writer that is done with each tensor before it reads
    the next gets the copies in one reused `scratch` buffer."""

    def recorded(key: str, tensor: LazyTensor) -> LazyTensor:
        def load():
            transform = layout(key)
            if key in digests:  # read again (a tied tensor): digested and checked the first time
                return transform.to_canonical(contiguous(transform.to_native(tensor.read()), scratch))
            fold = partial(_digest_part, check_finite=is_float(tensor.dtype))
            native, parts = contiguous_folded(transform.to_native(tensor.read()), scratch, fold)
            digest = 0
            for crc, nbytes, _ in parts:
                digest = crc32c_combine(digest, crc, nbytes)
            digests[key] = digest
            if not all(finite for _, _, finite in parts):
                on_nonfinite(key, tensor)
            if tick:
                tick(tensor.nbytes)
            return transform.to_canonical(native)

        return LazyTensor(tensor.shape, tensor.dtype, load, tensor.origin)

    return replace(ckpt, tensors={key: recorded(key, t) for key, t in ckpt.tensors.items()})


def _verify(ckpt: Checkpoint, digests: dict[str, int], written: Checkpoint, where: str,
            layout: Callable[[str], Transform]) -> None:
    """Read back what was just written: the same tensors, shapes, dtypes and bytes, one tensor at a time, each
    compared in the layout it was written in (the read-back is a view of the file: nothing is transposed).

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
        to_native = layout(key).to_native
        digest = digests[key] if key in digests else tensor_digest(to_native(source.read()))
        if tensor_digest(to_native(tensor.read())) != digest:
            raise BridgeError("differs after reload", file=where, tensor=key)
