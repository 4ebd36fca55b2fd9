"""Every entry point a user calls on a stranger's files, under attack: tokenizers, models, convert, inspect, parity,
push --dry-run.

Each line of ENTRY_POINTS is one (entry point, file) pair: a maker writes a small real directory, one of its files is
mutated as tests/test_fuzz.py mutates files (truncation, bit flips, random runs, insertions, deletions, extreme JSON
values), and the entry point is called on it the way a user calls it, followed by one use of what it returned (an
encoded text, a forward call). Anything but a BridgeError naming the mutated file, or a case over 10 s, fails with
the seed and case that reproduce it. Frameworks are imported once per session (module-level caches).
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from albert_bridge.errors import BridgeError
from albert_bridge.formats import get_format
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint, make_inputs
from tests.conftest import ROOT
from tests.helpers import deadline
from tests.test_fuzz import CASE_SECONDS, MUTATIONS, _safetensors_header, _whole, _zip_structure, mutate

TOKENIZER_FIXTURE = ROOT / "fixtures" / "tokenizer"
TEXT = "Hello World, <new> costs 9,99 [MASK] ünïcode <x>"


# --- samples: a directory as a user finds it --------------------------------------------------------------------
@functools.cache
def _saved_tokenizer(layout: str) -> dict[str, bytes]:
    """transformers' layout ("full": spiece.model, tokenizer.json, both configs, added_tokens.json), with added tokens
    past the vocabulary; "json": tokenizer.json and the configs alone (then tokenizer.json is read); "older": a
    tokenizer_config.json without added_tokens_decoder (then added_tokens.json is read)."""
    import tempfile

    from albert_bridge.tokenization import AlbertTokenizerFast

    tok = AlbertTokenizerFast.from_pretrained(TOKENIZER_FIXTURE)
    tok.add_tokens(["<new>", "hello world"])
    tok.add_special_tokens({"additional_special_tokens": ["<x>"]})
    with tempfile.TemporaryDirectory() as folder:
        tok.save_pretrained(folder)
        files = {p.name: p.read_bytes() for p in Path(folder).iterdir()}
    if layout == "json":
        del files["spiece.model"], files["added_tokens.json"]
    if layout == "older":
        config = json.loads(files["tokenizer_config.json"])
        del config["added_tokens_decoder"]
        files["tokenizer_config.json"] = json.dumps(config).encode()
    return files


def tokenizer_dir(root: Path, layout: str = "full") -> Path:
    root.mkdir(parents=True)
    for name, data in _saved_tokenizer(layout).items():
        (root / name).write_bytes(data)
    return root


def model_dir(root: Path, with_tokenizer: bool = True) -> Path:
    """A small pretraining checkpoint (model.safetensors + config.json) with the tokenizer beside it."""
    get_format("safetensors").save(make_checkpoint(HeadKind.PRETRAINING, seed=5), root)
    if with_tokenizer:
        for name, data in _saved_tokenizer("full").items():
            (root / name).write_bytes(data)
    return root


def parity_dir(root: Path) -> Path:
    """A checkpoint, its inputs (inputs.npz) and outputs saved by the numpy backend (expect.npz)."""
    from albert_bridge.parity import check

    model_dir(root / "model", with_tokenizer=False)
    np.savez(root / "inputs.npz", **make_inputs(HeadKind.PRETRAINING, batch=2, seq_len=6, seed=1))
    check(root / "model", "numpy", inputs=root / "inputs.npz", save_outputs_to=root / "expect.npz")
    return root


# --- entry points: each takes the sample directory and does what a user does with it -----------------------------
def slow_tokenizer(root: Path) -> None:
    from albert_bridge.tokenization import AlbertTokenizer

    tok = AlbertTokenizer.from_pretrained(root)
    tok.decode(tok(TEXT)["input_ids"])


def fast_tokenizer(root: Path) -> None:
    from albert_bridge.tokenization import AlbertTokenizerFast

    tok = AlbertTokenizerFast.from_pretrained(root)
    tok.decode(tok(TEXT, return_offsets_mapping=True)["input_ids"])


IDS = [[2, 10, 11, 12, 3, 0]]


def torch_model(root: Path) -> None:
    import torch

    from albert_bridge.models.albert_torch import AlbertForPreTraining

    with torch.no_grad():
        AlbertForPreTraining.from_pretrained(root)(torch.tensor(IDS), attention_mask=torch.tensor([[1] * 5 + [0]]))


def tf_model(root: Path) -> None:
    from albert_bridge.models.albert_tf import TFAlbertForPreTraining

    TFAlbertForPreTraining.from_pretrained(root)(np.array(IDS), attention_mask=np.array([[1] * 5 + [0]]))


def flax_model(root: Path) -> None:
    from albert_bridge.models.albert_flax import FlaxAlbertForPreTraining

    FlaxAlbertForPreTraining.from_pretrained(root)(np.array(IDS), attention_mask=np.array([[1] * 5 + [0]]))


def convert_to_safetensors(root: Path) -> None:
    from albert_bridge.convert import convert

    convert(root, root.parent / f"out-{time.monotonic_ns()}", ["safetensors"])


def inspect(root: Path) -> None:
    from albert_bridge.inspection import describe, render_text

    info = describe(str(root))
    render_text(info)
    json.dumps(info)


def parity_inputs(root: Path) -> None:
    from albert_bridge.parity import check

    check(root / "model", "numpy", inputs=root / "inputs.npz")


def parity_expect(root: Path) -> None:
    from albert_bridge.parity import check

    check(root / "model", "numpy", expect=root / "expect.npz")


def push_dry_run(root: Path) -> None:
    from albert_bridge.hub import push

    push(root, "org/name", formats=["safetensors"], dry_run=root.parent / f"out-{time.monotonic_ns()}")


@dataclass(frozen=True)
class EntryPoint:
    name: str
    call: Callable[[Path], None]
    make: Callable[[Path], Path]
    file: str  # the file mutated, relative to the sample directory
    cases: int
    regions: Callable[[Path], list[tuple[int, int]]] = _whole
    needs: str | None = None  # a framework the entry point imports

    @property
    def named_by(self) -> tuple[str, ...]:
        """Files an error may name: the mutated one; for a config, also the weights it then disagrees with."""
        return (self.file, "model.safetensors") if self.file == "config.json" else (self.file,)

    @property
    def text(self) -> bool:
        return self.file.endswith(".json")


ODD_VALUES = [None, True, 0, -1, 0.5, 1e308, 10**20, "", "x", "-1", [], [1], ["x"], {}, {"content": 1}, {"a": None}]
ODD_KEYS = ["", "x", "-1", "1.5", "1e3", "content", " 7", "99999999999999999999"]


def mutate_json(data: bytes, rng) -> bytes:
    """As a stranger edits a JSON file by hand: one value of any depth replaced by a value of another type, one key
    renamed, or one entry removed; the file stays valid JSON, so the edit reaches the code that uses it."""
    root = json.loads(data)
    places = []

    def walk(node):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            places.append((node, key))
            walk(value)

    walk(root)
    if not places:
        return json.dumps(ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]).encode()
    node, key = places[int(rng.integers(len(places)))]
    action = rng.random()
    if action < 0.6 or not isinstance(node, dict):
        node[key] = ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]
    elif action < 0.8:
        node[ODD_KEYS[int(rng.integers(len(ODD_KEYS)))]] = node.pop(key)
    else:
        del node[key]
    return json.dumps(root).encode()


def _each(name, call, make, files: dict[str, int], needs=None, regions=None) -> list[EntryPoint]:
    structure = regions or {}
    return [EntryPoint(name, call, make, file, cases, structure.get(file, _whole), needs)
            for file, cases in files.items()]


_json_only = functools.partial(tokenizer_dir, layout="json")
_older = functools.partial(tokenizer_dir, layout="older")
TOKENIZER_FILES = {"spiece.model": 80, "tokenizer_config.json": 60, "special_tokens_map.json": 30}
WEIGHTS = {"model.safetensors": _safetensors_header}
NPZ = {"inputs.npz": _zip_structure, "expect.npz": _zip_structure}

# Adding an entry point is one line here; README's Hostile input table counts these cases.
ENTRY_POINTS = [
    *_each("AlbertTokenizer.from_pretrained", slow_tokenizer, tokenizer_dir, TOKENIZER_FILES),
    *_each("AlbertTokenizer.from_pretrained", slow_tokenizer, _json_only, {"tokenizer.json": 40}),
    *_each("AlbertTokenizer.from_pretrained", slow_tokenizer, _older, {"added_tokens.json": 30}),
    *_each("AlbertTokenizerFast.from_pretrained", fast_tokenizer, tokenizer_dir, TOKENIZER_FILES),
    *_each("AlbertTokenizerFast.from_pretrained", fast_tokenizer, _json_only, {"tokenizer.json": 40}),
    *_each("AlbertTokenizerFast.from_pretrained", fast_tokenizer, _older, {"added_tokens.json": 30}),
    *_each("AlbertForPreTraining.from_pretrained", torch_model, model_dir,
           {"config.json": 40, "model.safetensors": 16}, "torch", WEIGHTS),
    *_each("TFAlbertForPreTraining.from_pretrained", tf_model, model_dir,
           {"config.json": 10, "model.safetensors": 6}, "tensorflow", WEIGHTS),
    *_each("FlaxAlbertForPreTraining.from_pretrained", flax_model, model_dir,
           {"config.json": 16, "model.safetensors": 8}, "jax", WEIGHTS),
    *_each("convert", convert_to_safetensors, model_dir, {"config.json": 30, "model.safetensors": 20}, None, WEIGHTS),
    *_each("inspect", inspect, model_dir, {"config.json": 30, "spiece.model": 30, "tokenizer_config.json": 30}),
    *_each("parity --inputs", parity_inputs, parity_dir, {"inputs.npz": 30}, None, NPZ),
    *_each("parity --expect", parity_expect, parity_dir, {"expect.npz": 30}, None, NPZ),
    *_each("push --dry-run", push_dry_run, model_dir, {"config.json": 12}, "torch"),
]


def _id(entry: EntryPoint) -> str:
    return f"{entry.name}-{entry.file}"


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=[_id(e) for e in ENTRY_POINTS])
def test_mutated_files_end_in_one_bridge_error(tmp_path, entry, record_property):
    if entry.needs:
        pytest.importorskip(entry.needs)
    source = entry.make(tmp_path / "src")
    file = source / entry.file
    original = file.read_bytes()
    regions = entry.regions(file)
    entry.call(source)  # the unmutated sample works: every refusal below is the mutation's doing
    rng = np.random.default_rng(sum(_id(entry).encode()))
    outcomes = {"loaded": 0, "refused": 0}
    escaped: list[str] = []
    started = time.perf_counter()
    try:
        for case in range(entry.cases):
            if entry.text and case % 2:  # JSON: half the cases edit the structure, half the bytes
                kind, data = "json", mutate_json(original, rng)
            else:
                kind = MUTATIONS[case // 2 % len(MUTATIONS)] if entry.text else MUTATIONS[case % len(MUTATIONS)]
                data = mutate(original, kind, rng, regions, entry.text)
            file.write_bytes(data)
            try:
                with deadline(CASE_SECONDS):
                    entry.call(source)
                outcomes["loaded"] += 1
            except BridgeError as exc:
                outcomes["refused"] += 1
                if not any(str(source / name) in exc.one_line() for name in entry.named_by) or "\n" in exc.one_line():
                    escaped.append(f"case {case} ({kind}): error does not name {entry.file}: {exc.one_line()!r}")
            except Exception as exc:  # noqa: BLE001 - what the test is about (Overrun: a hang)
                escaped.append(f"case {case} ({kind}): {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        file.write_bytes(original)
    seconds = time.perf_counter() - started
    record_property("fuzz", {"entry": entry.name, "file": entry.file, "cases": entry.cases,
                             "seconds": round(seconds, 2), "escaped": len(escaped), **outcomes})
    print(f"{_id(entry)}: {entry.cases} cases in {seconds:.1f} s, {outcomes}, {len(escaped)} escaped")
    assert not escaped, "\n".join(escaped[:20])
