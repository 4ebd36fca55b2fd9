"""Chinese ALBERT releases (Google's albert_*_google_zh, brightmart's albert_zh) tokenize with BERT's WordPiece
vocab.txt: carried through every conversion with the files that make transformers' AutoTokenizer (4.57 and 5) read
it as BertTokenizer(vocab.txt); our AlbertTokenizerFast gives BertTokenizer's ids on it; inspect names the kind.
The reference is transformers 4.57's BertTokenizer and BertTokenizerFast on a synthetic vocab.txt shaped like
Google's (tests.helpers.write_wordpiece_vocab)."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from albert_bridge.errors import BridgeError
from albert_bridge.tokenization import AlbertTokenizer, AlbertTokenizerFast, WordPieceTokenizerFast, describe_tokenizer
from fixtures.tf1.generate import ORIGINAL_CONFIG, write_checkpoint
from tests.helpers import cli, one_line_error, write_wordpiece_vocab

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

TEXTS = [
    "我爱北京天安门",
    "ALBERT模型在中文上的表现很好！",             # mixed, upper case, full-width punctuation
    "Héllo WÖRLD, Café naïve résumé",            # accents (stripped with lower-casing)
    "☃ unknown 😀 ñ 里",                          # characters the vocabulary lacks
    "  多  空格\t\n x\x00y\u200b z  ",              # whitespace and control characters
    "[CLS] 在 [MASK]里 [SEP] [mask]",             # special tokens written in the text
    "unaffable goods going, the bert model",     # ## continuations
    "a" * 101 + " ok",                           # a word over BertTokenizer's 100 characters
    "",
]
PAIRS = [("你好，世界", "Hello world!"), ("中文 ALBERT", "模型。")]


@pytest.fixture
def vocab_dir(tmp_path) -> Path:
    write_wordpiece_vocab(tmp_path / "tok" / "vocab.txt")
    return tmp_path / "tok"


def references(vocab: Path) -> list:
    return [transformers.BertTokenizer(str(vocab)), transformers.BertTokenizerFast(str(vocab))]


def assert_tokenizes_like(tokenizers: list, reference) -> None:
    """Every tokenizer gives the reference's ids, token types, masks and decoded text: texts, pairs, a padded batch."""
    for tok in tokenizers:
        name = type(tok).__name__
        for text in TEXTS:
            assert dict(tok(text)) == dict(reference(text)), (name, text)
            ids = reference(text)["input_ids"]
            assert tok.decode(ids) == reference.decode(ids), (name, text)
            assert tok.decode(ids, skip_special_tokens=True) == reference.decode(ids, skip_special_tokens=True)
        for a, b in PAIRS:
            assert dict(tok(a, b)) == dict(reference(a, b)), (name, a, b)
        batch = dict(tok(TEXTS, padding=True, truncation=True, max_length=12))
        assert batch == dict(reference(TEXTS, padding=True, truncation=True, max_length=12)), name


def test_our_fast_tokenizer_gives_bert_tokenizers_ids(vocab_dir):
    ours = AlbertTokenizerFast.from_pretrained(vocab_dir)
    assert isinstance(ours, WordPieceTokenizerFast) and ours.vocab_size == len(ours) == 400
    slow, fast = references(vocab_dir / "vocab.txt")
    assert_tokenizes_like([ours, fast], slow)
    for text in TEXTS:
        assert ours.tokenize(text) == slow.tokenize(text), text
    # what only a fast tokenizer answers, against transformers' fast one
    mine = ours(TEXTS, return_offsets_mapping=True, padding=True)
    theirs = fast(TEXTS, return_offsets_mapping=True, padding=True)
    assert mine["offset_mapping"] == theirs["offset_mapping"]
    assert [mine.word_ids(i) for i in range(len(TEXTS))] == [theirs.word_ids(i) for i in range(len(TEXTS))]
    assert ours.all_special_ids == slow.all_special_ids and ours.mask_token_id == slow.mask_token_id == 6
    assert pickle.loads(pickle.dumps(ours))(TEXTS[1]) == ours(TEXTS[1])


