"""Every reader under attack: seeded mutations of real files must end in a BridgeError naming the source.

Each target is one line of TARGETS: a format, a maker that writes a small real checkpoint and says which file to
mutate and where its structure is (headers, indexes, names: where a mutation changes meaning rather than one weight),
and the case count. Mutations, as an attacker tries them: truncation, bit flips, runs of random bytes, insertions,
deletions, and extreme integers written into the headers (as text in JSON, as raw bytes elsewhere). A case loads the
source through the public API, validates it and reads every tensor; anything but a BridgeError naming the source,
or a case running over 10 s, fails the test with the seed and mutation that reproduce it.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from albert_bridge.formats import get_format, load
from albert_bridge.formats import hf_flax_msgpack as fm
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint
from tests.helpers import fuzz_file

CASE_SECONDS = 10
Regions = list[tuple[int, int]]  # [start, end) byte ranges of the file's structure


def _whole(path: Path) -> Regions:
    return [(0, path.stat().st_size)]


def _safetensors_header(path: Path) -> Regions:
    data = path.read_bytes()
    return [(0, 8 + int.from_bytes(data[:8], "little"))]


def _zip_structure(path: Path) -> Regions:
    """A .bin is a zip: the pickle, each member's local header, and the central directory at the end."""
    with zipfile.ZipFile(path) as zf:
        regions = [(info.header_offset, info.header_offset + 30 + len(info.filename) + len(info.extra) + (
            info.file_size if info.filename.endswith(".pkl") else 0)) for info in zf.infolist()]
        regions.append((zf.start_dir, path.stat().st_size))
    return regions


def _h5_structure(path: Path) -> Regions:
    """Every object header (attributes, datatypes, dataspaces, layouts), then the rest but the datasets' bytes."""
    import h5py

    headers, payload = [], []
    with h5py.File(path, "r") as f:
        def visit(_, obj):
            info = h5py.h5o.get_info(obj.id)
            headers.append((info.addr, info.addr + info.hdr.space.total))
            if isinstance(obj, h5py.Dataset) and obj.id.get_offset() is not None:
                payload.append((obj.id.get_offset(), obj.id.get_offset() + obj.id.get_storage_size()))
        visit("", f)
        f.visititems(visit)
    return headers + _complement(payload, path.stat().st_size)


def _msgpack_structure(path: Path) -> Regions:
    payload = []

    def walk(node):
        for value in node.values():
            if isinstance(value, dict):
                walk(value)
            elif hasattr(value, "spans"):
                payload.extend((s.offset, s.offset + s.length) for s in value.spans)

    walk(fm.read_tree(path))
    return _complement(payload, path.stat().st_size)


def _complement(payload: Regions, size: int) -> Regions:
    regions, at = [], 0
    for start, end in sorted(payload):
        if start > at:
            regions.append((at, start))
        at = max(at, end)
    return regions + ([(at, size)] if at < size else [])


# --- samples: (directory to load, file to mutate, its structure) ----------------------------------------------------
def _hf(fmt: str, name: str, structure: Callable[[Path], Regions], shard: int | None = None):
    def make(root: Path) -> tuple[Path, Path, Regions]:
        get_format(fmt).save(make_checkpoint(HeadKind.MASKED_LM, seed=3), root, max_shard_size=shard)
        return root, root / name, structure(root / name)
    return make


def _tf1(member: str):
    def make(root: Path) -> tuple[Path, Path, Regions]:
        get_format("tf1").save(make_checkpoint(HeadKind.MASKED_LM, seed=3), root)
        file = next(p for p in root.iterdir() if member in p.name)
        return root, file, _whole(file)
    return make


EXTREME_NUMBERS = [b"0", b"-1", b"1e308", b"-1e308", b"4294967295", b"4294967296", b"9223372036854775807",
                   b"18446744073709551615", b"-9223372036854775808", b"1000000000000", b"1" + b"0" * 400, b"NaN",
                   b"Infinity", b"0.5", b"true", b"null", b'"1"', b"[]", b"{}"]
