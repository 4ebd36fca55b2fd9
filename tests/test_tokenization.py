"""AlbertTokenizer / AlbertTokenizerFast against transformers 4.57 (the reference), on the committed
fixtures/tokenizer/spiece.model (trained like ALBERT's 30k-clean.model, see generate_spiece.py)."""

from __future__ import annotations

import json
import pickle
import random
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from albert_bridge.errors import BridgeError
from albert_bridge.tokenization import (
    AlbertTokenizer,
    AlbertTokenizerFast,
    BatchEncoding,
    describe_tokenizer,
    find_tokenizer_files,
)
from albert_bridge.tokenization.spm_model import CONTROL, NORMAL, UNKNOWN, USER_DEFINED, SpmModel

ROOT = Path(__file__).resolve().parent.parent
SPIECE = ROOT / "fixtures" / "tokenizer" / "spiece.model"
TRAINING_TEXT = (ROOT / "fixtures" / "tokenizer" / "corpus.txt").read_text(encoding="utf-8").splitlines()

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

# Hand-picked inputs: every preprocessing branch, the digit-comma rule, whitespace, special tokens.
CORPUS = [
    "Hello, world!",
    "The Quick Brown Fox jumps over 13 lazy dogs.",
    "He paid 1,000, then 2,500,000 and 3,5, or 9,9 -- and 1,000,",
    "Numbers: 1,2,3,4,5, 10,20, 3,14159; 0,5 kg, 12,5%",
    "(1,000,) [2,000,] «3,000,» 4,",
    "``Quoted,'' she said. ''Again'' and ``again``",
    "'single' quotes and a lone ` backtick '",
    "Café, naïve, résumé, façade, crème brûlée, São Paulo, Zürich, Dvořák, Ångström",
    "ÀÉÎÕÜ àéîõü ÇçÑñ ß ẞ İstanbul",
    "e\u0301 vs é, a\u0308 vs ä, combining\u0301\u0302 marks",
    "   leading and trailing spaces   ",
    "multiple     spaces\tand\ttabs\nand\nnewlines\r\nand \u00a0nbsp \u3000 ideographic space",
    "\t\n \r",
    "",
    " ",
    "a\u200bb zero\u200dwidth \ufeffbom",
    "日本語のテキストと中文文本",
    "한국어 텍스트",
    "emoji 👍 👍🏽 👨\u200d👩\u200d👧 🇺🇸 ☃☃☃",
    "Ｆｕｌｌｗｉｄｔｈ １２３，４５６",
    "ﬁ ﬂ ① ² ½ ™ … ‼",
    "ΟΔΟΣ ΣΟΦΙΑ aΣ Σ",
    "price: £45, €12,90, $1,250 – “curly” ‘quotes’",
    "(parens) \"double\" -dash- end.",
    "[CLS] starts [SEP] middle [SEP]",
    "hello [MASK] world",
    "hello    [MASK]world [MASK][MASK]",
    "<pad> <unk> <PAD> <UNK> [cls] [Sep] [MASK]",
    "x[MASK]",
    "unknown chars ~ ^ | @ # \x07 \x7f",
    "UPPER lower MiXeD",
    "a" * 300,
    " ".join(["word"] * 200),
    "9,",
    "1,",
    "1, 2, 3, 4, 18, 118,4 (1, 2,)",
    ",",
    "٣,١ arabic-indic digits ٣,",
]


def random_texts(n: int, seed: int) -> list[str]:
    """Random strings over a mixed alphabet: ASCII (incl. controls), digits and commas, whitespace variants,
    accents (composed and combining), CJK, emoji sequences, compatibility characters and special tokens."""
    rng = random.Random(seed)
    alphabet = [chr(i) for i in range(128)] + list("abcdefghij  ,,,0123456789") * 4 + [
        "\u00a0", "\u3000", "\u2028", "\u0085", "\u200b", "\u200d", "\ufe0f", "\ufeff", "é", "e\u0301",
        "\u0301", "¨", "ß", "İ", "Σ", "ς", "ﬁ", "①", "²", "ｶ", "ﾞ", "가", "日本", "👍", "👍🏽", "👨\u200d👩",
        "🇺🇸", "ǅ", "Å", "K", "ﷺ", "…", "ⅷ", "–", "£", "€", "((", "``", "''", "[MASK]", " [MASK] ", "<pad>",
        "<PAD>", "[CLS]", "[SEP]", "𝚺", "٣", "١,", "1,", "9,9", "1,000,",
    ]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(n)]


