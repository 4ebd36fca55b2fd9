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

from albert_bridge.config import _DEFAULTS as CONFIG_DEFAULTS
from albert_bridge.errors import BridgeError
from albert_bridge.formats import get_format
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint, make_inputs
from tests.helpers import ROOT
from tests.helpers import fuzz_file, hostile_call
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


def wordpiece_dir(root: Path) -> Path:
    """A Chinese release's tokenizer as WordPieceTokenizerFast saves it: vocab.txt and BertTokenizer's configs."""
    from albert_bridge.tokenization import WordPieceTokenizerFast
    from tests.helpers import write_wordpiece_vocab

    WordPieceTokenizerFast(write_wordpiece_vocab(root.parent / "source" / "vocab.txt")).save_pretrained(root)
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
    from albert_bridge.publish import push

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
    *_each("AlbertTokenizerFast.from_pretrained(WordPiece)", fast_tokenizer, wordpiece_dir,
           {"vocab.txt": 60, "tokenizer_config.json": 40}),
    *_each("AlbertForPreTraining.from_pretrained", torch_model, model_dir,
           {"config.json": 40, "model.safetensors": 16}, "torch", WEIGHTS),
    *_each("TFAlbertForPreTraining.from_pretrained", tf_model, model_dir,
           {"config.json": 10, "model.safetensors": 6}, "tensorflow", WEIGHTS),
    *_each("FlaxAlbertForPreTraining.from_pretrained", flax_model, model_dir,
           {"config.json": 10, "model.safetensors": 8}, "jax", WEIGHTS),
    *_each("convert", convert_to_safetensors, model_dir, {"config.json": 30, "model.safetensors": 20}, None, WEIGHTS),
    *_each("inspect", inspect, model_dir, {"config.json": 30, "spiece.model": 30, "tokenizer_config.json": 30}),
    *_each("parity --inputs", parity_inputs, parity_dir, {"inputs.npz": 30}, None, NPZ),
    *_each("parity --expect", parity_expect, parity_dir, {"expect.npz": 30}, None, NPZ),
    *_each("push --dry-run", push_dry_run, model_dir, {"config.json": 12}, "torch"),
]


def _id(entry: EntryPoint) -> str:
    return f"{entry.name}-{entry.file}"


# Entry points of TF or Flax classes run where that framework is installed (tox -e tf, tox -e flax), a push (its
# model card) where huggingface_hub is (tox -e hub); these are the slow ones (a compile, or a parity run, per case).
NEEDS_MARK = {"tensorflow": pytest.mark.tf, "jax": pytest.mark.flax}


def _marks(entry: EntryPoint) -> list:
    backend = [NEEDS_MARK[entry.needs]] if entry.needs in NEEDS_MARK else []
    if entry.name.startswith("push"):
        backend = [pytest.mark.hub]
    return backend + [pytest.mark.slow] if backend else []


