"""Finding and describing tokenizer files on disk (standard library only; no sentencepiece/tokenizers import).

Used by `from_pretrained` (after `sources.resolve_pretrained` has turned a Hub id into a local snapshot) and the CLI.
Only local paths are accepted here: nothing in this module touches the network.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import pathlib
from typing import Any

from albert_bridge.config import read_json
from albert_bridge.errors import BridgeError, NotFound
from albert_bridge.tokenizer_files import (  # noqa: F401 - the file names, re-exported where tokenizers look
    ADDED_TOKENS_FILE,
    CONFIG_FILE,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_FILE,
    TOKENIZER_FILES,
    VOCAB_FILE,
    WORDPIECE_VOCAB_FILE,
    find_tokenizer_files,
)
from albert_bridge.tokenization.chat_template import read_chat_templates
from albert_bridge.tokenization.json_fields import (
    BOOL,
    ID,
    INT,
    NUMBER,
    STR,
    Either,
    ListOf,
    MapOf,
    Obj,
    OneOf,
    Optional,
    Pair,
    check_fields,
)
from albert_bridge.tokenization.wordpiece_vocab import (
    BERT_CONFIG_KEYS,
    BERT_SPECIAL_TOKENS,
    BERT_TOKENIZER_CLASS,
    read_wordpiece_vocab,
)
from albert_bridge.tokenization.spm_model import (
    CONTROL,
    NORMAL,
    UNIGRAM,
    UNKNOWN,
    USER_DEFINED,
    SpmModel,
    check_charsmap,
    digit_comma_applies,
)

# File names, as transformers writes them: owned by albert_bridge.tokenizer_files (imported above).

# Special-token attributes in transformers' SPECIAL_TOKENS_ATTRIBUTES order (it fixes all_special_tokens order).
SPECIAL_TOKEN_ATTRS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
DEFAULT_SPECIAL_TOKENS = {
    "bos_token": "[CLS]",
    "eos_token": "[SEP]",
    "unk_token": "<unk>",
    "sep_token": "[SEP]",
    "pad_token": "<pad>",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}
# Config keys we understand; anything else in a tokenizer_config.json is ignored on load.
CONFIG_KEYS = (
    "do_lower_case",
    "remove_space",
    "keep_accents",
    "model_max_length",
    "padding_side",
    "truncation_side",
    "clean_up_tokenization_spaces",
    "sp_model_kwargs",
)

# The keys of each tokenizer JSON file we read, and the type each must have (json_fields); null means unset.
_ADDED_TOKEN = Obj({"content": STR, **{flag: BOOL for flag in ("single_word", "lstrip", "rstrip", "normalized",
                                                                 "special")}}, required=("content",))
_TOKEN = Optional(Either((STR, _ADDED_TOKEN)))  # a special token: its string, or its AddedToken form
_SPECIAL_TOKENS = {**{attr: _TOKEN for attr in SPECIAL_TOKEN_ATTRS},
                   "additional_special_tokens": Optional(ListOf(Either((STR, _ADDED_TOKEN))))}
_SIDE = Optional(OneOf(("right", "left")))
# SentencePieceProcessor's options a saved config may carry (its constructor refuses any other keyword).
_SP_MODEL_KWARGS = Obj({"enable_sampling": BOOL, "nbest_size": INT, "alpha": NUMBER, "add_bos": BOOL,
                        "add_eos": BOOL, "reverse": BOOL, "emit_unk_piece": BOOL, "num_threads": INT}, closed=True)
_METASPACE = {"type": STR, "prepend_scheme": STR, "add_prefix_space": BOOL, "split": BOOL}
FILE_FIELDS = {
    CONFIG_FILE: Obj({
        "do_lower_case": Optional(BOOL), "remove_space": Optional(BOOL), "keep_accents": Optional(BOOL),
        "model_max_length": Optional(INT), "padding_side": _SIDE, "truncation_side": _SIDE,
        "clean_up_tokenization_spaces": Optional(BOOL), "sp_model_kwargs": Optional(_SP_MODEL_KWARGS),
        "tokenize_chinese_chars": Optional(BOOL), "strip_accents": Optional(BOOL),  # BertTokenizer's
        "added_tokens_decoder": Optional(MapOf(ID, _ADDED_TOKEN)), **_SPECIAL_TOKENS,
        # one template, or named ones as [{"name", "template"}] (transformers' form for several)
        "chat_template": Optional(Either((STR, ListOf(Obj({"name": STR, "template": STR},
                                                          required=("name", "template")))))),
    }),
    SPECIAL_TOKENS_MAP_FILE: Obj(_SPECIAL_TOKENS),
    ADDED_TOKENS_FILE: MapOf(STR, ID),  # content -> id
    TOKENIZER_FILE: Obj({
        "model": Obj({"type": STR, "unk_id": Optional(ID), "vocab": ListOf(Pair((STR, NUMBER)))},
                     required=("type", "vocab")),
        "added_tokens": Optional(ListOf(Obj({"id": ID, **_ADDED_TOKEN.fields}, required=("id", "content")))),
        "normalizer": Optional(Obj({"type": STR})),  # its Precompiled charsmap is checked where it is decoded
        "pre_tokenizer": Optional(Obj({**_METASPACE, "pretokenizers": ListOf(Obj(_METASPACE))})),
    }, required=("model",)),
}


def _read_json(path: pathlib.Path, kind: str) -> dict[str, Any]:
    """A tokenizer JSON file (`kind`: which one, by its standard name), checked against FILE_FIELDS."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise BridgeError("expected a JSON object", file=path)
    return check_fields(data, FILE_FIELDS[kind], path)