def test_saved_by_us_reads_back_in_transformers_and_here(vocab_dir, tmp_path):
    ours = WordPieceTokenizerFast(vocab_dir / "vocab.txt", model_max_length=64)
    ours.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "vocab.txt").read_bytes() == (vocab_dir / "vocab.txt").read_bytes()
    assert json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())["tokenizer_class"] == "BertTokenizer"
    auto = transformers.AutoTokenizer.from_pretrained(tmp_path / "saved")
    assert type(auto).__name__ == "BertTokenizerFast" and auto.model_max_length == 64
    again = AlbertTokenizerFast.from_pretrained(tmp_path / "saved")
    assert_tokenizes_like([auto, again], references(vocab_dir / "vocab.txt")[0])


@pytest.mark.parametrize("saved_by", ["BertTokenizer", "BertTokenizerFast"])
def test_a_folder_transformers_saved_reads_here(vocab_dir, tmp_path, saved_by):
    """What Chinese ALBERT repos on the Hub hold: BertTokenizer's own save (the fast one adds tokenizer.json, a
    WordPiece model that is then not read: vocab.txt is)."""
    reference = getattr(transformers, saved_by)(str(vocab_dir / "vocab.txt"), model_max_length=77)
    reference.save_pretrained(tmp_path / "saved")
    ours = AlbertTokenizerFast.from_pretrained(tmp_path / "saved")
    assert ours.model_max_length == 77
    assert_tokenizes_like([ours], reference)
    described = describe_tokenizer(tmp_path / "saved")
    assert described["kind"] == "wordpiece" and described["source"] == str(tmp_path / "saved" / "vocab.txt")
    assert ("tokenizer.json" in described["not_read"]) == (saved_by == "BertTokenizerFast")


def test_the_sentencepiece_tokenizer_refuses_a_vocab_txt_in_one_line(vocab_dir):
    for target in (vocab_dir, vocab_dir / "vocab.txt"):
        with pytest.raises(BridgeError) as info:
            AlbertTokenizer.from_pretrained(target)
        message = info.value.one_line()
        assert "vocab.txt" in message and "WordPiece" in message and "AlbertTokenizerFast" in message
        assert "\n" not in message


# ---- conversion: a Chinese TF1 release (folder or archive) carries its vocab.txt ------------------------------------

def zh_release(directory: Path, vocab_size: int | None = 400) -> Path:
    """A TF1 release folder like albert_tiny_google_zh: the checkpoint, albert_config.json and vocab.txt."""
    config = {**ORIGINAL_CONFIG, "vocab_size": vocab_size or ORIGINAL_CONFIG["vocab_size"]}
    write_checkpoint(directory, seed=3, config=config, tokenizer=False, slots=False)
    write_wordpiece_vocab(directory / "vocab.txt")
    return directory


def assert_transformers_reads_it_as_bert(out: Path, vocab: Path) -> None:
    reference = references(vocab)[0]
    auto_fast = transformers.AutoTokenizer.from_pretrained(out)
    auto_slow = transformers.AutoTokenizer.from_pretrained(out, use_fast=False)
    assert (type(auto_fast).__name__, type(auto_slow).__name__) == ("BertTokenizerFast", "BertTokenizer")
    assert auto_fast.model_max_length == ORIGINAL_CONFIG["max_position_embeddings"]
    assert_tokenizes_like([auto_fast, auto_slow, AlbertTokenizerFast.from_pretrained(out)], reference)


