"""BERT's WordPiece `vocab.txt` (the Chinese ALBERT releases' tokenizer): read and checked, and the transformers
files that make `AutoTokenizer` read it as `BertTokenizer(vocab.txt)` does. Standard library only.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

from albert_bridge.errors import BridgeError
from albert_bridge.tokenizer_files import CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE

# BertTokenizer's special tokens and defaults (transformers 4.57 and 5): no bos/eos; uncased, as Google's and
# brightmart's Chinese releases are used.
BERT_SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                       "mask_token": "[MASK]"}
BERT_TOKENIZER_CLASS = "BertTokenizer"
# The tokenizer_config.json keys BertTokenizer reads that AlbertTokenizer has not.
BERT_CONFIG_KEYS = ("tokenize_chinese_chars", "strip_accents")


def read_wordpiece_vocab(path: str | os.PathLike) -> list[str]:
    """The tokens of a vocab.txt, id = line number, split as transformers' `load_vocab` splits it (text mode: CRLF
    ends a line too). Refused in one line naming the file: not UTF-8, empty, an empty or repeated line (transformers
    would give a repeated token its last id, leaving the first unreachable), or one of BERT's special tokens absent
    (transformers would add it past the model's vocabulary)."""
    path = pathlib.Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\n") for line in f]
    except UnicodeDecodeError as exc:
        raise BridgeError(f"not UTF-8 text (byte {exc.start}): a WordPiece vocab.txt holds one token a line",
                          file=path) from None
    except OSError as exc:
        raise BridgeError(f"cannot read: {exc.strerror or exc}", file=path) from None
    if not tokens:
        raise BridgeError("empty: a WordPiece vocab.txt holds one token a line", file=path)
    seen: dict[str, int] = {}
    for number, token in enumerate(tokens, 1):
        if not token.strip():
            raise BridgeError(f"line {number} is empty: a WordPiece vocab.txt holds one token a line", file=path)
        if token in seen:
            raise BridgeError(f"line {number} repeats line {seen[token]} ({token!r}): each token must be on one line "
                              "only", file=path)
        seen[token] = number
    missing = [t for t in BERT_SPECIAL_TOKENS.values() if t not in seen]
    if missing:
        raise BridgeError(f"no {', '.join(missing)} line: not a BERT WordPiece vocabulary", file=path)
    return tokens


def bert_tokenizer_config(*, do_lower_case: bool = True, model_max_length: int | None = None,
                          special_tokens: dict[str, str] | None = None, **settings: Any) -> dict[str, Any]:
    """tokenizer_config.json as transformers' BertTokenizer writes it: `tokenizer_class` makes AutoTokenizer (4.57
    and 5) pick BertTokenizer(Fast) whatever config.json's model_type says."""
    config = {"clean_up_tokenization_spaces": True, "do_basic_tokenize": True, "do_lower_case": do_lower_case,
              "never_split": None, "strip_accents": None, "tokenize_chinese_chars": True,
              "tokenizer_class": BERT_TOKENIZER_CLASS, **(special_tokens or BERT_SPECIAL_TOKENS), **settings}
    if model_max_length is not None:
        config["model_max_length"] = model_max_length
    return dict(sorted(config.items()))


def write_bert_tokenizer_files(directory: pathlib.Path, model_max_length: int | None = None) -> list[pathlib.Path]:
    """tokenizer_config.json and special_tokens_map.json for the vocab.txt in `directory` (BERT's defaults)."""
    payloads = {CONFIG_FILE: bert_tokenizer_config(model_max_length=model_max_length),
                SPECIAL_TOKENS_MAP_FILE: dict(sorted(BERT_SPECIAL_TOKENS.items()))}
    written = []
    for name, payload in payloads.items():
        (directory / name).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(directory / name)
    return written