def _flags_from_tokenizer_json(data: dict[str, Any]) -> dict[str, bool]:
    """do_lower_case / keep_accents guessed from a tokenizer.json normalizer (when no config says)."""
    kinds: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("type"), str):
                kinds.add(node["type"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data.get("normalizer"))
    return {"do_lower_case": "Lowercase" in kinds, "keep_accents": not ({"NFKD", "StripAccents"} & kinds)}


@dataclasses.dataclass
class TokenizerSource:
    vocab_file: pathlib.Path | None
    tokenizer_file: pathlib.Path | None
    init_kwargs: dict[str, Any]
    files: dict[str, pathlib.Path]
    not_read: dict[str, str] = dataclasses.field(default_factory=dict)  # file present but not read -> why
    wordpiece_vocab: pathlib.Path | None = None  # BERT's vocab.txt (then vocab_file and tokenizer_file are None)


def resolve_tokenizer_source(path: str | os.PathLike) -> TokenizerSource:
    """A local directory or file -> which model file to load and the constructor arguments saved with it."""
    path = pathlib.Path(path)
    if not path.exists():
        raise NotFound(
            "no such file or directory (expected a directory with spiece.model, tokenizer.json or vocab.txt, a .model "
            "file, or a Hub repo id org/name)",
            file=path,
        )
    if path.is_file():
        if path.name.endswith(".json"):
            return TokenizerSource(None, path, _flags_from_tokenizer_json(_read_json(path, TOKENIZER_FILE)),
                                   {TOKENIZER_FILE: path})
        if path.suffix == ".txt":
            return TokenizerSource(None, None, {}, {WORDPIECE_VOCAB_FILE: path}, wordpiece_vocab=path)
        return TokenizerSource(path, None, {}, {VOCAB_FILE: path})
    files = find_tokenizer_files(path)
    # A SentencePiece model wins over a vocab.txt beside it; a vocab.txt wins over the tokenizer.json that
    # BertTokenizerFast saves beside it (a WordPiece model, which our tokenizer.json reader does not read).
    wordpiece = files.get(WORDPIECE_VOCAB_FILE) if VOCAB_FILE not in files else None
    if VOCAB_FILE not in files and TOKENIZER_FILE not in files and wordpiece is None:
        raise NotFound(f"no tokenizer here: expected {VOCAB_FILE}, a *.model file, {TOKENIZER_FILE} or "
                       f"{WORDPIECE_VOCAB_FILE}", file=path)
    init: dict[str, Any] = {}
    if VOCAB_FILE not in files and wordpiece is None:
        init.update(_flags_from_tokenizer_json(_read_json(files[TOKENIZER_FILE], TOKENIZER_FILE)))
    config = _read_json(files[CONFIG_FILE], CONFIG_FILE) if CONFIG_FILE in files else {}
    special_map = _read_json(files[SPECIAL_TOKENS_MAP_FILE], SPECIAL_TOKENS_MAP_FILE) \
        if SPECIAL_TOKENS_MAP_FILE in files else {}
    keys = (*CONFIG_KEYS, *BERT_CONFIG_KEYS) if wordpiece else CONFIG_KEYS
    init.update({k: config[k] for k in keys if config.get(k) is not None})
    chat_template = read_chat_templates(path, config)
    if chat_template is not None:
        init["chat_template"] = chat_template
    added = _added_tokens(config, files, wordpiece is not None)
    if added:
        init["added_tokens_decoder"] = added
    # lstrip/rstrip flags of special tokens live in added_tokens_decoder (transformers >= 4.34).
    flags = {entry["content"]: entry for entry in added.values()}
    for attr in SPECIAL_TOKEN_ATTRS:
        value = config.get(attr, special_map.get(attr))
        if value is None:
            continue
        content = value["content"] if isinstance(value, dict) else value
        if content in flags:
            value = {"content": content, "lstrip": flags[content].get("lstrip", False),
                     "rstrip": flags[content].get("rstrip", False)}
        init[attr] = value
    extra = config.get("additional_special_tokens", special_map.get("additional_special_tokens"))
    if extra is None and not config and VOCAB_FILE not in files and wordpiece is None:
        # tokenizer.json alone: its special tokens past the vocabulary are the additional special tokens.
        extra = [entry["content"] for entry in added.values() if entry.get("special")]
    if extra:
        init["additional_special_tokens"] = [t["content"] if isinstance(t, dict) else t for t in extra]
    # One file wins where two could say the same thing; the other is neither read nor checked.
    not_read = {}
    if (VOCAB_FILE in files or wordpiece) and TOKENIZER_FILE in files:
        not_read[TOKENIZER_FILE] = f"{(wordpiece or files[VOCAB_FILE]).name} is read instead"
    if VOCAB_FILE in files and WORDPIECE_VOCAB_FILE in files:
        not_read[WORDPIECE_VOCAB_FILE] = f"{files[VOCAB_FILE].name} is read instead"
    if ADDED_TOKENS_FILE in files and config.get("added_tokens_decoder"):
        not_read[ADDED_TOKENS_FILE] = f"{CONFIG_FILE}'s added_tokens_decoder is read instead"
    if wordpiece:
        return TokenizerSource(None, None, init, files, not_read, wordpiece)
    return TokenizerSource(files.get(VOCAB_FILE), files.get(TOKENIZER_FILE), init, files, not_read)


def _added_tokens(config: dict[str, Any], files: dict[str, pathlib.Path],
                  wordpiece: bool = False) -> dict[int, dict[str, Any]]:
    """id -> added token (JSON form) from tokenizer_config.json's added_tokens_decoder, else (older files)
    added_tokens.json, else tokenizer.json's added tokens."""
    decoder = config.get("added_tokens_decoder")
    if decoder:
        return {int(i): entry for i, entry in decoder.items()}
    if ADDED_TOKENS_FILE in files:
        return {int(i): {"content": content, "normalized": True, "special": False}
                for content, i in _read_json(files[ADDED_TOKENS_FILE], ADDED_TOKENS_FILE).items()}
    if TOKENIZER_FILE in files and VOCAB_FILE not in files and not wordpiece:
        data = _read_json(files[TOKENIZER_FILE], TOKENIZER_FILE)
        size = len((data.get("model") or {}).get("vocab") or [])
        # transformers' converter adds SentencePiece's user-defined pieces as plain unnormalized added tokens;
        # they stay vocabulary pieces here, as in the SentencePiece model the file came from.
        return {t["id"]: {k: v for k, v in t.items() if k != "id"} for t in data.get("added_tokens") or []
                if t.get("id", -1) >= size or t.get("special") or t.get("normalized", True)}
    return {}


def spm_model_from_tokenizer_json(tokenizer_file: str | os.PathLike) -> SpmModel:
    """Rebuild the SentencePiece model a Unigram tokenizer.json was converted from.

    Piece types come from the added tokens (special -> control, unnormalized -> user-defined); transformers'
    digit-comma penalty (-100 on pieces like '▁9,') is undone, since no real unigram score is that low.
    """
    path = pathlib.Path(tokenizer_file)
    return spm_model_from_tokenizer_data(_read_json(path, TOKENIZER_FILE), path)


def spm_model_from_tokenizer_data(data: dict[str, Any], path: pathlib.Path | None = None) -> SpmModel:
    """`spm_model_from_tokenizer_json` on the parsed JSON (a trained `tokenizers.Tokenizer`'s, for instance)."""
    check_fields(data, FILE_FIELDS[TOKENIZER_FILE], path or "tokenizer data")
    model = data["model"]
    if model["type"] != "Unigram":
        raise BridgeError(f"model.type: expected a Unigram model, got {model['type']!r}", file=path)
    vocab = model["vocab"]
    unk_id = model.get("unk_id")
    if unk_id is None or unk_id >= len(vocab):
        raise BridgeError(f"model.unk_id: expected the id of a piece of the {len(vocab)} in model.vocab, got "
                          f"{unk_id!r}", file=path)
    added = {t["id"]: t for t in data.get("added_tokens") or [] if t.get("id", -1) < len(vocab)}
    pieces, scores, types = [], [], []
    for i, (piece, score) in enumerate(vocab):
        if i == unk_id:
            kind = UNKNOWN
        elif i in added and added[i].get("special"):
            kind = CONTROL
        elif i in added and not added[i].get("normalized", True):  # how the converter writes user-defined pieces
            kind = USER_DEFINED
        else:  # a plain piece, perhaps given flags by add_tokens
            kind = NORMAL
        if kind == NORMAL and digit_comma_applies(piece) and score <= -100.0:
            score += 100.0
        pieces.append(piece)
        scores.append(float(score) if kind == NORMAL else 0.0)
        types.append(kind)
    charsmap = b""
    prepend, split = True, True

    def walk(node: Any) -> None:
        nonlocal charsmap
        if isinstance(node, dict):
            if node.get("type") == "Precompiled" and node.get("precompiled_charsmap"):
                charsmap = _decode_charsmap(node["precompiled_charsmap"], path)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data.get("normalizer"))
    pre = data.get("pre_tokenizer") or {}
    metas = [pre] if pre.get("type") == "Metaspace" else [p for p in pre.get("pretokenizers", []) or []
                                                          if p.get("type") == "Metaspace"]
    if metas:
        prepend = metas[0].get("prepend_scheme", "always") != "never" and metas[0].get("add_prefix_space", True)
        split = metas[0].get("split", True)
    ids = {p: i for i, p in enumerate(pieces)}
    return SpmModel(
        pieces=pieces,
        scores=scores,
        types=types,
        unk_id=unk_id,
        bos_id=-1,
        eos_id=-1,
        pad_id=ids.get(DEFAULT_SPECIAL_TOKENS["pad_token"], -1),
        split_by_whitespace=bool(split),
        normalizer_name="nmt_nfkc" if charsmap else "identity",
        precompiled_charsmap=charsmap,
        add_dummy_prefix=bool(prepend),
        origin=None if path is None else str(path),
    )