RANDOM = random_texts(2000, seed=0)
PAIRS = [(CORPUS[i], CORPUS[-1 - i]) for i in range(len(CORPUS))] + list(zip(TRAINING_TEXT[:20], TRAINING_TEXT[20:40]))


@pytest.fixture(scope="module")
def hf_slow():
    return transformers.AlbertTokenizer(str(SPIECE))


@pytest.fixture(scope="module")
def hf_fast():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.AlbertTokenizerFast(vocab_file=str(SPIECE))


@pytest.fixture(scope="module")
def slow():
    return AlbertTokenizer(SPIECE)


@pytest.fixture(scope="module")
def fast():
    return AlbertTokenizerFast(SPIECE)


@pytest.fixture(scope="module", params=["slow", "fast"])
def ours(request, slow, fast):
    return {"slow": slow, "fast": fast}[request.param]


def as_lists(enc) -> dict:
    return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in dict(enc).items()}


# ----------------------------------------------------------------------------- the fixture model
def test_fixture_model_is_laid_out_like_albert():
    model = SpmModel.parse(SPIECE.read_bytes())
    assert model.pieces[:5] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    assert model.types[:5] == [CONTROL, UNKNOWN, CONTROL, CONTROL, CONTROL]
    assert model.pieces[5:13] == ["(", ")", '"', "-", ".", "–", "£", "€"]
    assert set(model.types[5:13]) == {USER_DEFINED} and set(model.types[13:]) == {NORMAL}
    assert (model.pad_id, model.unk_id, model.bos_id, model.eos_id) == (0, 1, -1, -1)
    assert model.normalizer_name == "nmt_nfkc" and model.precompiled_charsmap
    # the digit-comma rule needs pieces like '▁1,' to exist, or the tests would not exercise it
    assert any(p.endswith(",") and p[-2:-1].isdigit() for p in model.pieces)


# ----------------------------------------------------------------------------- ids vs transformers
@pytest.mark.parametrize("texts", [CORPUS, TRAINING_TEXT, RANDOM], ids=["corpus", "training-text", "random"])
def test_tokens_and_ids_match_transformers_slow(ours, hf_slow, texts):
    for text in texts:
        assert ours.tokenize(text) == hf_slow.tokenize(text), text
        assert ours.encode(text) == hf_slow.encode(text), text


def test_digit_comma_rule_is_exercised(slow):
    text = "1, 2, 3, 4, 118,4"
    pieces = slow.sp_model.encode(slow.preprocess_text(text), out_type=str)
    assert "▁1," in pieces and "18," in pieces  # raw SentencePiece output has pieces the rule splits
    assert slow.tokenize(text) == ["▁1", ",", "▁2", ",", "▁3", ",", "▁4", ",", "▁1", "1", "8", ",", "4"]


@pytest.mark.parametrize(
    "flags",
    [
        {"do_lower_case": False},
        {"keep_accents": True},
        {"remove_space": False},
        {"do_lower_case": False, "keep_accents": True, "remove_space": False},
    ],
    ids=["cased", "keep-accents", "keep-space", "all-off"],
)
def test_preprocessing_flags_match_transformers(flags):
    ref = transformers.AlbertTokenizer(str(SPIECE), **flags)
    slow, fast = AlbertTokenizer(SPIECE, **flags), AlbertTokenizerFast(SPIECE, **flags)
    for text in CORPUS + RANDOM[:500]:
        expected = ref.encode(text)
        assert slow.encode(text) == expected, text
        assert fast.encode(text) == expected, text
        assert fast.tokenize(text) == ref.tokenize(text), text