@pytest.mark.parametrize("packaging", ["folder", "archive"])
def test_a_chinese_tf1_release_converts_with_its_vocab(tmp_path, capsys, packaging):
    src = zh_release(tmp_path / "albert_tiny_zh")
    vocab = src / "vocab.txt"
    if packaging == "archive":
        with tarfile.open(tmp_path / "albert_tiny_zh.tar.gz", "w:gz") as tar:
            tar.add(src, arcname="albert_tiny_zh")
        src = tmp_path / "albert_tiny_zh.tar.gz"
    code, _, err = cli(capsys, "convert", src, tmp_path / "hf", "--to", "safetensors,pytorch")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "hf").iterdir())
    assert {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"} <= set(names)
    assert "spiece.model" not in names and "tokenizer.json" not in names
    assert (tmp_path / "hf" / "vocab.txt").read_bytes() == vocab.read_bytes()
    assert json.loads((tmp_path / "hf" / "special_tokens_map.json").read_text()) == {
        "cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]", "unk_token": "[UNK]"}
    assert_transformers_reads_it_as_bert(tmp_path / "hf", vocab)

    # back to TF1: the release's layout, vocab.txt under its own name; and from there to HF again
    assert cli(capsys, "convert", tmp_path / "hf", tmp_path / "tf1", "--to", "tf1")[0] == 0
    assert (tmp_path / "tf1" / "vocab.txt").read_bytes() == vocab.read_bytes()
    assert not (tmp_path / "tf1" / "30k-clean.model").exists()
    assert cli(capsys, "convert", tmp_path / "tf1", tmp_path / "hf2", "--to", "safetensors")[0] == 0
    assert_transformers_reads_it_as_bert(tmp_path / "hf2", vocab)


def test_an_hf_folder_keeps_its_own_tokenizer_config(tmp_path, capsys):
    src = zh_release(tmp_path / "zh")
    assert cli(capsys, "convert", src, tmp_path / "hf", "--to", "safetensors")[0] == 0
    config = tmp_path / "hf" / "tokenizer_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "do_lower_case": False}))  # a cased one
    assert cli(capsys, "convert", tmp_path / "hf", tmp_path / "out", "--to", "flax")[0] == 0
    assert json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())["do_lower_case"] is False
    cased = transformers.BertTokenizer(str(src / "vocab.txt"), do_lower_case=False)
    assert_tokenizes_like([transformers.AutoTokenizer.from_pretrained(tmp_path / "out"),
                           AlbertTokenizerFast.from_pretrained(tmp_path / "out")], cased)


@pytest.mark.slow
def test_transformers_5_reads_the_converted_folder_as_bert(tmp_path, capsys):
    """transformers 5 lives in a target directory of its own (as in test_hub), run in a subprocess."""
    target = Path(os.environ.get("ALBERT_TRANSFORMERS5") or Path(sys.prefix) / "transformers5")
    if not (target / "transformers").is_dir():
        pytest.skip(f"no transformers 5 in {target} (pip install --target {target} 'transformers>=5,<6', or set "
                    "ALBERT_TRANSFORMERS5)")
    src = zh_release(tmp_path / "zh")
    assert cli(capsys, "convert", src, tmp_path / "hf", "--to", "safetensors")[0] == 0
    script = ("import json, sys, transformers\n"
              "assert transformers.__version__.startswith('5'), transformers.__version__\n"
              "texts, pairs = json.loads(sys.argv[2])\n"
              "tok = transformers.AutoTokenizer.from_pretrained(sys.argv[1])\n"
              "print(json.dumps([type(tok).__name__, [tok(t)['input_ids'] for t in texts],\n"
              "                  [tok(a, b)['token_type_ids'] for a, b in pairs]]))\n")
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", script, tmp_path / "hf", json.dumps([TEXTS, PAIRS])],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    name, ids, types = json.loads(run.stdout.strip().splitlines()[-1])
    reference = references(src / "vocab.txt")[0]
    assert name.startswith("Bert")
    assert ids == [reference(t)["input_ids"] for t in TEXTS]
    assert types == [reference(a, b)["token_type_ids"] for a, b in PAIRS]


# ---- inspect ------------------------------------------------------------------------------------------------------

def test_inspect_names_the_tokenizer_kind(tmp_path, capsys):
    src = zh_release(tmp_path / "zh", vocab_size=None)  # the model's 99 ids against 400 tokens
    code, out, _ = cli(capsys, "inspect", src, "--json")
    info = json.loads(out)
    assert info["tokenizer_kind"] == info["tokenizer"]["kind"] == "wordpiece"
    assert info["tokenizer"]["vocab_size"] == 400 and info["tokenizer"]["special_token_ids"]["mask_token"] == 6
    assert any("vocabulary (400) differs from the model's vocab_size (99)" in w for w in info["warnings"])
    code, out, _ = cli(capsys, "inspect", src)
    assert "tokenizer   wordpiece (BertTokenizer), vocab 400, do_lower_case=True" in out
    (src / "vocab.txt").unlink()
    code, out, _ = cli(capsys, "inspect", src, "--json")
    assert json.loads(out)["tokenizer_kind"] == "none"
    assert "tokenizer   none" in cli(capsys, "inspect", src)[1]