def _decode_charsmap(value: Any, path: pathlib.Path | None) -> bytes:
    field = "normalizer.precompiled_charsmap"
    try:
        charsmap = base64.b64decode(value, validate=True)
    except (TypeError, binascii.Error) as exc:
        raise BridgeError(f"{field}: expected base64 text ({exc})", file=path) from None
    problem = check_charsmap(charsmap)
    if problem:
        raise BridgeError(f"{field}: {problem}", file=path)
    return charsmap


def describe_tokenizer(path: str | os.PathLike) -> dict[str, Any]:
    """Summary of a tokenizer directory or model file: vocab size, special token ids, flags, files.

    Reads the SentencePiece proto with our own decoder (no sentencepiece import) or, when only a
    tokenizer.json exists, the JSON.
    """
    source = resolve_tokenizer_source(path)
    if source.wordpiece_vocab is not None:
        return _describe_wordpiece(source)
    if source.vocab_file is not None:
        model = SpmModel.read(source.vocab_file)
        origin = str(source.vocab_file)
    else:
        model = spm_model_from_tokenizer_json(source.tokenizer_file)
        origin = str(source.tokenizer_file)
    ids = model.piece_to_id()
    settings = {"do_lower_case": True, "remove_space": True, "keep_accents": False, **source.init_kwargs}
    special_tokens, special_ids = {}, {}
    for attr in SPECIAL_TOKEN_ATTRS:
        value = settings.get(attr, DEFAULT_SPECIAL_TOKENS[attr])
        content = value["content"] if isinstance(value, dict) else value
        special_tokens[attr] = content
        special_ids[attr] = ids.get(content)
    return {
        "kind": "sentencepiece",
        "source": origin,
        "vocab_size": len(model.pieces),
        "model_type": "unigram" if model.model_type == UNIGRAM else f"sentencepiece model_type {model.model_type}",
        "special_tokens": special_tokens,
        "special_token_ids": special_ids,
        "do_lower_case": bool(settings["do_lower_case"]),
        "remove_space": bool(settings["remove_space"]),
        "keep_accents": bool(settings["keep_accents"]),
        "model_max_length": settings.get("model_max_length"),
        "normalizer": model.normalizer_name or None,
        "files": {name: str(p) for name, p in source.files.items()},
        "not_read": source.not_read,
    }


