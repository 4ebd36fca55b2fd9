"""The canonical on-disk form: one safetensors file with canonical keys; config and head in its metadata."""

from __future__ import annotations

import json
from pathlib import Path

from ..checkpoint import Checkpoint, LoadReport
from ..config import AlbertConfig, parse_json
from ..errors import BridgeError
from ..schema import HeadKind
from .hf_layout import tokenizer_assets
from .safetensors_io import read_safetensors, write_safetensors

FILE_NAME = "albert.canonical.safetensors"
FORMAT_TAG = "albert-bridge"
SCHEMA_VERSION = "1"


def detect(path: Path) -> Path | None:
    candidate = path / FILE_NAME if path.is_dir() else path
    if candidate.is_file() and candidate.suffix == ".safetensors":
        if candidate.name == FILE_NAME or read_safetensors(candidate)[1].get("format") == FORMAT_TAG:
            return candidate
    return None


def load(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    file = detect(path)
    if file is None:
        raise BridgeError(f"no {FILE_NAME} here", file=path)
    tensors, metadata = read_safetensors(file)
    if metadata.get("format") != FORMAT_TAG:
        raise BridgeError(f"metadata format is {metadata.get('format')!r}, not {FORMAT_TAG!r}", file=file)
    if metadata.get("schema_version") != SCHEMA_VERSION:
        raise BridgeError(f"schema version {metadata.get('schema_version')!r} is not {SCHEMA_VERSION}", file=file)
    try:
        config = config or AlbertConfig.from_dict(parse_json(metadata["config"], file), file)
        stored_head = HeadKind.parse(metadata["head"])
    except (KeyError, ValueError) as exc:
        raise BridgeError(f"bad metadata ({exc})", file=file) from None
    ckpt = Checkpoint(config, stored_head, tensors, LoadReport("canonical", str(file), len(tensors)),
                      tokenizer_assets(file.parent))
    return ckpt.with_head(head) if head else ckpt


def save(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    metadata = {"format": FORMAT_TAG, "schema_version": SCHEMA_VERSION, "head": ckpt.head.value,
                "config": json.dumps(ckpt.config.to_dict(), sort_keys=True)}
    target = directory / FILE_NAME
    write_safetensors(target, sorted(ckpt.tensors.items()), metadata)
    return [target]