def test_fast_equals_slow_on_random_batches(slow, fast):
    texts = random_texts(3000, seed=1)
    assert fast(texts)["input_ids"] == slow(texts)["input_ids"]
    pairs = list(zip(texts[::2], texts[1::2]))
    kwargs = {"padding": True, "truncation": "longest_first", "max_length": 24, "return_special_tokens_mask": True}
    assert as_lists(fast(pairs, **kwargs)) == as_lists(slow(pairs, **kwargs))


def test_batch_pairs_padding_match_transformers(ours, hf_slow):
    for kwargs in (
        {"padding": True},
        {"padding": "longest", "return_special_tokens_mask": True, "return_length": True},
        {"padding": "max_length", "max_length": 200, "truncation": True},
        {"padding": True, "pad_to_multiple_of": 8, "return_attention_mask": False},
        {"padding": True, "padding_side": "left", "return_token_type_ids": False},
        {"padding": False, "return_length": True},
    ):
        assert as_lists(ours(PAIRS, **kwargs)) == as_lists(hf_slow(PAIRS, **kwargs)), kwargs
        first, second = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
        assert as_lists(ours(first, second, **kwargs)) == as_lists(hf_slow(first, second, **kwargs)), kwargs
        assert as_lists(ours(first, **kwargs)) == as_lists(hf_slow(first, **kwargs)), kwargs
        assert as_lists(ours(first, add_special_tokens=False, **kwargs)) == as_lists(
            hf_slow(first, add_special_tokens=False, **kwargs)
        ), kwargs
    for text, pair in PAIRS[:10]:
        assert as_lists(ours(text, pair, return_length=True)) == as_lists(hf_slow(text, pair, return_length=True))
        assert as_lists(ours(text, padding="max_length", max_length=64)) == as_lists(
            hf_slow(text, padding="max_length", max_length=64)
        )


def test_prepare_for_model_and_pad_match_transformers(ours, hf_slow):
    a = hf_slow.encode(TRAINING_TEXT[0], add_special_tokens=False)
    b = hf_slow.encode(TRAINING_TEXT[1], add_special_tokens=False)
    for kwargs in (
        {},
        {"truncation": "only_second", "max_length": 20, "padding": "max_length"},
        {"truncation": True, "max_length": 9, "return_special_tokens_mask": True, "return_length": True},
        {"add_special_tokens": False, "return_token_type_ids": False},
        {"add_special_tokens": False, "return_special_tokens_mask": True},
    ):
        assert as_lists(ours.prepare_for_model(a, b, **kwargs)) == as_lists(hf_slow.prepare_for_model(a, b, **kwargs))
    rows = [dict(hf_slow(t, return_special_tokens_mask=True)) for t in TRAINING_TEXT[:4]]
    for kwargs in ({}, {"padding": "max_length", "max_length": 40}, {"pad_to_multiple_of": 16, "padding_side": "left"}):
        assert as_lists(ours.pad(rows, **kwargs)) == as_lists(hf_slow.pad(rows, **kwargs)), kwargs
    assert as_lists(ours.pad(rows[0], padding="max_length", max_length=50)) == as_lists(
        hf_slow.pad(rows[0], padding="max_length", max_length=50)
    )
    np_rows = ours(TRAINING_TEXT[:3], padding=True, return_tensors="np")
    assert as_lists(ours.pad(np_rows, padding="max_length", max_length=64)) == as_lists(
        hf_slow.pad(dict(np_rows), padding="max_length", max_length=64)
    )


@pytest.mark.parametrize("truncation", [True, "longest_first", "only_first", "only_second", False, None])
@pytest.mark.parametrize("max_length", [3, 9, 16])
def test_truncation_strategies_match_transformers(ours, hf_slow, truncation, max_length):
    batch = PAIRS[:12]
    for side in ("right", "left"):
        ours.truncation_side = hf_slow.truncation_side = side
        try:
            for padding in (False, "max_length"):
                kwargs = {"truncation": truncation, "max_length": max_length, "padding": padding,
                              "return_special_tokens_mask": True}
                assert as_lists(ours(batch, **kwargs)) == as_lists(hf_slow(batch, **kwargs)), kwargs
                if truncation != "only_second":  # transformers refuses only_second on single sequences
                    singles = [p[0] for p in batch]
                    assert as_lists(ours(singles, **kwargs)) == as_lists(hf_slow(singles, **kwargs)), kwargs
        finally:
            ours.truncation_side = hf_slow.truncation_side = "right"


