"""The tokenizer base the slow and the fast ALBERT tokenizers share: special and added tokens, text
preprocessing, text -> ids and decoding; the encode API comes from `encoding`, save/load from `saving`.

The behaviour follows transformers 4.57's `AlbertTokenizer` (a `PreTrainedTokenizer`), including its quirks,
because that is what ALBERT checkpoints were fine-tuned with; where transformers' fast tokenizer answers
differently by design (overflowing tokens as extra rows, offsets, word ids) the fast tokenizer follows it.
Subclasses provide `_encode_segments` (text -> ids, the hot path), `_segment_pieces` (text -> pieces),
`_decode_pieces` and, for the fast one, `_chunk_word_ids` and `_text_offsets`.

Only the standard library is imported here; numpy/torch/tensorflow/jax load when tensors are requested.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from albert_bridge.errors import BridgeError
from albert_bridge.tokenization.added_tokens import AddedToken, AddedTokenSplitter, token_content
from albert_bridge.tokenization.batch import (
    VERY_LARGE_INTEGER,
    InvalidInput,
    Seq,
    to_py,
)
from albert_bridge.tokenization.files import (
    DEFAULT_SPECIAL_TOKENS,
    SPECIAL_TOKEN_ATTRS,
    VOCAB_FILE,
)
from albert_bridge.tokenization.chat_template import ChatTemplateAPI
from albert_bridge.tokenization.encoding import EncodingAPI
from albert_bridge.tokenization.saving import SaveLoad
from albert_bridge.tokenization.spm_model import SpmModel

logger = logging.getLogger(__name__)

SPIECE_UNDERLINE = "\u2581"


def import_tokenizers():
    """The `tokenizers` library, which the fast tokenizers run on (imported when one is built)."""
    try:
        import tokenizers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BridgeError("the fast tokenizers need `tokenizers` (pip install 'albert-bridge[text]')") from exc
    return tokenizers


class AlbertTokenizerBase(EncodingAPI, ChatTemplateAPI, SaveLoad):
    """Shared behaviour; see AlbertTokenizer / AlbertTokenizerFast. The encode API (`__call__`, padding,
    truncation) is in `encoding`, save/load in `saving`."""

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
        for key in kwargs:  # transformers sets unknown keywords as attributes, and refuses to shadow a method
            if callable(getattr(type(self), key, None)):
                raise AttributeError(f"{key} conflicts with the method {key} in {type(self).__name__}")
        self.chat_template = kwargs.pop("chat_template", None)
        self.init_inputs: tuple = ()  # transformers' positional constructor arguments; ours are all keywords
        # bos_token ... mask_token come as keywords; those not given take DEFAULT_SPECIAL_TOKENS (their one owner).
        given = {attr: kwargs.pop(attr, DEFAULT_SPECIAL_TOKENS[attr]) for attr in SPECIAL_TOKEN_ATTRS}
        # Like transformers' AlbertTokenizer, [MASK] strips whitespace on its left by default
        # ("a [MASK] b" keeps the space before "b" but not before the mask).
        if isinstance(given["mask_token"], str):
            given["mask_token"] = AddedToken(given["mask_token"], lstrip=True, normalized=False)
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
        # What transformers keeps as init_kwargs (and passes on in train_new_from_iterator).
        # (transformers keeps no vocab_file here: AlbertTokenizer's is a required argument, the fast one's optional)
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
        self._additional_unset = False
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
                self._additional_unset = False
            replaced = self._added_tokens_decoder.get(index)
            if replaced is not None and self._added_tokens_encoder.get(replaced.content) == index:
                del self._added_tokens_encoder[replaced.content]  # one token per id (a saved file may reuse an id)
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
                self._additional_unset = False
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
    def additional_special_tokens(self) -> list[str] | None:
        """None after `tokenizer.additional_special_tokens = None` (as in transformers), else a list."""
        if self._additional_unset:
            return None
        return [str(t) for t in self._special_tokens_map["additional_special_tokens"]]

    @additional_special_tokens.setter
    def additional_special_tokens(self, value: Sequence[Any] | None) -> None:
        if value is not None and (isinstance(value, str) or not all(isinstance(t, str) or hasattr(t, "content")
                                                                   for t in value)):
            raise InvalidInput("additional_special_tokens takes a list of str or AddedToken (or None)")
        self._additional_unset = value is None
        self._special_tokens_map["additional_special_tokens"] = list(value or [])
        self._splitter = None

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.additional_special_tokens or [])

    @additional_special_tokens_ids.setter
    def additional_special_tokens_ids(self, values: Sequence[int]) -> None:
        self.additional_special_tokens = [self.convert_ids_to_tokens(int(i)) for i in to_py(values)]

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 3 if pair else 2

    @property
    def max_len_single_sentence(self) -> int:
        """The longest text (in tokens) that fits model_max_length with [CLS] and [SEP]."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        """The longest pair (in tokens, both texts) that fits model_max_length with [CLS] and two [SEP]."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def _convert_token_to_id(self, token: str) -> int:
        """One piece's id in the SentencePiece vocabulary (<unk>'s id if absent), as AlbertTokenizer's."""
        return self._piece_to_id.get(token, self._unk_piece_id)

    def _convert_id_to_token(self, index: int) -> str:
        """The SentencePiece piece of `index`, as AlbertTokenizer's."""
        pieces = self.spm_model.pieces
        if not 0 <= int(index) < len(pieces):
            raise InvalidInput(f"token id must be in [0, {len(pieces)}), got {index}")
        return pieces[int(index)]

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
            t for t in self.additional_special_tokens or [] if self.convert_tokens_to_ids(t) >= self.vocab_size
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

    def prepare_seq2seq_batch(self, src_texts: list[str], tgt_texts: list[str] | None = None,
                              max_length: int | None = None, max_target_length: int | None = None,
                              padding: Any = "longest", return_tensors: str | None = None, truncation: Any = True,
                              **kwargs: Any):
        """transformers 4.57's deprecated helper (it warns the same way): the sources encoded, with the targets'
        input_ids as `labels`. ALBERT is an encoder; this is for code written against the generic API."""
        import warnings

        warnings.warn("`prepare_seq2seq_batch` is deprecated and will be removed in version 5 of HuggingFace "
                      "Transformers. Use the regular `__call__` method to prepare your inputs and targets.",
                      FutureWarning, stacklevel=2)
        kwargs.pop("src_lang", None)  # mBART's, ignored by every other tokenizer
        kwargs.pop("tgt_lang", None)
        if max_length is None:
            max_length = self.model_max_length
        inputs = self(src_texts, add_special_tokens=True, return_tensors=return_tensors, max_length=max_length,
                      padding=padding, truncation=truncation, **kwargs)
        if tgt_texts is None:
            return inputs
        labels = self(tgt_texts, add_special_tokens=True, return_tensors=return_tensors, padding=padding,
                      max_length=max_length if max_target_length is None else max_target_length,
                      truncation=truncation, **kwargs)
        inputs["labels"] = labels["input_ids"]
        return inputs

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"do_lower_case={self.do_lower_case}, remove_space={self.remove_space}, "
            f"keep_accents={self.keep_accents}, model_max_length={self.model_max_length})"
        )


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