EXTREME_INTS = [0, 1, -1, 2**31 - 1, 2**32, 2**40, 2**62, 2**63 - 1, -2**63]
EXTREME_BYTES = [b"\xff" * 8, b"\x7f" + b"\xff" * 7, b"\xff" * 7 + b"\x7f", b"\x80" + b"\0" * 7, b"\0" * 7 + b"\x80",
                 b"\0" * 8, b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x7f\xff\xff\xff", b"\xff\xff", b"\xff"]
MUTATIONS = ("truncate", "flip", "run", "insert", "delete", "extreme")


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _position(rng, regions: Regions, size: int) -> int:
    """Mostly inside the structure (each region as likely as any other, so small headers get their share)."""
    if regions and rng.random() < 0.85:
        start, end = _pick(rng, regions)
        return int(rng.integers(start, max(start + 1, end)))
    return int(rng.integers(0, max(1, size)))


def mutate(data: bytes, kind: str, rng, regions: Regions, text: bool) -> bytes:
    out = bytearray(data)
    at = _position(rng, regions, len(data))
    n = int(rng.integers(1, 65))
    if kind == "truncate":
        return bytes(out[:int(rng.integers(0, len(data)))])
    if kind == "flip":
        for _ in range(int(rng.integers(1, 9))):
            spot = _position(rng, regions, len(data))
            if spot < len(out):
                out[spot] ^= 1 << int(rng.integers(8))
        return bytes(out)
    if kind == "run":
        out[at:at + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        return bytes(out)
    if kind == "insert":
        return bytes(out[:at] + rng.integers(0, 256, n, dtype=np.uint8).tobytes() + out[at:])
    if kind == "delete":
        return bytes(out[:at] + out[at + n:])
    if text and rng.random() < 0.8:  # JSON: an extreme value in place of one number (or other value) in the header
        values = [m for start, end in regions for m in re.finditer(
            rb'-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null|"[^"]*"', data[:end]) if m.start() >= start]
        if values:
            m = _pick(rng, values)
            return bytes(out[:m.start()] + _pick(rng, EXTREME_NUMBERS) + out[m.end():])
    value = _pick(rng, EXTREME_BYTES)
    out[at:at + len(value)] = value
    return bytes(out)


def mutate_bundle_index(data: bytes, kind: str, rng, regions: Regions, text: bool) -> bytes:
    """Half the cases as for any file (the block checksums refuse most); half as an attacker who edits the entries
    and rebuilds the table with valid checksums, so the edit reaches the parser: extreme values in an entry's
    fields, or bytes mutated inside one entry."""
    from albert_bridge.formats import tf_bundle as tb

    if rng.random() < 0.5:
        return mutate(data, kind, rng, regions, text)
    items = [kv for block in tb._table_blocks(data) for kv in tb._block_entries(block)]
    i = int(rng.integers(len(items)))
    key, value = items[i]
    if kind == "extreme" and key:
        entry = tb.BundleEntry.decode(value)
        field = _pick(rng, ["dtype", "shard_id", "offset", "size", "crc32c", "dim", "rank"])
        number = _pick(rng, EXTREME_INTS)
        if field == "dim" and entry.shape:
            shape = list(entry.shape)
            shape[int(rng.integers(len(shape)))] = number
            entry = replace(entry, shape=tuple(shape))
        elif field == "rank":
            entry = replace(entry, shape=entry.shape + (int(rng.integers(0, 3)),) * int(rng.integers(1, 40)))
        elif field != "dim":
            entry = replace(entry, **{field: number & 0xFFFFFFFF if field == "crc32c" else number})
        value = entry.encode()
    elif rng.random() < 0.2:
        key = mutate(key, kind if kind != "extreme" else "run", rng, [], False)
    else:
        value = mutate(value, kind, rng, [(0, len(value))], False)
    items[i] = (key, value)
    return tb._build_table(items)


@dataclass(frozen=True)
class Target:
    name: str
    fmt: str
    make: Callable[[Path], tuple[Path, Path, Regions]]
    cases: int
    text: bool = False  # the structure is JSON: extreme values are written as JSON values
    mutate: Callable = mutate


# Adding a reader (ONNX, when it lands) is one line here.
TARGETS = [
    Target("safetensors", "safetensors", _hf("safetensors", "model.safetensors", _safetensors_header), 300, True),
    Target("pytorch-bin", "pytorch", _hf("pytorch", "pytorch_model.bin", _zip_structure), 200),
    Target("tf-h5", "tf", _hf("tf", "tf_model.h5", _h5_structure), 300),
    Target("flax-msgpack", "flax", _hf("flax", "flax_model.msgpack", _msgpack_structure), 300),
    Target("tf1-index", "tf1", _tf1(".index"), 300, mutate=mutate_bundle_index),
    Target("tf1-data", "tf1", _tf1(".data-"), 100),
    Target("canonical", "canonical", _hf("canonical", "albert.canonical.safetensors", _safetensors_header), 100, True),
    Target("config.json", "safetensors", _hf("safetensors", "config.json", _whole), 250, True),
    Target("albert_config.json", "tf1", _tf1("albert_config.json"), 150, True),
    Target("shard-index", "safetensors",
           _hf("safetensors", "model.safetensors.index.json", _whole, shard=20_000), 150, True),
    Target("h5-shard-index", "tf", _hf("tf", "tf_model.h5.index.json", _whole, shard=20_000), 50, True),
    Target("onnx", "onnx", _hf("onnx", "model.onnx", _whole), 200),
]


def run_case(fmt: str, source: Path) -> None:
    ckpt = load(source, fmt)
    ckpt.validate()
    ckpt.materialize()


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_mutated_files_end_in_one_bridge_error(tmp_path, target, record_property):
    source, file, regions = target.make(tmp_path / "src")
    run_case(target.fmt, source)  # the unmutated sample loads: every refusal below is the mutation's doing

    def mutation(case, rng, original):
        kind = MUTATIONS[case % len(MUTATIONS)]
        return kind, target.mutate(original, kind, rng, regions, target.text)

    fuzz_file(file, target.cases, sum(target.name.encode()), mutation, lambda: run_case(target.fmt, source),
              [str(source)], CASE_SECONDS, target.name, record_property)