def test_model_max_length_drives_default_truncation(hf_slow):
    ref = transformers.AlbertTokenizer(str(SPIECE), model_max_length=12)
    for cls in (AlbertTokenizer, AlbertTokenizerFast):
        tok = cls(SPIECE, model_max_length=12)
        for kwargs in ({"truncation": True}, {"padding": "max_length"}, {"padding": "max_length", "truncation": True}):
            assert as_lists(tok(TRAINING_TEXT[:8], **kwargs)) == as_lists(ref(TRAINING_TEXT[:8], **kwargs))


# ----------------------------------------------------------------------------- special tokens, decode
def test_special_token_helpers_match_transformers(ours, hf_slow):
    a, b = hf_slow.encode("hello world", add_special_tokens=False), hf_slow.encode("x y z", add_special_tokens=False)
    for args in ((a,), (a, b)):
        assert ours.build_inputs_with_special_tokens(*args) == hf_slow.build_inputs_with_special_tokens(*args)
        assert ours.get_special_tokens_mask(*args) == hf_slow.get_special_tokens_mask(*args)
        assert ours.create_token_type_ids_from_sequences(*args) == hf_slow.create_token_type_ids_from_sequences(*args)
    with_specials = hf_slow.encode("a [MASK] b ☃ <pad>", "c")
    assert ours.get_special_tokens_mask(with_specials, already_has_special_tokens=True) == (
        hf_slow.get_special_tokens_mask(with_specials, already_has_special_tokens=True)
    )
    for attr in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token", "bos_token", "eos_token"):
        assert getattr(ours, attr) == str(getattr(hf_slow, attr))
        assert getattr(ours, attr + "_id") == getattr(hf_slow, attr + "_id")
    assert ours.all_special_tokens == hf_slow.all_special_tokens
    assert ours.all_special_ids == hf_slow.all_special_ids
    assert (ours.vocab_size, len(ours)) == (hf_slow.vocab_size, len(hf_slow))
    assert ours.get_vocab() == hf_slow.get_vocab()
    assert (ours.model_max_length, ours.padding_side) == (hf_slow.model_max_length, hf_slow.padding_side)
    tokens = hf_slow.tokenize(CORPUS[2])
    assert ours.convert_tokens_to_ids(tokens) == hf_slow.convert_tokens_to_ids(tokens)
    assert ours.convert_tokens_to_ids("▁hello") == hf_slow.convert_tokens_to_ids("▁hello")
    assert ours.convert_tokens_to_ids("no-such-piece") == hf_slow.convert_tokens_to_ids("no-such-piece")
    ids = hf_slow.encode(CORPUS[5])
    assert ours.convert_ids_to_tokens(ids) == hf_slow.convert_ids_to_tokens(ids)
    assert ours.convert_ids_to_tokens(ids, skip_special_tokens=True) == hf_slow.convert_ids_to_tokens(
        ids, skip_special_tokens=True
    )
    assert ours.convert_ids_to_tokens(7) == hf_slow.convert_ids_to_tokens(7)


def test_decode_matches_transformers(ours, hf_slow):
    batches = [hf_slow(CORPUS)["input_ids"], hf_slow(PAIRS[:10])["input_ids"]]
    for ids in batches:
        for kwargs in ({}, {"skip_special_tokens": True}, {"clean_up_tokenization_spaces": True}):
            assert ours.batch_decode(ids, **kwargs) == hf_slow.batch_decode(ids, **kwargs), kwargs
    assert ours.decode(5) == hf_slow.decode(5)
    tokens = hf_slow.tokenize(CORPUS[7]) + ["[SEP]", "▁x"]
    assert ours.convert_tokens_to_string(tokens) == hf_slow.convert_tokens_to_string(tokens)


