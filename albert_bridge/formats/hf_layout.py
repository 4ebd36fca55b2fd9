"""What every Hugging Face directory shares: config.json, sharded index files, carried tokenizer files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..checkpoint import Checkpoint, LazyTensor, LoadReport, iter_shards
from ..config import CONFIG_NAME, AlbertConfig, read_json
from ..errors import BridgeError, ConfigMissing
from ..schema import ARCHITECTURES, HeadKind, head_from_architecture, infer_head
from ..tokenizer_files import TOKENIZER_FILES, find_tokenizer_files
from .mapping import Mapping

DEFAULT_MAX_SHARD_SIZE = 5 * 10**9  # transformers' default "5GB"

_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str | int | None) -> int | None:
    """`5GB` (powers of ten, like transformers), `500MiB`, or a byte count; 0/None means no sharding."""
    if text is None or isinstance(text, int):
        return text or None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)\s*", text.upper())
    if not match or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"cannot read size {text!r} (examples: 5GB, 500MB, 2GiB)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)]) or None


def find_weights(path: Path, single: str, index: str) -> Path | None:
    """The weights file (or its shard index) a directory or file path designates, if any."""
    if path.is_file():
        if re.search(r"-\d{5}-of-\d{5}\.", path.name) and (path.parent / index).is_file():
            return path.parent / index  # one shard named: read the whole sharded checkpoint
        return path if path.name == index or path.name.endswith(Path(single).suffix) else None
    for name in (single, index):
        if (path / name).is_file():
            return path / name
    return None


def hub_patterns(single_name: str) -> tuple[str, ...]:
    """The same names as Hub file patterns (fnmatch), for fetching one format from a repo."""
    stem, suffix = single_name.rsplit(".", 1)
    return single_name, f"{stem}-*-of-*.{suffix}", f"{single_name}.index.json"


def weight_file_pattern(single_name: str) -> re.Pattern:
    """The names of one save in a format: `model.safetensors`, its shards `model-00001-of-00003.safetensors` and
    their index."""
    stem, suffix = single_name.rsplit(".", 1)
    return re.compile(rf"{re.escape(stem)}(-\d{{5}}-of-\d{{5}})?\.{re.escape(suffix)}(\.index\.json)?")


def stale_weight_files(directory: Path, single_name: str, keep: set[str]) -> list[Path]:
    """Files of an earlier save in this format that a new save, writing `keep`, does not replace."""
    pattern = weight_file_pattern(single_name)
    return sorted(p for p in Path(directory).iterdir()
                  if p.is_file() and pattern.fullmatch(p.name) and p.name not in keep)


def load_config_and_head(directory: Path, canonical_keys: set[str],
                         config: AlbertConfig | None = None) -> tuple[AlbertConfig, HeadKind]:
    """The config (given, else next to the weights), and the head its `architectures` (else its tensors) show."""
    if config is None:
        if not (directory / CONFIG_NAME).is_file():
            raise ConfigMissing(f"no {CONFIG_NAME} next to the weights", file=directory)
        config = AlbertConfig.from_pretrained(directory)
    for arch in config.architectures or ():
        head = head_from_architecture(arch)
        if head:
            return config, head
    return config, infer_head(set(canonical_keys))


def save_config(ckpt: Checkpoint, directory: Path) -> Path:
    """config.json with `architectures` as transformers writes it from every framework (no TF/Flax prefix),
    so one config serves a directory that holds several formats."""
    return write_config(ckpt.config, ckpt.head, directory)


def write_config(config: AlbertConfig, head: HeadKind, directory: Path) -> Path:
    """save_config for a config and head (a model's, beside weights written by someone else: Trainer)."""
    config = AlbertConfig.from_dict(config.to_dict())
    config.architectures = [ARCHITECTURES[head]]
    return config.save_pretrained(directory)


def tokenizer_assets(directory: Path) -> dict[str, Path]:
    """Tokenizer files beside the weights, by their transformers name (a lone `*.model` is the spiece model)."""
    try:
        return find_tokenizer_files(directory)
    except BridgeError:  # several *.model candidates: carry only what is named unambiguously
        return {name: directory / name for name in TOKENIZER_FILES if (directory / name).is_file()}


def read_index(index_path: Path) -> dict[str, list[str]]:
    """Shard file -> tensor names, from a transformers `*.index.json`; every shard a plain file name in the index's
    directory (an index from a stranger must not read files elsewhere) that exists there."""
    data = read_json(index_path)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict):
        raise BridgeError("index has no weight_map", file=index_path)
    shards: dict[str, list[str]] = {}
    for name, shard in weight_map.items():
        if not isinstance(shard, str) or not shard or shard.startswith(".") or any(c in shard for c in "/\\\0"):
            raise BridgeError(f"bad shard file name {shard!r} (not a file name in the index's directory)",
                              file=index_path, tensor=name)
        shards.setdefault(shard, []).append(name)
    held = 0
    for shard in shards:
        if not (index_path.parent / shard).is_file():
            raise BridgeError(f"shard {shard} listed in the index is missing", file=index_path)
        held += (index_path.parent / shard).stat().st_size
    metadata = data.get("metadata")
    total = metadata.get("total_size") if isinstance(metadata, dict) else None
    if isinstance(total, int) and total > held:
        raise BridgeError(f"index claims {total} bytes of tensors, its shards hold {held} bytes", file=index_path)
    return shards


