"""The tokenizer's files, by their name in a Hugging Face directory: one list for every reader and writer.

Conversion carries them along (`formats.hf_layout.tokenizer_assets`), a Hub id fetches them (`sources`), and the
tokenizers load them (`tokenization.files`). Standard library only, so any layer may import it.
"""

from __future__ import annotations

import os
import pathlib

from .errors import BridgeError

# File names, as transformers writes them.
VOCAB_FILE = "spiece.model"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"  # older tokenizers keep their added tokens only here
# BERT's WordPiece vocabulary, one token a line: what the Chinese ALBERT releases (Google's albert_*_google_zh,
# brightmart's albert_zh) ship instead of a SentencePiece model, to be read by BertTokenizer.
WORDPIECE_VOCAB_FILE = "vocab.txt"
# Chat templates (transformers >= 4.50 saves them as Jinja files; older ones wrote chat_template.json).
CHAT_TEMPLATE_FILE = "chat_template.jinja"
CHAT_TEMPLATE_JSON_FILE = "chat_template.json"
ADDITIONAL_CHAT_TEMPLATES_DIR = "additional_chat_templates"  # <name>.jinja for each named template

TOKENIZER_FILES = (VOCAB_FILE, TOKENIZER_FILE, CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, ADDED_TOKENS_FILE,
                   WORDPIECE_VOCAB_FILE, CHAT_TEMPLATE_FILE, CHAT_TEMPLATE_JSON_FILE)
# As Hub file patterns (fnmatch): a lone *.model is the SentencePiece model (the TF1 release's 30k-clean.model).
TOKENIZER_PATTERNS = (*TOKENIZER_FILES, "*.model", f"{ADDITIONAL_CHAT_TEMPLATES_DIR}/*.jinja")


def find_tokenizer_files(directory: str | os.PathLike) -> dict[str, pathlib.Path]:
    """Which of spiece.model, tokenizer.json, tokenizer_config.json, special_tokens_map.json, added_tokens.json,
    vocab.txt exist.

    The SentencePiece model is `spiece.model`, else the only `*.model` file (the original TF1 release
    calls it `30k-clean.model`); several candidate `*.model` files without a `spiece.model` is an error.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise BridgeError("not a directory", file=directory)
    found: dict[str, pathlib.Path] = {}
    spiece = directory / VOCAB_FILE
    if spiece.is_file():
        found[VOCAB_FILE] = spiece
    else:
        models = sorted(p for p in directory.glob("*.model") if p.is_file())
        if len(models) > 1:
            names = ", ".join(p.name for p in models)
            raise BridgeError(f"several SentencePiece model candidates ({names}); name one of them", file=directory)
        if models:
            found[VOCAB_FILE] = models[0]
    for name in TOKENIZER_FILES[1:]:
        if (directory / name).is_file():
            found[name] = directory / name
    return found