def test_fast_decode_equals_sentencepiece_decode(slow, fast):
    rng = random.Random(2)
    pieces = slow.spm_model.pieces
    extra = ["zzz", "▁zzz", "▁▁a", "<unk>", "▁", "", "☃"]
    for _ in range(3000):
        ids = [rng.randrange(len(pieces)) for _ in range(rng.randint(0, 12))]
        assert fast.decode(ids) == slow.decode(ids), ids
        assert fast.decode(ids, skip_special_tokens=True) == slow.decode(ids, skip_special_tokens=True), ids
        toks = [rng.choice(extra) if rng.random() < 0.2 else pieces[i] for i in ids]
        assert fast._decode_pieces(toks) == slow._decode_pieces(toks), toks


# ----------------------------------------------------------------------------- tensors
def test_return_tensors_np_and_pt_match_transformers(ours, hf_slow):
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    batch = TRAINING_TEXT[:5]
    for kind in ("np", "pt"):
        mine, ref = ours(batch, padding=True, return_tensors=kind), hf_slow(batch, padding=True, return_tensors=kind)
        assert isinstance(mine, BatchEncoding) and set(mine) == set(ref)
        for key in ref:
            assert type(mine[key]) is type(ref[key]) and mine[key].dtype == ref[key].dtype
            assert mine[key].tolist() == ref[key].tolist()
        single = ours("hello world", return_tensors=kind)
        assert tuple(single.input_ids.shape) == tuple(hf_slow("hello world", return_tensors=kind)["input_ids"].shape)
    assert ours.encode("hello", return_tensors="pt").tolist() == hf_slow.encode("hello", return_tensors="pt").tolist()
    assert isinstance(ours(batch, padding=True, return_tensors="np").input_ids, np.ndarray)
    assert ours(batch, padding=True, return_tensors="pt").to("cpu").input_ids.device == torch.device("cpu")
    with pytest.raises(BridgeError, match="padding"):
        ours(batch, return_tensors="np")
    assert ours.decode(ours("hello world", return_tensors="pt")["input_ids"][0]) == "[CLS] hello world[SEP]"


@pytest.mark.parametrize("kind", [pytest.param("tf", marks=pytest.mark.tf), pytest.param("jax", marks=pytest.mark.flax)])
def test_return_tensors_tf_and_jax(fast, kind):
    pytest.importorskip({"tf": "tensorflow", "jax": "jax"}[kind])
    enc = fast(TRAINING_TEXT[:3], padding=True, return_tensors=kind)
    expected = fast(TRAINING_TEXT[:3], padding=True)
    for key, value in expected.items():
        got = enc[key].numpy() if kind == "tf" else enc[key]
        assert got.tolist() == value and str(got.dtype) == "int32"  # Python ints -> int32, as transformers
    assert fast.batch_decode(enc["input_ids"]) == fast.batch_decode(expected["input_ids"])


def test_batch_encoding_behaves_like_a_dict(fast):
    enc = fast("hello world")
    assert enc.input_ids == enc["input_ids"] and set(enc) == {"input_ids", "token_type_ids", "attention_mask"}
    with pytest.raises(AttributeError):
        _ = enc.no_such_key
    assert pickle.loads(pickle.dumps(enc)) == enc


# ----------------------------------------------------------------------------- save / load
def test_transformers_loads_our_files(tmp_path, fast, slow, hf_slow, hf_fast):
    fast.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"
    }
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "AlbertTokenizer" and config["do_lower_case"] is True
    ref_slow = transformers.AlbertTokenizer.from_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_fast = transformers.AlbertTokenizerFast.from_pretrained(tmp_path)
    texts = CORPUS + TRAINING_TEXT + RANDOM[:1000]
    hf_fast_differs = []
    for text in texts:
        expected = fast.encode(text)
        assert ref_slow.encode(text) == expected, text
        assert slow.encode(text) == expected, text
        if hf_fast.encode(text) == hf_slow.encode(text):
            assert ref_fast.encode(text) == expected, text
        else:
            hf_fast_differs.append(text)
    # Where transformers' own fast tokenizer disagrees with its slow one, ours still gives the slow ids:
    # a trailing '▁' piece (trailing space, or a character SentencePiece normalizes away), '▁' prepended
    # after user-defined symbols like '(', special tokens found only after lowercasing ('<PAD>'), and the
    # digit-comma rule, which transformers only approximates with a score penalty ('18,').
    known = ["a ", "a\u200b", "a (b) c", "<PAD> x", "1, 2, 3, 4, 18,"]
    assert all(hf_fast.encode(t) != hf_slow.encode(t) for t in known)
    assert all(fast.encode(t) == hf_slow.encode(t) for t in known)
    assert len(hf_fast_differs) > 10
    pairs = [("The river is high.", "Boats stay in the harbour."), ("Bread", "and honey")]
    assert as_lists(ref_fast(pairs, padding=True)) == as_lists(fast(pairs, padding=True))