def _describe_wordpiece(source: TokenizerSource) -> dict[str, Any]:
    """describe_tokenizer for BERT's vocab.txt, with BertTokenizer's defaults where no config says."""
    vocab = read_wordpiece_vocab(source.wordpiece_vocab)
    ids = {token: i for i, token in enumerate(vocab)}
    settings = {"do_lower_case": True, "tokenize_chinese_chars": True, "strip_accents": None, **source.init_kwargs}
    special_tokens = {}
    for attr in SPECIAL_TOKEN_ATTRS:
        value = settings.get(attr, BERT_SPECIAL_TOKENS.get(attr))
        if value is not None:
            special_tokens[attr] = value["content"] if isinstance(value, dict) else value
    strip = settings["strip_accents"]
    return {
        "kind": "wordpiece",
        "source": str(source.wordpiece_vocab),
        "vocab_size": len(vocab),
        "model_type": "wordpiece",
        "tokenizer_class": BERT_TOKENIZER_CLASS,
        "special_tokens": special_tokens,
        "special_token_ids": {attr: ids.get(token) for attr, token in special_tokens.items()},
        "do_lower_case": bool(settings["do_lower_case"]),
        "tokenize_chinese_chars": bool(settings["tokenize_chinese_chars"]),
        "keep_accents": not (settings["do_lower_case"] if strip is None else strip),
        "model_max_length": settings.get("model_max_length"),
        "files": {name: str(p) for name, p in source.files.items()},
        "not_read": source.not_read,
    }