# A per-file reader: (native name -> tensor, native name -> what a non-tensor entry holds), the latter reported unknown.
FileReader = Callable[[Path, LoadReport], "tuple[dict[str, LazyTensor], dict[str, str]]"]


def _same(name: str) -> str:
    return name


def _as_read(native: dict[str, LazyTensor], report: LoadReport) -> dict[str, LazyTensor]:
    return native


@dataclass(frozen=True)
class HFWeights:
    """What one HF weights format brings to `load_hf`: its file names, mapping, a reader for one file, and fixups.

    Everything else (one file or a shard index, names listed vs present, duplicates across shards, config and head,
    tokenizer files) is shared, so every format checks the same things the same way."""

    fmt: str
    single: str                  # `model.safetensors`
    index: str                   # `model.safetensors.index.json`
    mapping: Mapping
    read_file: FileReader
    listed_as: Callable[[str], str] = _same  # an index name as the shard names it (h5 shards drop the model name)
    fixup: Callable[[dict[str, LazyTensor], LoadReport], dict[str, LazyTensor]] = _as_read  # before the mapping


def read_weights(weights: Path, layout: HFWeights, report: LoadReport) -> dict[str, LazyTensor]:
    """The native tensors of one weights file, or of every shard an index lists: each listed name must be in its
    shard, and no name may be in two shards (the second would silently replace the first)."""
    if weights.name.endswith(".index.json"):
        shards: dict[str, list[str] | None] = dict(read_index(weights))
    else:
        shards = {weights.name: None}
    native: dict[str, LazyTensor] = {}
    where: dict[str, str] = {}
    for shard, listed in shards.items():
        path = weights.parent / shard
        tensors, others = layout.read_file(path, report)
        for name in listed or ():
            if layout.listed_as(name) not in tensors and layout.listed_as(name) not in others:
                raise BridgeError(f"listed in {weights.name} but not in this shard", file=path, tensor=name)
        for name in [*tensors, *others]:
            if name in where:
                raise BridgeError(f"in two shards (also in {where[name]})", file=path, tensor=name)
            where[name] = shard
        native.update(tensors)
        report.unknown.extend(f"{name} ({kind})" for name, kind in others.items())
    return native


def load_hf(layout: HFWeights, weights: Path | None, path: Path, head: HeadKind | None,
            config: AlbertConfig | None) -> Checkpoint:
    """A checkpoint from the weights file or index `weights` (what the format's detect found at `path`)."""
    if weights is None:
        raise BridgeError(f"no {layout.single} here", file=path)
    report = LoadReport(format=layout.fmt, source=str(weights))
    native = layout.fixup(read_weights(weights, layout, report), report)
    tensors = layout.mapping.to_canonical(native, report)
    config, found_head = load_config_and_head(weights.parent, set(tensors), config)
    ckpt = Checkpoint(config, found_head, tensors, report, tokenizer_assets(weights.parent))
    return ckpt.with_head(head) if head and head is not found_head else ckpt


def write_sharded(
    directory: Path,
    tensors: dict[str, LazyTensor],
    single_name: str,
    max_shard_size: int | None,
    write_shard: Callable[[Path, Sequence[tuple[str, LazyTensor]]], None],
) -> list[Path]:
    """Write one file, or shards named like transformers' plus their index when over max_shard_size."""
    shards = iter_shards(sorted(tensors.items()), max_shard_size)
    if len(shards) == 1:
        write_shard(directory / single_name, shards[0])
        return [directory / single_name]
    stem, suffix = single_name.rsplit(".", 1)
    weight_map: dict[str, str] = {}
    written = []
    for i, shard in enumerate(shards, 1):
        name = f"{stem}-{i:05d}-of-{len(shards):05d}.{suffix}"
        write_shard(directory / name, shard)
        written.append(directory / name)
        weight_map.update({tensor_name: name for tensor_name, _ in shard})
    index = directory / f"{single_name}.index.json"
    total = sum(t.nbytes for t in tensors.values())
    index.write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    return [*written, index]
