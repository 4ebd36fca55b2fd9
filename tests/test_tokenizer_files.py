"""One list of tokenizer files (albert_bridge.tokenizer_files) feeds conversion, Hub fetches and tokenizer loading:
an older tokenizer whose added tokens live only in added_tokens.json keeps them through a conversion and a Hub id."""

from __future__ import annotations

import json
import shutil
from fnmatch import fnmatch
from pathlib import Path

import pytest

from albert_bridge.convert import convert
from albert_bridge.formats import FORMATS
from albert_bridge.formats.hf_layout import tokenizer_assets
from albert_bridge.tokenizer_files import ADDED_TOKENS_FILE, TOKENIZER_FILES, TOKENIZER_PATTERNS
from tests.hub_server import HubServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "tiny-albert"
SPIECE = ROOT / "fixtures" / "tokenizer" / "spiece.model"
ADDED = "<new_token>"
TEXT = f"hello {ADDED} world"

pytest.importorskip("sentencepiece")


@pytest.fixture
def old_tokenizer_checkpoint(tmp_path) -> tuple[Path, int]:
    """A safetensors checkpoint beside spiece.model and an added_tokens.json (no tokenizer_config.json, no
    tokenizer.json): the only record of the added token. Returns the directory and the token's id."""
    from albert_bridge import AlbertTokenizer

    src = tmp_path / "src"
    convert(FIXTURE, src, ["safetensors"])
    shutil.copyfile(SPIECE, src / "spiece.model")
    token_id = len(AlbertTokenizer.from_pretrained(src))
    (src / ADDED_TOKENS_FILE).write_text(json.dumps({ADDED: token_id}))
    return src, token_id


def assert_added_token_intact(source, token_id: int) -> None:
    from albert_bridge import AlbertTokenizer, AlbertTokenizerFast

    classes = [AlbertTokenizer]
    try:
        import tokenizers  # noqa: F401 - the fast tokenizer's backend
    except ImportError:
        pass
    else:
        classes.append(AlbertTokenizerFast)
    for cls in classes:
        tokenizer = cls.from_pretrained(source)
        assert tokenizer.convert_tokens_to_ids(ADDED) == token_id, (cls.__name__, source)
        assert ADDED in tokenizer.tokenize(TEXT), (cls.__name__, source)
        assert token_id in tokenizer.encode(TEXT), (cls.__name__, source)


def test_one_list_feeds_every_reader():
    assert ADDED_TOKENS_FILE in TOKENIZER_FILES and set(TOKENIZER_FILES) <= set(TOKENIZER_PATTERNS)
    from albert_bridge.sources import model_patterns

    for fmt in FORMATS.values():  # what a Hub id fetches for a checkpoint includes every tokenizer file
        patterns = model_patterns(fmt)
        assert all(any(fnmatch(name, p) for p in patterns) for name in TOKENIZER_FILES), fmt.name


def test_added_tokens_json_travels_with_a_conversion(old_tokenizer_checkpoint, tmp_path):
    src, token_id = old_tokenizer_checkpoint
    assert_added_token_intact(src, token_id)
    assert ADDED_TOKENS_FILE in tokenizer_assets(src)
    for formats in (["safetensors"], ["tf", "flax"]):
        out = tmp_path / "-".join(formats)
        convert(src, out, formats)
        assert (out / ADDED_TOKENS_FILE).read_bytes() == (src / ADDED_TOKENS_FILE).read_bytes()
        assert_added_token_intact(out, token_id)


@pytest.mark.hub
def test_added_tokens_json_travels_with_a_hub_fetch(old_tokenizer_checkpoint, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    src, token_id = old_tokenizer_checkpoint
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE", "HF_TOKEN_PATH"):
            monkeypatch.delenv(name, raising=False)
        hub.add_repo("org/old-tokenizer", {p.name: p.read_bytes() for p in src.iterdir() if p.is_file()})
        assert_added_token_intact("org/old-tokenizer", token_id)  # the tokenizer's files alone
        out = tmp_path / "from-hub"
        convert("org/old-tokenizer", out, ["safetensors"])  # a checkpoint's files, its tokenizer's with them
    assert (out / ADDED_TOKENS_FILE).read_bytes() == (src / ADDED_TOKENS_FILE).read_bytes()
    assert_added_token_intact(out, token_id)
