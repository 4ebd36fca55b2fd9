"""The tokenizer base the slow and the fast ALBERT tokenizers share: special and added tokens, text
preprocessing, the encode API (`__call__`, `encode_plus`, ...), decoding and save/load.

The behaviour follows transformers 4.57's `AlbertTokenizer` (a `PreTrainedTokenizer`), including its quirks,
because that is what ALBERT checkpoints were fine-tuned with; where transformers' fast tokenizer answers
differently by design (overflowing tokens as extra rows, offsets, word ids) the fast tokenizer follows it.
Subclasses provide `_encode_segments` (text -> ids, the hot path), `_segment_pieces` (text -> pieces),
`_decode_pieces` and, for the fast one, `_segment_offsets`.

Only the standard library is imported here; numpy/torch/tensorflow/jax load when tensors are requested.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from albert_bridge.errors import BridgeError, NotYetSupported
from albert_bridge.tokenization.added_tokens import AddedToken, AddedTokenSplitter, token_content
from albert_bridge.tokenization.batch import (
    META_KEYS,
    VERY_LARGE_INTEGER,
    BatchEncoding,
    InvalidInput,
    Seq,
    overflow_windows,
    pad_columns,
    resolve_strategies,
    to_py,
    truncate_pair,
)
from albert_bridge.tokenization.files import (
    ADDED_TOKENS_FILE,
    CONFIG_FILE,
    SPECIAL_TOKEN_ATTRS,
    SPECIAL_TOKENS_MAP_FILE,
    VOCAB_FILE,
)
from albert_bridge.tokenization.spm_model import SpmModel

logger = logging.getLogger(__name__)

SPIECE_UNDERLINE = "\u2581"


class AlbertTokenizerBase:
    """Shared behaviour; see AlbertTokenizer / AlbertTokenizerFast."""

    vocab_files_names: ClassVar[dict[str, str]] = {"vocab_file": VOCAB_FILE}
    model_input_names: ClassVar[list[str]] = ["input_ids", "token_type_ids", "attention_mask"]
    pad_token_type_id = 0
    is_fast: ClassVar[bool] = False

    def __init__(
        self,
        spm_model: SpmModel,
        *,
        do_lower_case: bool = True,
        remove_space: bool = True,
        keep_accents: bool = False,
        bos_token: Any = "[CLS]",
        eos_token: Any = "[SEP]",
        unk_token: Any = "<unk>",
        sep_token: Any = "[SEP]",
        pad_token: Any = "<pad>",
        cls_token: Any = "[CLS]",
        mask_token: Any = "[MASK]",
        model_max_length: int = VERY_LARGE_INTEGER,
        padding_side: str = "right",
        truncation_side: str = "right",
        clean_up_tokenization_spaces: bool = False,
        additional_special_tokens: Sequence[Any] | None = None,
        added_tokens_decoder: dict[int, Any] | None = None,
        sp_model_kwargs: dict[str, Any] | None = None,
        vocab_file: str | os.PathLike | None = None,
        name_or_path: str = "",
        **kwargs: Any,
    ):
        if padding_side not in ("right", "left") or truncation_side not in ("right", "left"):
            raise InvalidInput("padding_side and truncation_side must be 'right' or 'left'")
        # Like transformers' AlbertTokenizer, [MASK] strips whitespace on its left by default
        # ("a [MASK] b" keeps the space before "b" but not before the mask).
        if isinstance(mask_token, str):
            mask_token = AddedToken(mask_token, lstrip=True, normalized=False)
        self.spm_model = spm_model
        self.do_lower_case = bool(do_lower_case)
        self.remove_space = bool(remove_space)
        self.keep_accents = bool(keep_accents)
        self.sp_model_kwargs = dict(sp_model_kwargs or {})
        self.model_max_length = int(model_max_length)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.vocab_file = None if vocab_file is None else str(vocab_file)
        self.name_or_path = name_or_path
        self._piece_to_id = spm_model.piece_to_id()
        self._unk_piece_id = spm_model.unk_id
        given = {"bos_token": bos_token, "eos_token": eos_token, "unk_token": unk_token, "sep_token": sep_token,
                 "pad_token": pad_token, "cls_token": cls_token, "mask_token": mask_token}
        # What transformers keeps as init_kwargs (and passes on in train_new_from_iterator).
        self.init_kwargs = {"do_lower_case": do_lower_case, "remove_space": remove_space,
                            "keep_accents": keep_accents, **given, "sp_model_kwargs": self.sp_model_kwargs}
        for key, default, value in (("model_max_length", VERY_LARGE_INTEGER, model_max_length),
                                    ("padding_side", "right", padding_side),
                                    ("truncation_side", "right", truncation_side),
                                    ("clean_up_tokenization_spaces", False, clean_up_tokenization_spaces),
                                    ("additional_special_tokens", None, additional_special_tokens)):
            if value != default:
                self.init_kwargs[key] = value
        self.init_kwargs.update(kwargs)

        # transformers' PreTrainedTokenizer.__init__: saved added tokens first, then the special tokens that are
        # not among them (those missing from the vocabulary get new ids).
        self._added_tokens_decoder: dict[int, AddedToken] = {
            int(i): AddedToken.of(tok) for i, tok in (added_tokens_decoder or {}).items()
        }
        self._added_tokens_encoder = {tok.content: i for i, tok in self._added_tokens_decoder.items()}
        self._special_tokens_map: dict[str, Any] = {}
        for attr, value in given.items():
            if isinstance(value, dict):  # the JSON form of a saved config
                value = AddedToken.of({"normalized": False, "special": True, **value})
            elif value is not None:
                token_content(value)  # type check
            self._special_tokens_map[attr] = value
        self._special_tokens_map["additional_special_tokens"] = list(additional_special_tokens or [])
        self._splitter: AddedTokenSplitter | None = None
        self._add_tokens(
            [t for t in self.all_special_tokens_extended
             if not (isinstance(t, str) and t in self._added_tokens_encoder)],
            special_tokens=True,
        )

    # ----------------------------------------------------------------- vocabulary
    @property
    def vocab_size(self) -> int:
        """Size of the SentencePiece vocabulary, without added tokens (len(tokenizer) counts them)."""
        return len(self.spm_model.pieces)

    def get_vocab(self) -> dict[str, int]:
        vocab = dict(self._piece_to_id)
        vocab.update(self.added_tokens_encoder)
        return vocab

    def __len__(self) -> int:
        return len(self.get_vocab())

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        return {tok.content: i for i, tok in sorted(self._added_tokens_decoder.items())}

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self._added_tokens_decoder.items()))

    def get_added_vocab(self) -> dict[str, int]:
        return dict(self._added_tokens_encoder)

    # ----------------------------------------------------------------- added tokens
    def _add_tokens(self, new_tokens: Iterable[Any], special_tokens: bool = False) -> int:
        """PreTrainedTokenizer._add_tokens: new contents get ids from len(tokenizer) on; existing ones only flags."""
        added = 0
        vocab = self.get_vocab()
        new_index = len(vocab)
        for token in new_tokens:
            if not isinstance(token, str) and not hasattr(token, "content"):
                raise TypeError(f"Token {token} is not a string but a {type(token)}.")
            if str(token) == "":
                continue
            if isinstance(token, str):
                if token in self._added_tokens_encoder:
                    continue
                special = token in self.all_special_tokens or special_tokens
                token = AddedToken(token, normalized=not special, special=special)
            else:
                token = AddedToken.of(token)
                if special_tokens:
                    token.special = True
            if not token.special and token.normalized and self.do_lower_case:
                token.content = token.content.lower()
            if token.content in vocab:
                index = vocab[token.content]
            else:
                index = vocab[token.content] = new_index + added
                added += 1
            if token.special and token.content not in self.all_special_tokens:
                self._special_tokens_map["additional_special_tokens"].append(token)
            self._added_tokens_decoder[index] = token
            self._added_tokens_encoder[token.content] = index
        self._splitter = None
        return added

    def add_tokens(self, new_tokens: Any, special_tokens: bool = False) -> int:
        """Add tokens (str or AddedToken); returns how many got new ids. Added tokens are never split."""
        if not new_tokens:
            return 0
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        return self._add_tokens(new_tokens, special_tokens=special_tokens)

    def add_special_tokens(self, special_tokens_dict: dict[str, Any],
                           replace_additional_special_tokens: bool = True) -> int:
        """SpecialTokensMixin.add_special_tokens: set special-token attributes and add the tokens."""
        if not special_tokens_dict:
            return 0
        to_add = []
        for key, value in special_tokens_dict.items():
            if key not in (*SPECIAL_TOKEN_ATTRS, "additional_special_tokens"):
                raise InvalidInput(f"Key {key} is not a special token")
            if key == "additional_special_tokens":
                if not isinstance(value, (list, tuple)):
                    raise InvalidInput(f"Tokens {value} for key {key} should all be str or AddedToken instances")
                value = list(dict.fromkeys(value))  # keeps order, drops repeats
                if replace_additional_special_tokens and value:
                    self._special_tokens_map["additional_special_tokens"] = list(value)
                else:
                    current = self._special_tokens_map["additional_special_tokens"]
                    current.extend(t for t in value if str(t) not in map(str, current))
                to_add.extend(value)
            else:
                if not isinstance(value, str) and not hasattr(value, "content"):
                    raise InvalidInput(f"Token {value} for key {key} should be a str or an AddedToken instance")
                self._special_tokens_map[key] = value
                to_add.append(value)
        return self._add_tokens(to_add, special_tokens=True)

    @property
    def _added_past_vocab(self) -> bool:
        """Whether tokens were added beyond the SentencePiece vocabulary."""
        return len(self._added_tokens_encoder) > 0 and max(self._added_tokens_encoder.values()) >= self.vocab_size

    @property
    def splitter(self) -> AddedTokenSplitter:
        if self._splitter is None:
            protected = list(self.all_special_tokens) + [
                tok.content for tok in self._added_tokens_decoder.values() if not tok.special and tok.normalized
            ]
            self._splitter = AddedTokenSplitter(self._added_tokens_encoder, self._added_tokens_decoder, protected,
                                                self.do_lower_case)
        return self._splitter

    # ----------------------------------------------------------------- special tokens
    @property
    def all_special_tokens_extended(self) -> list[Any]:
        seen, out = set(), []
        for attr in (*SPECIAL_TOKEN_ATTRS, "additional_special_tokens"):
            value = self._special_tokens_map.get(attr)
            for tok in (value if attr == "additional_special_tokens" else [value]):
                if tok is not None and str(tok) not in seen:
                    seen.add(str(tok))
                    out.append(tok)
        return out

    @property
    def all_special_tokens(self) -> list[str]:
        return [str(t) for t in self.all_special_tokens_extended]

    @property
    def all_special_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    @property
    def special_tokens_map(self) -> dict[str, Any]:
        out = {}
        for attr in (*SPECIAL_TOKEN_ATTRS, "additional_special_tokens"):
            value = self._special_tokens_map.get(attr)
            if attr == "additional_special_tokens":
                if value:
                    out[attr] = [str(t) for t in value]
            elif value is not None:
                out[attr] = str(value)
        return out

    @property
    def additional_special_tokens(self) -> list[str]:
        return [str(t) for t in self._special_tokens_map["additional_special_tokens"]]

    @additional_special_tokens.setter
    def additional_special_tokens(self, value: Sequence[Any] | None) -> None:
        self._special_tokens_map["additional_special_tokens"] = list(value or [])
        self._splitter = None

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.additional_special_tokens)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 3 if pair else 2

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | list[int]:
        if tokens is None:
            return None
        missing = self._missing_token_id()
        if isinstance(tokens, str):
            return self._token_to_id(tokens, missing)
        return [self._token_to_id(t, missing) for t in tokens]

    def _missing_token_id(self) -> int | None:
        """The id convert_tokens_to_ids gives a token outside the vocabulary: SentencePiece's <unk> here."""
        return self._unk_piece_id

    def _token_to_id(self, token: str, missing: int | None = None) -> int:
        index = self._added_tokens_encoder.get(token)
        if index is None:
            index = self._piece_to_id.get(token, self._unk_piece_id if missing is None else missing)
        return index

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        pieces, added = self.spm_model.pieces, self._added_tokens_decoder
        ids = to_py(ids)
        single = isinstance(ids, int)
        ids = [ids] if single else [int(i) for i in ids]
        bad = [i for i in ids if i not in added and not 0 <= i < len(pieces)]
        if bad:
            raise InvalidInput(f"token ids must be in [0, {len(pieces)}) or added tokens, got {bad}")
        if single:
            return added[ids[0]].content if ids[0] in added else pieces[ids[0]]
        # transformers skips every special id here, <unk> included.
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [added[i].content if i in added else pieces[i] for i in ids if i not in skip]

    # ----------------------------------------------------------------- text -> pieces / ids
    def preprocess_text(self, text: str) -> str:
        """AlbertTokenizer.preprocess_text: collapse whitespace, `` and '' -> ", NFKD without combining marks, lower."""
        if self.remove_space:
            text = " ".join(text.strip().split())
        text = text.replace("``", '"').replace("''", '"')
        if not self.keep_accents and not text.isascii():  # NFKD and combining marks are no-ops on ASCII
            text = unicodedata.normalize("NFKD", text)
            text = "".join([c for c in text if not unicodedata.combining(c)])
        if self.do_lower_case:
            text = text.lower()
        return text

    def tokenize(self, text: str, **kwargs: Any) -> list[str]:
        """Pieces as transformers' AlbertTokenizer.tokenize returns them (unknown text keeps its surface form)."""
        kwargs.pop("add_special_tokens", None)
        if kwargs:
            logger.warning("tokenize() ignores keyword arguments %s", sorted(kwargs))
        out: list[str] = []
        for part, _, _ in self.splitter.split(text):
            if isinstance(part, int):
                out.append(self.convert_ids_to_tokens(part))
            else:
                out.extend(self._segment_pieces(part))
        return out

    def _encode_texts(self, texts: list[str], detail: bool = False) -> list:
        """ids without special tokens for each text; segments of all texts are encoded in one batch.

        With `detail`, each text gives its chunks instead: (added-token id or None, ids, start, end) per piece
        of `splitter.split`, positions in the text as the splitter saw it."""
        split = [self.splitter.split(t) for t in texts]
        segments = [p for parts in split for p, _, _ in parts if isinstance(p, str)]
        encoded = iter(self._encode_segments(segments))
        out = []
        for parts in split:
            if detail:
                out.append([(p, [p], a, b) if isinstance(p, int) else (None, next(encoded), a, b)
                            for p, a, b in parts])
                continue
            ids: list[int] = []
            for p, _, _ in parts:
                if isinstance(p, int):
                    ids.append(p)
                else:
                    ids.extend(next(encoded))
            out.append(ids)
        return out

    def _encode_inputs(self, inputs: list[Any], split_words: bool, offsets: bool, track: bool) -> list[Seq]:
        """One Seq per input (a str, or a list of words with is_split_into_words); with `track` (fast tokenizer)
        also word indices, and offsets when asked, as transformers' fast tokenizers keep them."""
        texts, owners = [], []
        for n, item in enumerate(inputs):
            words = item if split_words else [item]
            if split_words and (not isinstance(words, (list, tuple)) or not all(isinstance(w, str) for w in words)):
                raise InvalidInput("is_split_into_words=True takes a list of words (str) per sequence")
            for w, word in enumerate(words):
                texts.append(word)
                owners.append((n, w))
        seqs = [Seq([], [] if track else None, [] if offsets else None) for _ in inputs]
        if not track:
            for (n, _), ids in zip(owners, self._encode_texts(texts)):
                seqs[n].ids.extend(ids)
            return seqs
        for (n, w), text, chunks in zip(owners, texts, self._encode_texts(texts, detail=True)):
            seq = seqs[n]
            words = self._chunk_word_ids(text, chunks)
            seq.words.extend([w] * len(words) if split_words else [x + (seq.words[-1] + 1 if seq.words else 0)
                                                                   for x in words])
            for _, ids, _, _ in chunks:
                seq.ids.extend(ids)
            if offsets:
                seq.offsets.extend(self._text_offsets(text, chunks))
        return seqs

    def _chunk_word_ids(self, text: str, chunks) -> list[int]:
        raise NotImplementedError

    def _text_offsets(self, text: str, chunks) -> list[tuple[int, int]]:
        raise NotImplementedError

    def _encode_segments(self, segments: list[str]) -> list[list[int]]:
        raise NotImplementedError

    def _segment_pieces(self, segment: str) -> list[str]:
        raise NotImplementedError

    def _decode_pieces(self, pieces: list[str]) -> str:
        raise NotImplementedError

    # ----------------------------------------------------------------- special tokens around sequences
    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None) -> list[int]:
        cls, sep = [self.cls_token_id], [self.sep_token_id]
        if token_ids_1 is None:
            return cls + list(token_ids_0) + sep
        return cls + list(token_ids_0) + sep + list(token_ids_1) + sep

    def get_special_tokens_mask(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None, already_has_special_tokens: bool = False
    ) -> list[int]:
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise InvalidInput("already_has_special_tokens=True takes one sequence that already holds them")
            special = set(self.all_special_ids)  # <unk> counts as special here, as in transformers
            return [1 if i in special else 0 for i in to_py(token_ids_0)]
        if token_ids_1 is not None:
            return [1] + [0] * len(token_ids_0) + [1] + [0] * len(token_ids_1) + [1]
        return [1] + [0] * len(token_ids_0) + [1]

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        if token_ids_1 is None:
            return [0] * (len(token_ids_0) + 2)
        return [0] * (len(token_ids_0) + 2) + [1] * (len(token_ids_1) + 1)

    # ----------------------------------------------------------------- encoding API
    def _strategies(self, padding: Any, truncation: Any, max_length: int | None, pad_to_multiple_of: int | None,
                    verbose: bool = True) -> tuple[str, str, int | None]:
        return resolve_strategies(padding, truncation, max_length, pad_to_multiple_of, self.model_max_length, verbose)

    def truncate_sequences(self, ids: list[int], pair_ids: list[int] | None = None, num_tokens_to_remove: int = 0,
                           truncation_strategy: str = "longest_first", stride: int = 0):
        """Same arithmetic as transformers, including logging (not raising) when a strategy cannot fit."""
        from albert_bridge.tokenization.batch import truncation_strategy as parse

        return truncate_pair(ids, pair_ids, num_tokens_to_remove, parse(truncation_strategy), stride,
                             self.truncation_side == "left", logger.error)

    def _row(self, first: Seq, second: Seq | None, add_special_tokens: bool, options: dict) -> dict[str, list]:
        """One model input from (already truncated) sequences: ids with special tokens and the side outputs."""
        pair = second is not None
        if add_special_tokens:
            ids = self.build_inputs_with_special_tokens(first.ids, second.ids if pair else None)
            type_ids = self.create_token_type_ids_from_sequences(first.ids, second.ids if pair else None)
            mask = self.get_special_tokens_mask(first.ids, second.ids if pair else None)
        else:
            ids = first.ids + second.ids if pair else list(first.ids)
            type_ids = [0] * len(ids)
            mask = [0] * len(ids)
        out = {"input_ids": ids}
        if options["return_token_type_ids"]:
            out["token_type_ids"] = type_ids
        if options["return_special_tokens_mask"]:
            out["special_tokens_mask"] = mask
        if options["return_offsets_mapping"] or first.words is not None:
            seqs = [first, second] if pair else [first]
            if options["return_offsets_mapping"]:
                out["offset_mapping"] = _around([s.offsets for s in seqs], (0, 0), add_special_tokens)
            if first.words is not None:
                out["word_ids"] = _around([s.words for s in seqs], None, add_special_tokens)
                out["sequence_ids"] = _around([[k] * len(s) for k, s in enumerate(seqs)], None, add_special_tokens)
        return out

    def _encode_batch(self, batch: list[tuple[Seq, Seq | None]], *, add_special_tokens: bool, pad: str, trunc: str,
                      max_length: int | None, stride: int, pad_to_multiple_of: int | None, padding_side: str | None,
                      return_token_type_ids: bool | None, return_attention_mask: bool | None,
                      return_overflowing_tokens: bool, return_special_tokens_mask: bool,
                      return_offsets_mapping: bool, return_length: bool, verbose: bool, single: bool,
                      fast: bool | None = None) -> dict:
        """Truncate, add special tokens, pad: the columns of a batch (and per-row metadata on the fast tokenizer).

        Overflowing tokens follow transformers: the slow tokenizer returns them in an `overflowing_tokens`
        column; the fast one returns every window as its own row, with `overflow_to_sample_mapping`."""
        if return_token_type_ids and not add_special_tokens:  # checked before the default, as in transformers
            raise InvalidInput(
                "Asking to return token_type_ids while setting add_special_tokens to False results in an undefined "
                "behavior. Please set add_special_tokens to True or set return_token_type_ids to None."
            )
        options = {
            "return_token_type_ids": ("token_type_ids" in self.model_input_names if return_token_type_ids is None
                                      else return_token_type_ids),
            "return_special_tokens_mask": return_special_tokens_mask,
            "return_offsets_mapping": return_offsets_mapping,
        }
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        fast = self.is_fast if fast is None else fast
        options["fast"] = fast
        left = self.truncation_side == "left"
        columns: dict[str, list] = {}

        def add(row: dict) -> None:
            for key, value in row.items():
                columns.setdefault(key, []).append(value)

        for sample, (first, second) in enumerate(batch):
            pair = second is not None
            specials = self.num_special_tokens_to_add(pair) if add_special_tokens else 0
            total = len(first) + (len(second) if pair else 0) + specials
            if return_overflowing_tokens and fast:
                limit = None if trunc == "do_not_truncate" or max_length is None else max_length - specials
                rows = [(first, second)] if limit is None else overflow_windows(first, second, limit, trunc,
                                                                                  stride, left)
                for a, b in rows:
                    add({**self._row(a, b, add_special_tokens, options), "overflow_to_sample_mapping": sample})
                continue
            if return_overflowing_tokens and trunc == "longest_first" and pair:
                raise InvalidInput(
                    "Not possible to return overflowing tokens for pair of sequences with the `longest_first`. "
                    "Please select another truncation strategy than `longest_first`, for instance `only_second` or "
                    "`only_first`."
                )
            overflowing = None
            if trunc != "do_not_truncate" and max_length and total > max_length:
                first, second, overflowing = truncate_pair(first, second, total - max_length, trunc, stride, left,
                                                           logger.error)
            row = {}
            if return_overflowing_tokens:
                if max_length is None:
                    raise TypeError("return_overflowing_tokens=True needs a max_length (or a model_max_length)")
                row = {"overflowing_tokens": overflowing.ids if overflowing is not None else [],
                       "num_truncated_tokens": total - max_length}
            row.update(self._row(first, second, add_special_tokens, options))
            if max_length is None and len(row["input_ids"]) > self.model_max_length and verbose:
                logger.warning(
                    "Token indices sequence length is longer than the specified maximum sequence length for this "
                    "model (%d > %d). Running this sequence through the model will result in indexing errors",
                    len(row["input_ids"]), self.model_max_length,
                )
            add(row)
        if not columns:
            return {"input_ids": []}
        if return_length and not single:  # batch: lengths before padding, as in the slow transformers path
            columns["length"] = [len(row) for row in columns["input_ids"]]
        if pad != "do_not_pad" or return_attention_mask:
            right = (padding_side or self.padding_side) == "right"
            fills = {"input_ids": self.pad_token_id, "token_type_ids": self.pad_token_type_id}
            columns = pad_columns(columns, max_length, pad, pad_to_multiple_of, right, return_attention_mask, fills)
        if return_length and single:
            columns["length"] = [len(row) for row in columns["input_ids"]]  # single input: after padding
        return columns

    def _finish(self, columns: dict, return_tensors: str | None, unbatch: bool,
                prepend_batch_axis: bool = False) -> BatchEncoding:
        """Columns -> BatchEncoding; per-row metadata leaves the columns for word_ids() / sequence_ids()."""
        meta = None
        if "word_ids" in columns:
            rows = zip(*(columns.pop(key) for key in META_KEYS))
            meta = [dict(zip(META_KEYS, values)) for values in rows]
        if unbatch:
            columns = {k: v[0] for k, v in columns.items()}
        return BatchEncoding(columns, tensor_type=return_tensors, prepend_batch_axis=prepend_batch_axis, meta=meta)

    def _check_options(self, return_offsets_mapping: bool, kwargs: dict) -> bool:
        """Refuses what we do not implement; returns is_split_into_words."""
        if return_offsets_mapping and not self.is_fast:
            raise NotImplementedError(
                "return_offset_mapping is not available when using Python tokenizers. To use this feature, change "
                "your tokenizer to one deriving from transformers.PreTrainedTokenizerFast."
            )
        split_words = bool(kwargs.pop("is_split_into_words", False))
        for key in ("text_target", "text_pair_target"):
            if kwargs.pop(key, None) is not None:
                raise NotYetSupported(f"{key} is not supported by albert_bridge tokenizers")
        if kwargs.pop("split_special_tokens", False):
            raise NotYetSupported("split_special_tokens=True is not supported by albert_bridge tokenizers")
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {sorted(kwargs)}")
        return split_words

    def __call__(
        self,
        text: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        text_pair: str | Sequence[str] | None = None,
        add_special_tokens: bool = True,
        padding: Any = False,
        truncation: Any = None,
        max_length: int | None = None,
        stride: int = 0,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        **kwargs: Any,
    ) -> BatchEncoding:
        """Encode a text, a pair, a batch of texts or a batch of pairs (list of 2-tuples, or text + text_pair
        lists); with is_split_into_words=True a sequence is a list of words."""
        if text is None:
            raise InvalidInput("You need to specify either `text` or `text_target`.")
        split_words = kwargs.get("is_split_into_words", False)
        common = dict(
            add_special_tokens=add_special_tokens, padding=padding, truncation=truncation, max_length=max_length,
            stride=stride, pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
            return_tensors=return_tensors, return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask, return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask, return_offsets_mapping=return_offsets_mapping,
            return_length=return_length, verbose=verbose, **kwargs,
        )
        batched = isinstance(text, (list, tuple)) and (not split_words or (bool(text) and isinstance(text[0], (list, tuple))))
        if batched:
            if text_pair is not None:
                if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text):
                    raise InvalidInput("batched `text` needs a `text_pair` list of the same length")
                batch = list(zip(text, text_pair))
            else:
                batch = list(text)
            return self.batch_encode_plus(batch, **common)
        if text_pair is not None and not isinstance(text_pair, (str, list, tuple)):
            raise InvalidInput("a single `text` takes a single `text_pair`")
        return self.encode_plus(text, text_pair, **common)

    def encode_plus(self, text: Any, text_pair: Any = None, add_special_tokens: bool = True,
                    padding: Any = False, truncation: Any = None, max_length: int | None = None, stride: int = 0,
                    pad_to_multiple_of: int | None = None, padding_side: str | None = None,
                    return_tensors: str | None = None, return_token_type_ids: bool | None = None,
                    return_attention_mask: bool | None = None, return_overflowing_tokens: bool = False,
                    return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                    return_length: bool = False, verbose: bool = True, **kwargs: Any) -> BatchEncoding:
        arguments = {k: v for k, v in locals().items() if k not in ("self", "kwargs")} | kwargs
        track = kwargs.pop("_track_words", False)
        split_words = self._check_options(return_offsets_mapping, kwargs)
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of, verbose)
        inputs = [text] if text_pair is None else [text, text_pair]
        if not split_words and not all(isinstance(t, str) for t in inputs):
            raise InvalidInput("a single `text` (and `text_pair`) must be str; use is_split_into_words=True for words")
        track = self.is_fast and (track or split_words or return_offsets_mapping or return_overflowing_tokens)
        seqs = self._encode_inputs(inputs, split_words, return_offsets_mapping, track)
        columns = self._encode_batch(
            [(seqs[0], seqs[1] if text_pair is not None else None)], add_special_tokens=add_special_tokens,
            pad=pad, trunc=trunc, max_length=max_length, stride=stride, pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side, return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask, return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask, return_offsets_mapping=return_offsets_mapping,
            return_length=return_length, verbose=verbose, single=True,
        )
        # The fast tokenizer keeps the batch axis for overflowing windows (transformers does the same).
        if return_tensors is None and not (self.is_fast and return_overflowing_tokens):
            enc = self._finish(columns, None, unbatch=True)
        elif self.is_fast:
            enc = self._finish(columns, return_tensors, unbatch=False)
        else:
            enc = self._finish(columns, return_tensors, unbatch=True, prepend_batch_axis=return_tensors is not None)
        return self._lazy_meta(enc, self.encode_plus, arguments, track)

    def _lazy_meta(self, enc: BatchEncoding, method, arguments: dict, tracked: bool) -> BatchEncoding:
        """On the fast tokenizer, word_ids()/sequence_ids() of an encoding made without tracking words encode
        the same call again with tracking, when first asked: the plain path stays as fast as before."""
        if self.is_fast and not tracked:
            enc._meta = lambda: method(**arguments, _track_words=True)._meta
        return enc

    def batch_encode_plus(self, batch_text_or_text_pairs: Sequence[Any], add_special_tokens: bool = True,
                          padding: Any = False, truncation: Any = None, max_length: int | None = None,
                          stride: int = 0, pad_to_multiple_of: int | None = None, padding_side: str | None = None,
                          return_tensors: str | None = None, return_token_type_ids: bool | None = None,
                          return_attention_mask: bool | None = None, return_overflowing_tokens: bool = False,
                          return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                          return_length: bool = False, verbose: bool = True, **kwargs: Any) -> BatchEncoding:
        arguments = {k: v for k, v in locals().items() if k not in ("self", "kwargs")} | kwargs
        track = kwargs.pop("_track_words", False)
        split_words = self._check_options(return_offsets_mapping, kwargs)
        track = self.is_fast and (track or split_words or return_offsets_mapping or return_overflowing_tokens)
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of, verbose)
        firsts, seconds = [], []
        for item in batch_text_or_text_pairs:
            if isinstance(item, str) or (split_words and isinstance(item, list)
                                         and all(isinstance(w, str) for w in item)):
                firsts.append(item)
                seconds.append(None)
            elif isinstance(item, (list, tuple)) and len(item) == 2 and (
                    split_words or all(isinstance(t, str) for t in item)):
                firsts.append(item[0])
                seconds.append(item[1])
            else:
                raise InvalidInput(f"batch items must be str or a (text, text_pair) pair of str, got {item!r}")
        seqs = self._encode_inputs(firsts + [s for s in seconds if s is not None], split_words,
                                   return_offsets_mapping, track)
        pair_iter = iter(seqs[len(firsts):])
        batch = [(seq, None if second is None else next(pair_iter)) for seq, second in zip(seqs, seconds)]
        columns = self._encode_batch(
            batch, add_special_tokens=add_special_tokens, pad=pad, trunc=trunc, max_length=max_length,
            stride=stride, pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
            return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens, return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping, return_length=return_length, verbose=verbose,
            single=False,
        )
        return self._lazy_meta(self._finish(columns, return_tensors, unbatch=False), self.batch_encode_plus,
                               arguments, track)

    def encode(self, text: Any, text_pair: Any = None, add_special_tokens: bool = True, padding: Any = False,
               truncation: Any = None, max_length: int | None = None, stride: int = 0,
               return_tensors: str | None = None, **kwargs: Any) -> list[int] | Any:
        enc = self.encode_plus(text, text_pair, add_special_tokens=add_special_tokens, padding=padding,
                               truncation=truncation, max_length=max_length, stride=stride,
                               return_tensors=return_tensors, **kwargs)
        return enc["input_ids"]

    def prepare_for_model(self, ids: list[int], pair_ids: list[int] | None = None, add_special_tokens: bool = True,
                          padding: Any = False, truncation: Any = None, max_length: int | None = None,
                          stride: int = 0, pad_to_multiple_of: int | None = None, padding_side: str | None = None,
                          return_tensors: str | None = None, return_token_type_ids: bool | None = None,
                          return_attention_mask: bool | None = None, return_overflowing_tokens: bool = False,
                          return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                          return_length: bool = False, verbose: bool = True, prepend_batch_axis: bool = False,
                          **kwargs: Any) -> BatchEncoding:
        """transformers' prepare_for_model (the Python path, also on fast tokenizers): ids in, one input out."""
        if return_offsets_mapping:
            raise NotImplementedError("return_offset_mapping is not available for prepare_for_model")
        self._check_options(False, kwargs)
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of, verbose)
        pair = None if pair_ids is None else Seq(list(pair_ids))
        columns = self._encode_batch(
            [(Seq(list(ids)), pair)], add_special_tokens=add_special_tokens, pad=pad, trunc=trunc,
            max_length=max_length, stride=stride, pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
            return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens, return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=False, return_length=return_length, verbose=verbose, single=True,
            fast=False,  # the Python path on both, as in transformers
        )
        return self._finish(columns, return_tensors, unbatch=True, prepend_batch_axis=prepend_batch_axis)

    def pad(
        self,
        encoded_inputs: Any,
        padding: Any = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Pad one encoding or a batch (dict of lists, or list of dicts) like PreTrainedTokenizerBase.pad."""
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], dict):
            encoded_inputs = {k: [e[k] for e in encoded_inputs] for k in encoded_inputs[0]}
        data = {k: to_py(v) for k, v in dict(encoded_inputs).items()}
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        pad, _, max_length = self._strategies(padding, False, max_length, pad_to_multiple_of, verbose)
        ids = data["input_ids"]
        single = not ids or not isinstance(ids[0], list)
        if single:
            data = {k: [v] for k, v in data.items()}
        right = (padding_side or self.padding_side) == "right"
        fills = {"input_ids": self.pad_token_id, "token_type_ids": self.pad_token_type_id}
        data = pad_columns(data, max_length, pad, pad_to_multiple_of, right, return_attention_mask, fills)
        if single:
            data = {k: v[0] for k, v in data.items()}
        return BatchEncoding(data, tensor_type=return_tensors)

    # ----------------------------------------------------------------- decoding
    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """AlbertTokenizer.convert_tokens_to_string: special tokens verbatim, the rest through SentencePiece."""
        special = set(self.all_special_tokens)
        current: list[str] = []
        out = ""
        prev_is_special = False
        for token in tokens:
            if token in special:
                if not prev_is_special:
                    out += " "
                out += self._decode_pieces(current) + token
                prev_is_special = True
                current = []
            else:
                current.append(token)
                prev_is_special = False
        out += self._decode_pieces(current)
        return out.strip()

    @staticmethod
    def clean_up_tokenization(out_string: str) -> str:
        for old, new in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                         (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
            out_string = out_string.replace(old, new)
        return out_string

    def decode(self, token_ids: int | Sequence[int] | Any, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: bool | None = None, spaces_between_special_tokens: bool = True,
               **kwargs: Any) -> str:
        """PreTrainedTokenizer._decode: added tokens (and new special ones) stand alone between decoded runs."""
        tokens = self.convert_ids_to_tokens(token_ids, skip_special_tokens=skip_special_tokens)
        if isinstance(tokens, str):
            tokens = [tokens]
        special = set(self.all_special_tokens)
        standalone = (set(self._added_tokens_encoder) - special) | {
            t for t in self.additional_special_tokens if self.convert_tokens_to_ids(t) >= self.vocab_size
        }
        sub_texts: list[str] = []
        current: list[str] = []
        for token in tokens:
            if skip_special_tokens and token in special:
                continue
            if token in standalone:
                if current:
                    string = self.convert_tokens_to_string(current)
                    if string:
                        sub_texts.append(string)
                    current = []
                sub_texts.append(token)
            else:
                current.append(token)
        if current:
            sub_texts.append(self.convert_tokens_to_string(current))
        text = (" " if spaces_between_special_tokens else "").join(sub_texts)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return self.clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(self, sequences: Sequence[Sequence[int]] | Any, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs: Any) -> list[str]:
        return [
            self.decode(seq, skip_special_tokens=skip_special_tokens,
                        clean_up_tokenization_spaces=clean_up_tokenization_spaces, **kwargs)
            for seq in to_py(sequences)
        ]

    # ----------------------------------------------------------------- save / load
    tokenizer_class_name = "AlbertTokenizer"  # transformers writes the slow class name for both

    def _config(self) -> dict[str, Any]:
        config = {
            "added_tokens_decoder": {str(i): tok.as_dict() for i, tok in sorted(self._added_tokens_decoder.items())},
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "do_lower_case": self.do_lower_case,
            "keep_accents": self.keep_accents,
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
            "remove_space": self.remove_space,
            "sp_model_kwargs": self.sp_model_kwargs,
            "tokenizer_class": self.tokenizer_class_name,
            "truncation_side": self.truncation_side,
        }
        config.update(self.special_tokens_map)
        return dict(sorted(config.items()))

    def _special_tokens_map_json(self) -> dict[str, Any]:
        def form(value: Any) -> Any:
            if isinstance(value, str):
                return value
            token = AddedToken.of(value).as_dict()
            token.pop("special")
            return token

        out: dict[str, Any] = {}
        for attr in sorted((*SPECIAL_TOKEN_ATTRS, "additional_special_tokens")):
            value = self._special_tokens_map.get(attr)
            if attr == "additional_special_tokens":
                if value:
                    out[attr] = [form(self._added_tokens_decoder.get(self._token_to_id(str(t)), t)) for t in value]
            elif value is not None:
                token = self._added_tokens_decoder.get(self._token_to_id(str(value)))
                stripped = token is not None and str(token) == str(value) and (token.lstrip or token.rstrip)
                out[attr] = form(token) if stripped else str(value)
        return out

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str]:
        """Write spiece.model (the original bytes when we have them) and return its path."""
        directory = pathlib.Path(save_directory)
        if not directory.is_dir():
            raise BridgeError("save_vocabulary needs an existing directory", file=directory)
        out = directory / ((filename_prefix + "-" if filename_prefix else "") + VOCAB_FILE)
        out.write_bytes(self.spm_model.serialize())
        return (str(out),)

    def save_pretrained(self, save_directory: str | os.PathLike, filename_prefix: str | None = None,
                        **kwargs: Any) -> tuple[str, ...]:
        """Write tokenizer_config.json, special_tokens_map.json, spiece.model and, with added tokens,
        added_tokens.json (transformers' layout)."""
        if kwargs.pop("push_to_hub", False):
            raise NotYetSupported("push_to_hub is not supported; albert_bridge never touches the network")
        kwargs.pop("legacy_format", None)
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {sorted(kwargs)}")
        directory = pathlib.Path(save_directory)
        if directory.exists() and not directory.is_dir():
            raise BridgeError("save_pretrained needs a directory, this is a file", file=directory)
        directory.mkdir(parents=True, exist_ok=True)
        prefix = filename_prefix + "-" if filename_prefix else ""
        payloads = [(CONFIG_FILE, self._config()), (SPECIAL_TOKENS_MAP_FILE, self._special_tokens_map_json())]
        written = []
        for name, payload in payloads:
            path = directory / (prefix + name)
            path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(str(path))
        written.extend(self.save_vocabulary(directory, filename_prefix))
        new = {tok.content: i for i, tok in self._added_tokens_decoder.items() if i >= self.vocab_size}
        if new:
            path = directory / (prefix + ADDED_TOKENS_FILE)
            path.write_text(json.dumps(new, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(str(path))
        written.extend(self._save_extra(directory, prefix))
        return tuple(written)

    def _save_extra(self, directory: pathlib.Path, prefix: str) -> list[str]:
        return []

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """Load from a local directory (spiece.model / *.model / tokenizer.json + configs), a .model file, or a Hub
        repo id `org/name[@revision]` (its tokenizer files, fetched into huggingface_hub's cache; a local path that
        exists wins). Keyword arguments override the saved config.
        """
        from albert_bridge.hub import FETCH_ARGUMENTS, resolve_pretrained
        from albert_bridge.tokenization.files import resolve_tokenizer_source

        fetching = {key: kwargs.pop(key) for key in FETCH_ARGUMENTS if key in kwargs}
        for key in ("use_fast", "trust_remote_code"):
            kwargs.pop(key, None)  # transformers' options that choose code: there is only ours
        source = resolve_tokenizer_source(resolve_pretrained(pretrained_model_name_or_path, fetching, tokenizer=True))
        init = dict(source.init_kwargs)
        init.update(kwargs)
        if source.vocab_file is not None:
            return cls(source.vocab_file, name_or_path=str(pretrained_model_name_or_path), **init)
        return cls._from_tokenizer_json(source.tokenizer_file, name_or_path=str(pretrained_model_name_or_path), **init)

    @classmethod
    def _from_tokenizer_json(cls, tokenizer_file: pathlib.Path, **kwargs: Any):
        from albert_bridge.tokenization.files import spm_model_from_tokenizer_json

        return cls(spm_model=spm_model_from_tokenizer_json(tokenizer_file), **kwargs)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"do_lower_case={self.do_lower_case}, remove_space={self.remove_space}, "
            f"keep_accents={self.keep_accents}, model_max_length={self.model_max_length})"
        )


def _around(values: list[list], fill: Any, add_special_tokens: bool) -> list:
    """Per-token values laid out like build_inputs_with_special_tokens: [CLS] A [SEP] (B [SEP])."""
    if not add_special_tokens:
        return [v for part in values for v in part]
    row = [fill]
    for part in values:
        row += list(part) + [fill]
    return row


def _special_property(attr: str) -> property:
    def get(self: AlbertTokenizerBase) -> str | None:
        value = self._special_tokens_map.get(attr)
        return None if value is None else str(value)

    def set_(self: AlbertTokenizerBase, value: Any) -> None:
        if value is not None and not isinstance(value, str) and not hasattr(value, "content"):
            raise InvalidInput(f"Cannot set a non-string value as the {attr}")
        self._special_tokens_map[attr] = value
        self._splitter = None  # the set of tokens kept from lowercasing changed

    return property(get, set_, doc=f"The {attr.replace('_', ' ')} string.")


def _special_id_property(attr: str) -> property:
    def get(self: AlbertTokenizerBase) -> int | None:
        value = self._special_tokens_map.get(attr)
        return None if value is None else self.convert_tokens_to_ids(str(value))

    def set_(self: AlbertTokenizerBase, value: int | None) -> None:
        setattr(self, attr, None if value is None else self.convert_ids_to_tokens(value))

    return property(get, set_, doc=f"The id of the {attr.replace('_', ' ')}.")


for _attr in SPECIAL_TOKEN_ATTRS:
    setattr(AlbertTokenizerBase, _attr, _special_property(_attr))
    setattr(AlbertTokenizerBase, _attr + "_id", _special_id_property(_attr))