@pytest.mark.parametrize("entry", [pytest.param(e, id=_id(e), marks=_marks(e)) for e in ENTRY_POINTS])
def test_mutated_files_end_in_one_bridge_error(tmp_path, entry, record_property):
    if entry.needs:
        pytest.importorskip(entry.needs)
    source = entry.make(tmp_path / "src")
    file = source / entry.file
    regions = entry.regions(file)
    entry.call(source)  # the unmutated sample works: every refusal below is the mutation's doing

    def mutation(case, rng, original):
        if entry.text and case % 2:  # JSON: half the cases edit the structure, half the bytes
            return "json", mutate_json(original, rng)
        kind = MUTATIONS[case // 2 % len(MUTATIONS)] if entry.text else MUTATIONS[case % len(MUTATIONS)]
        return kind, mutate(original, kind, rng, regions, entry.text)

    fuzz_file(file, entry.cases, sum(_id(entry).encode()), mutation, lambda: entry.call(source),
              [str(source / name) for name in entry.named_by], CASE_SECONDS, _id(entry), record_property)


# --- what the fuzzing found, one named case each --------------------------------------------------------------------
def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("change, field, problem", [
    ({"added_tokens_decoder": {"x": {"content": "<x>"}}}, "added_tokens_decoder['x']", "key must be a token id"),
    ({"added_tokens_decoder": {"7": {"lstrip": True}}}, "added_tokens_decoder['7']", "missing 'content'"),
    ({"additional_special_tokens": [["<a>"]]}, "additional_special_tokens[0]", "expected a str or an object"),
    ({"model_max_length": 0.5}, "model_max_length", "expected null or an integer, got 0.5"),
    ({"padding_side": "middle"}, "padding_side", "expected null or 'right' or 'left'"),
    ({"sp_model_kwargs": {"model_file": "/etc/passwd"}}, "sp_model_kwargs.model_file", "unknown key"),
    ({"mask_token": {"content": "[MASK]", "lstrip": "yes"}}, "mask_token.lstrip", "expected a bool"),
], ids=["id-key", "no-content", "list-token", "float-length", "side", "sp-kwargs", "flag"])
@pytest.mark.parametrize("cls", ["AlbertTokenizer", "AlbertTokenizerFast"])
def test_a_wrong_type_in_tokenizer_config_names_the_file_and_the_field(tmp_path, cls, change, field, problem):
    import albert_bridge

    root = tokenizer_dir(tmp_path / "tok")
    _edit_json(root / "tokenizer_config.json", **change)
    with pytest.raises(BridgeError) as info:
        getattr(albert_bridge, cls).from_pretrained(root)
    assert info.value.one_line().startswith(f"{root / 'tokenizer_config.json'}: {field}: "), info.value
    assert problem in info.value.one_line()


def test_an_added_token_id_given_to_two_tokens_keeps_one(tmp_path):
    """added_tokens.json giving "hello world" the id of "<new>" left a stale entry behind (KeyError at encode)."""
    from albert_bridge.tokenization import AlbertTokenizer

    root = tokenizer_dir(tmp_path / "tok", layout="older")
    (root / "added_tokens.json").write_text(json.dumps({"<new>": 1200, "hello world": 1200, "<x>": 1202}))
    tok = AlbertTokenizer.from_pretrained(root)
    assert tok.convert_ids_to_tokens(1200) == "hello world" and "<new>" not in tok.get_added_vocab()
    tok.decode(tok(TEXT)["input_ids"])


def _precompiled(data: dict) -> dict:
    return next(n for n in data["normalizer"]["normalizers"] if n["type"] == "Precompiled")


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["model"]["vocab"].__setitem__(5, ["piece"]), "model.vocab[5]: expected a list of 2, got 1 items"),
    (lambda d: d["model"]["vocab"].__setitem__(5, ["piece", None]), "model.vocab[5][1]: expected a number, got None"),
    (lambda d: d["model"].__setitem__("unk_id", 10**6), "model.unk_id: expected the id of a piece"),
    (lambda d: _precompiled(d).__setitem__("precompiled_charsmap", "no base64!"),
     "normalizer.precompiled_charsmap: expected base64 text"),
    (lambda d: _precompiled(d).__setitem__("precompiled_charsmap", "AAAAAAAA"),
     "normalizer.precompiled_charsmap: trie size 0 does not fit the 6-byte charsmap"),
], ids=["pair", "score", "unk-id", "base64", "charsmap"])
def test_a_bad_tokenizer_json_read_alone_names_the_field(tmp_path, edit, field):
    from albert_bridge.tokenization import AlbertTokenizerFast

    root = tokenizer_dir(tmp_path / "tok", layout="json")
    data = json.loads((root / "tokenizer.json").read_text())
    edit(data)
    (root / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(BridgeError) as info:
        AlbertTokenizerFast.from_pretrained(root)
    assert info.value.one_line().startswith(f"{root / 'tokenizer.json'}: {field}"), info.value


def test_unknown_tokenizer_config_keys_are_kept_out_of_the_way(tmp_path):
    from albert_bridge.tokenization import AlbertTokenizer

    root = tokenizer_dir(tmp_path / "tok")
    _edit_json(root / "tokenizer_config.json", some_future_key=[1, {"x": None}], auto_map={"a": "b"})
    assert AlbertTokenizer.from_pretrained(root)(TEXT)["input_ids"][0] == 2


def test_a_corrupt_spiece_model_is_exit_3_from_the_cli(tmp_path, capsys):
    """parity --text reads the tokenizer beside the checkpoint: SentencePiece's own refusal (a RuntimeError that
    used to escape) is a one-line error naming the file. inspect describes the rest and exits 3."""
    from tests.helpers import cli, one_line_error

    from albert_bridge.tokenization.spm_model import SpmModel

    root = model_dir(tmp_path / "model")
    model = SpmModel.read(root / "spiece.model")
    model.pieces[10], model.serialized = model.pieces[11], b""  # a duplicate piece: well formed, but refused
    (root / "spiece.model").write_bytes(model.serialize())
    code, _, err = cli(capsys, "parity", root, "--backends", "numpy", "--text", "hello")
    assert code == 3
    one_line_error(err, str(root / "spiece.model"), "SentencePiece refuses the model", "is already defined")
    (root / "spiece.model").write_bytes(b"\x0a\x05")  # a piece field cut short: our own reader refuses it
    code, out, _ = cli(capsys, "inspect", root)  # the checkpoint is described, the tokenizer said unreadable
    assert code == 3 and f"tokenizer   unreadable: {root / 'spiece.model'}: not a SentencePiece model" in out


def test_tokenizer_json_beside_spiece_model_is_not_read_and_inspect_says_so(tmp_path, capsys):
    from albert_bridge.tokenization import AlbertTokenizerFast, describe_tokenizer
    from tests.helpers import cli

    root = model_dir(tmp_path / "model")
    (root / "tokenizer.json").write_text("{not json")  # never read: spiece.model wins
    assert AlbertTokenizerFast.from_pretrained(root)("hello")["input_ids"][0] == 2
    assert describe_tokenizer(root)["not_read"] == {"tokenizer.json": "spiece.model is read instead",
                                                    "added_tokens.json": "tokenizer_config.json's "
                                                                         "added_tokens_decoder is read instead"}
    code, out, _ = cli(capsys, "inspect", root)
    assert code == 0 and "not read: tokenizer.json (spiece.model is read instead)" in out
    (root / "spiece.model").unlink()  # now tokenizer.json is what is read, and checked
    with pytest.raises(BridgeError, match="tokenizer.json: not valid JSON"):
        AlbertTokenizerFast.from_pretrained(root)


def test_classifier_dropout_prob_null_means_hidden_dropout_prob_in_every_head(tmp_path):
    """transformers' token-classification rule; its other heads fail on None (the SOP head of AlbertForPreTraining
    with TypeError: '<' not supported between 'NoneType' and 'int'), ours use it everywhere."""
    torch = pytest.importorskip("torch")
    from albert_bridge.models.albert_torch import AlbertForPreTraining

    root = model_dir(tmp_path / "model", with_tokenizer=False)
    _edit_json(root / "config.json", classifier_dropout_prob=None, hidden_dropout_prob=0.25)
    model = AlbertForPreTraining.from_pretrained(root)
    assert model.sop_classifier.dropout.p == 0.25
    model.eval()(torch.tensor(IDS))


@pytest.mark.parametrize("pruned, message", [
    ({"0": "x"}, r"pruned_heads must map layer indices in \[-4, 4\) to lists of head indices below 4"),
    ({"9": [1]}, r"pruned_heads must map layer indices in \[-4, 4\)"),
    ({"0": [1]}, "a config with pruned_heads cannot be loaded"),
])
def test_pruned_heads_are_checked_and_a_pruned_config_is_refused(tmp_path, pruned, message):
    pytest.importorskip("torch")
    from albert_bridge.models.albert_torch import AlbertForPreTraining

    root = model_dir(tmp_path / "model", with_tokenizer=False)
    _edit_json(root / "config.json", pruned_heads=pruned)
    with pytest.raises(BridgeError, match=message) as info:
        AlbertForPreTraining.from_pretrained(root)
    assert str(root) in str(info.value)


NUMBER_FIELDS = [name for name, default in CONFIG_DEFAULTS.items() if not isinstance(default, str)] + [
    "num_labels", "pruned_heads", "chunk_size_feed_forward"]
WRONG_NUMBERS = [None, 10**20, "1", [1]]


# Flax compiles each model that loads: the overflow it alone had
@pytest.mark.parametrize("backend, values", [pytest.param(torch_model, WRONG_NUMBERS, id="torch"),
                                             pytest.param(flax_model, [10**20], id="flax",
                                                          marks=[pytest.mark.flax, pytest.mark.slow])])
def test_every_number_field_of_config_json_none_or_of_a_wrong_type(tmp_path, backend, values):
    """Each numeric config field set to each of `values` (the random mutations above reach few of them): a model is
    loaded and called, or a BridgeError names the checkpoint. Found: classifier_dropout_prob null (torch, TF),
    pruned_heads holding no head lists (torch), layer_norm_eps 10**20 (Flax's jit)."""
    pytest.importorskip({torch_model: "torch", flax_model: "flax"}[backend])
    root = model_dir(tmp_path / "model", with_tokenizer=False)
    original = json.loads((root / "config.json").read_text())
    escaped = []
    for field in NUMBER_FIELDS:
        for value in values:
            (root / "config.json").write_text(json.dumps({**original, field: value}))
            _, problem = hostile_call(lambda: backend(root), [str(root)], CASE_SECONDS)
            if problem:
                escaped.append(f"{field}={value!r}: {problem}")
    print(f"config.json fields ({backend.__name__}): {len(NUMBER_FIELDS) * len(values)} cases, "
          f"{len(escaped)} escaped")
    assert not escaped, "\n".join(escaped)