def test_exported_normalizer_equals_preprocessing_plus_sentencepiece(slow, fast):
    """tokenizer.json's normalizer = transformers' preprocess_text + SentencePiece's normalization, checked on
    ASCII (where tokenizers' Precompiled is exact); our fast tokenizer does not rely on it for other text."""
    normalizer = fast.backend_tokenizer.normalizer
    texts = [t for t in CORPUS + TRAINING_TEXT + RANDOM if t.isascii()]
    texts += ["tab\there\x1cand\x1fthere", "  both ends  ", "a\x00b\x07c"]
    assert len(texts) > 200
    for text in texts:
        expected = slow.sp_model.normalize(slow.preprocess_text(text)).replace("\u2581", " ").removeprefix(" ")
        assert normalizer.normalize_str(text) == expected, text
    # Python's whitespace and combining-mark sets, not Rust's (which lack \x1c-\x1f, and strip all marks)
    assert normalizer.normalize_str("a\x1c\u3000\u2028b") == "a b"
    assert normalizer.normalize_str("Ça\u0301 e\u0903") == "ca e\u0903"  # U+0903 is a mark, not combining


@pytest.mark.parametrize("cls", [AlbertTokenizer, AlbertTokenizerFast])
def test_save_load_round_trip(tmp_path, cls):
    tok = cls(SPIECE, do_lower_case=False, keep_accents=True, model_max_length=77, padding_side="left")
    tok.save_pretrained(tmp_path / "ours")
    for loaded in (cls.from_pretrained(tmp_path / "ours"), AlbertTokenizer.from_pretrained(tmp_path / "ours"),
                   AlbertTokenizerFast.from_pretrained(tmp_path / "ours")):
        assert (loaded.do_lower_case, loaded.keep_accents, loaded.remove_space) == (False, True, True)
        assert (loaded.model_max_length, loaded.padding_side) == (77, "left")
        assert loaded.added_tokens_decoder == tok.added_tokens_decoder
        for text in CORPUS:
            assert loaded.encode(text) == tok.encode(text), text
    assert (tmp_path / "ours" / "spiece.model").read_bytes() == SPIECE.read_bytes()
    ref = transformers.AlbertTokenizer.from_pretrained(tmp_path / "ours")
    assert (ref.do_lower_case, ref.keep_accents, ref.model_max_length, ref.padding_side) == (False, True, 77, "left")