# ---- a bad vocab.txt: one line naming the file, never a traceback ------------------------------------------------

BAD_VOCABS = {
    "not-utf8": (b"[PAD]\n[UNK]\n\xff\xfe\n", "not UTF-8"),
    "empty": (b"", "empty"),
    "duplicate": ("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n中\n文\n中\n".encode(), "line 8 repeats line 6"),
    "blank-line": (b"[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n[MASK]\n", "line 3 is empty"),
    "no-specials": ("中\n文\n".encode(), "no [UNK], [SEP], [PAD], [CLS], [MASK] line"),
}


@pytest.mark.parametrize("case", BAD_VOCABS)
def test_a_bad_vocab_txt_is_one_line_naming_the_file(tmp_path, capsys, case):
    data, why = BAD_VOCABS[case]
    src = zh_release(tmp_path / "zh")
    vocab = src / "vocab.txt"
    vocab.write_bytes(data)
    code, out, err = cli(capsys, "convert", src, tmp_path / "out", "--to", "safetensors")
    assert code != 0 and not (tmp_path / "out").exists()
    one_line_error(err, str(vocab), why)
    code, out, _ = cli(capsys, "inspect", src)
    assert f"tokenizer   unreadable: {vocab}: " in out and why in out
    with pytest.raises(BridgeError, match=re.escape(why)) as info:
        AlbertTokenizerFast.from_pretrained(src)
    assert str(vocab) in info.value.one_line()


# ---- the Hub: a repo id fetches vocab.txt with the weights, and for the tokenizer alone ---------------------------

@pytest.mark.hub
def test_a_hub_repo_hands_over_its_vocab_txt(online, tmp_path, capsys):
    pytest.importorskip("huggingface_hub")
    src = zh_release(tmp_path / "zh")
    assert cli(capsys, "convert", src, tmp_path / "hf", "--to", "safetensors")[0] == 0
    files = {p.name: p.read_bytes() for p in (tmp_path / "hf").iterdir()}
    online.add_repo("org/albert-zh", {**files, "notes.txt": b"not a checkpoint file\n"})
    code, out, err = cli(capsys, "convert", "org/albert-zh", tmp_path / "out", "--to", "pytorch")
    assert code == 0, err
    assert (tmp_path / "out" / "vocab.txt").read_bytes() == files["vocab.txt"]
    assert json.loads(cli(capsys, "inspect", "org/albert-zh", "--json")[1])["tokenizer_kind"] == "wordpiece"
    ours = AlbertTokenizerFast.from_pretrained("org/albert-zh")
    assert_tokenizes_like([ours], references(src / "vocab.txt")[0])


@pytest.mark.hub
def test_a_pushed_chinese_release_says_which_tokenizer_reads_it(online, tmp_path, capsys):
    pytest.importorskip("huggingface_hub")
    pytest.importorskip("torch")
    src = zh_release(tmp_path / "zh")
    code, out, err = cli(capsys, "push", src, "org/albert-zh", "--formats", "safetensors", "--dry-run", tmp_path / "dry")
    assert code == 0, out + err
    names = sorted(p.name for p in (tmp_path / "dry").iterdir())
    assert {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"} <= set(names), names
    card = (tmp_path / "dry" / "README.md").read_text()
    assert 'AlbertTokenizerFast.from_pretrained("org/albert-zh")' in card and "AlbertTokenizer." not in card
    assert 'AutoTokenizer.from_pretrained("org/albert-zh")' in card


def test_parity_text_is_tokenized_with_the_vocab_txt(tmp_path):
    from albert_bridge.parity import check

    src = zh_release(tmp_path / "zh")
    texts = ["我爱北京天安门", "ALBERT模型在中文上的表现很好！"]
    report = check(src, "numpy", texts=texts, save_outputs_to=tmp_path / "o.npz")
    assert report.runs[0].ok, report.runs[0].error
    ids = np.load(tmp_path / "o.npz")["input/input_ids"]
    expected = references(src / "vocab.txt")[0](texts, padding=True)["input_ids"]
    assert ids.tolist() == expected