def test_load_sources(tmp_path, slow, hf_slow, hf_fast):
    texts = CORPUS + RANDOM[:300]
    # a bare .model file, the TF1 release name, and a directory written by transformers' fast tokenizer
    (tmp_path / "tf1").mkdir()
    shutil.copy(SPIECE, tmp_path / "tf1" / "30k-clean.model")
    hf_fast.save_pretrained(tmp_path / "hf")
    # tokenizer.json alone, as transformers wrote it and as we write it: the SentencePiece model is rebuilt
    (tmp_path / "hf-json").mkdir()
    shutil.copy(tmp_path / "hf" / "tokenizer.json", tmp_path / "hf-json" / "tokenizer.json")
    AlbertTokenizerFast(SPIECE).save_pretrained(tmp_path / "ours-json")
    (tmp_path / "ours-json" / "spiece.model").unlink()
    sources = [SPIECE, tmp_path / "tf1", tmp_path / "hf", tmp_path / "hf-json", tmp_path / "ours-json"]
    # transformers' fast tokenizer saves SentencePiece's user-defined pieces ('(' ...) as added tokens, which
    # transformers' slow tokenizer then splits off first: reading that directory, both follow it.
    from_hf_dir = transformers.AlbertTokenizer.from_pretrained(tmp_path / "hf")
    for source in sources:
        ref = from_hf_dir if source == tmp_path / "hf" else hf_slow
        for cls in (AlbertTokenizer, AlbertTokenizerFast):
            tok = cls.from_pretrained(source)
            assert [tok.encode(t) for t in texts] == [ref.encode(t) for t in texts], (source, cls)
    rebuilt = AlbertTokenizerFast.from_pretrained(tmp_path / "ours-json")
    rebuilt.save_pretrained(tmp_path / "again")  # a spiece.model is synthesized for slow readers
    ref = transformers.AlbertTokenizer.from_pretrained(tmp_path / "again")
    assert [ref.encode(t) for t in texts] == [hf_slow.encode(t) for t in texts]


@pytest.mark.hub
def test_from_pretrained_offline_names_the_repo(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for cls in (AlbertTokenizer, AlbertTokenizerFast):
        with pytest.raises(BridgeError, match="albert/albert-base-v2: neither a local path nor in the Hub cache"):
            cls.from_pretrained("albert/albert-base-v2")
    with pytest.raises(BridgeError, match="no tokenizer here"):
        AlbertTokenizer.from_pretrained(tmp_path)
    assert AlbertTokenizerFast.from_pretrained(SPIECE, local_files_only=True).vocab_size == 1200


def test_pickle_round_trip(slow, fast):
    for tok in (slow, fast):
        clone = pickle.loads(pickle.dumps(tok))
        assert [clone.encode(t) for t in CORPUS] == [tok.encode(t) for t in CORPUS]


# ----------------------------------------------------------------------------- file helpers
def test_find_tokenizer_files(tmp_path):
    assert find_tokenizer_files(tmp_path) == {}
    shutil.copy(SPIECE, tmp_path / "30k-clean.model")
    assert find_tokenizer_files(tmp_path) == {"spiece.model": tmp_path / "30k-clean.model"}
    shutil.copy(SPIECE, tmp_path / "other.model")
    with pytest.raises(BridgeError, match="several"):
        find_tokenizer_files(tmp_path)
    shutil.copy(SPIECE, tmp_path / "spiece.model")
    (tmp_path / "tokenizer_config.json").write_text("{}")
    assert find_tokenizer_files(tmp_path) == {
        "spiece.model": tmp_path / "spiece.model", "tokenizer_config.json": tmp_path / "tokenizer_config.json"
    }


def test_describe_tokenizer_imports_no_framework(tmp_path):
    AlbertTokenizerFast(SPIECE, do_lower_case=False).save_pretrained(tmp_path)
    code = (
        "import sys, json\n"
        "from albert_bridge.tokenization import describe_tokenizer\n"
        f"info = describe_tokenizer({str(tmp_path)!r})\n"
        "heavy = [m for m in ('tokenizers', 'sentencepiece', 'numpy', 'torch', 'tensorflow', 'jax') if m in sys.modules]\n"
        "print(json.dumps({'info': info, 'heavy': heavy}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    out = json.loads(result.stdout)
    assert out["heavy"] == []
    info = out["info"]
    assert info["vocab_size"] == 1200 and info["do_lower_case"] is False and info["keep_accents"] is False
    assert info["special_token_ids"] == {
        "bos_token": 2, "eos_token": 3, "unk_token": 1, "sep_token": 3, "pad_token": 0, "cls_token": 2, "mask_token": 4
    }
    assert set(info["files"]) == {"spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
    (tmp_path / "spiece.model").unlink()
    only_json = describe_tokenizer(tmp_path)
    assert only_json["vocab_size"] == 1200 and only_json["special_token_ids"]["mask_token"] == 4
    assert describe_tokenizer(SPIECE)["do_lower_case"] is True
