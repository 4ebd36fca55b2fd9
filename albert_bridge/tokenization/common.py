"""What the slow and the fast ALBERT tokenizers share: special tokens, text preprocessing, the encode
pipeline after ids are known (truncation, special tokens, padding, tensors), decoding and save/load.

The behaviour follows transformers 4.57's `AlbertTokenizer` (a `PreTrainedTokenizer`), including its
quirks, because that is what ALBERT checkpoints were fine-tuned with. Subclasses provide only
`_encode_segments` (text -> ids, the hot path), `_segment_pieces` (text -> pieces) and `_decode_pieces`.

Only the standard library is imported here; numpy/torch/tensorflow/jax load when tensors are requested.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from albert_bridge.errors import BridgeError, NotYetSupported
from albert_bridge.tokenization.spm_model import SpmModel

logger = logging.getLogger(__name__)

SPIECE_UNDERLINE = "\u2581"
VOCAB_FILE = "spiece.model"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
# transformers' "no limit" defaults (tokenization_utils_base.VERY_LARGE_INTEGER / LARGE_INTEGER).
VERY_LARGE_INTEGER = int(1e30)
LARGE_INTEGER = int(1e20)

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
)


def _lower_per_char(text: str) -> str:
    """transformers lowercases with re.sub(r"(special)|(.+?)", ...), i.e. one character at a time, so the
    context-dependent final sigma of str.lower() never happens ('ΟΔΟΣ' -> 'οδοσ', not 'οδος'). 'Σ' is the only
    context-sensitive mapping in CPython's str.lower, so whole-string lowering is exact without it."""
    if "\u03a3" not in text:
        return text.lower()
    return "".join([c.lower() for c in text])


def digit_comma_applies(piece: str) -> bool:
    """The ALBERT/BERT number rule: '▁9,' -> '▁9' + ','; pieces like '1,000' or ',' are left alone."""
    return len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit()


def _special_token_spec(value: Any) -> tuple[str, bool, bool]:
    """(content, lstrip, rstrip) from a str, a transformers AddedToken, or its JSON dict form."""
    if isinstance(value, str):
        return value, False, False
    if isinstance(value, dict):
        return value["content"], bool(value.get("lstrip", False)), bool(value.get("rstrip", False))
    if hasattr(value, "content"):
        return str(value.content), bool(getattr(value, "lstrip", False)), bool(getattr(value, "rstrip", False))
    raise BridgeError(f"special token must be a string or an AddedToken-like object, got {type(value).__name__}")


def _to_py(obj: Any) -> Any:
    """Tensors/arrays of ids (numpy, torch, tf, jax) -> Python ints/lists; Python lists pass through."""
    if isinstance(obj, list):
        if not obj or isinstance(obj[0], int):
            return obj
        return [_to_py(o) for o in obj]
    if isinstance(obj, tuple):
        return [_to_py(o) for o in obj]
    if hasattr(obj, "numpy") and not hasattr(obj, "tolist"):  # tf.Tensor
        obj = obj.numpy()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def _as_tensor(value: Any, tensor_type: str) -> Any:
    # Same constructors as transformers' BatchEncoding.convert_to_tensors, so dtypes match
    # (int64 for np/pt; tf.constant and jnp.array give int32 for Python ints).
    if tensor_type == "np":
        import numpy as np

        return np.asarray(value)
    if tensor_type == "pt":
        import torch

        return torch.tensor(value)
    if tensor_type == "tf":
        import tensorflow as tf

        return tf.constant(value)
    if tensor_type == "jax":
        import jax.numpy as jnp

        return jnp.array(value)
    raise BridgeError(f"return_tensors must be None, 'np', 'pt', 'tf' or 'jax', got {tensor_type!r}")


class BatchEncoding(dict):
    """dict of model inputs with attribute access (`enc.input_ids`), like transformers' BatchEncoding."""

    def __init__(self, data: dict | None = None, tensor_type: str | None = None, prepend_batch_axis: bool = False):
        super().__init__(data or {})
        self.convert_to_tensors(tensor_type, prepend_batch_axis)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getstate__(self):
        return dict(self)

    def __setstate__(self, state):
        self.update(state)

    def convert_to_tensors(self, tensor_type: str | None = None, prepend_batch_axis: bool = False) -> BatchEncoding:
        if tensor_type is None:
            return self
        tensor_type = getattr(tensor_type, "value", tensor_type)
        for key, value in self.items():
            if prepend_batch_axis:
                value = [value]
            ragged = isinstance(value, list) and value and isinstance(value[0], list) and len(set(map(len, value))) > 1
            if ragged:
                    raise BridgeError(
                        f"cannot make a {tensor_type!r} tensor of {key!r}: sequences have different lengths; "
                        "use padding=True or padding='max_length'"
                    )
            self[key] = _as_tensor(value, tensor_type)
        return self

    def to(self, device: Any) -> BatchEncoding:
        """Move PyTorch tensors to a device (no-op for other values)."""
        for key, value in self.items():
            if hasattr(value, "to"):
                self[key] = value.to(device)
        return self


def _padding_strategy(padding: Any) -> str:
    padding = getattr(padding, "value", padding)
    if padding is True or padding == "longest":
        return "longest"
    if padding is False or padding is None or padding == "do_not_pad":
        return "do_not_pad"
    if padding == "max_length":
        return "max_length"
    raise BridgeError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}")


def _truncation_strategy(truncation: Any) -> str:
    truncation = getattr(truncation, "value", truncation)
    if truncation is True:
        return "longest_first"
    if truncation is False or truncation is None or truncation == "do_not_truncate":
        return "do_not_truncate"
    if truncation in ("longest_first", "only_first", "only_second"):
        return truncation
    raise BridgeError(
        "truncation must be True, False, 'longest_first', 'only_first', 'only_second' or 'do_not_truncate', "
        f"got {truncation!r}"
    )


class AlbertTokenizerBase:
    """Shared behaviour; see AlbertTokenizer / AlbertTokenizerFast."""

    vocab_files_names: ClassVar[dict[str, str]] = {"vocab_file": VOCAB_FILE}
    model_input_names: ClassVar[list[str]] = ["input_ids", "token_type_ids", "attention_mask"]
    pad_token_type_id = 0

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
        vocab_file: str | os.PathLike | None = None,
        name_or_path: str = "",
    ):
        if padding_side not in ("right", "left") or truncation_side not in ("right", "left"):
            raise BridgeError("padding_side and truncation_side must be 'right' or 'left'")
        self.spm_model = spm_model
        self.do_lower_case = bool(do_lower_case)
        self.remove_space = bool(remove_space)
        self.keep_accents = bool(keep_accents)
        self.model_max_length = int(model_max_length)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.vocab_file = None if vocab_file is None else str(vocab_file)
        self.name_or_path = name_or_path
        self._piece_to_id = spm_model.piece_to_id()
        self._unk_id = spm_model.unk_id

        # Special tokens. Like transformers' AlbertTokenizer, [MASK] strips whitespace on its left by default
        # ("a [MASK] b" keeps the space before "b" but not before the mask).
        given = {
            "bos_token": bos_token,
            "eos_token": eos_token,
            "unk_token": unk_token,
            "sep_token": sep_token,
            "pad_token": pad_token,
            "cls_token": cls_token,
            "mask_token": mask_token,
        }
        self._special: dict[str, str] = {}
        self._strip: dict[str, tuple[bool, bool]] = {}  # content -> (lstrip, rstrip)
        for attr in SPECIAL_TOKEN_ATTRS:
            content, lstrip, rstrip = _special_token_spec(given[attr])
            if attr == "mask_token" and isinstance(given[attr], str):
                lstrip = True
            if content not in self._piece_to_id:
                raise BridgeError(
                    f"{attr} {content!r} is not in the SentencePiece vocabulary; adding tokens is not supported",
                    file=vocab_file,
                )
            self._special[attr] = content
            if content not in self._strip or lstrip or rstrip:
                self._strip[content] = (lstrip, rstrip)
        specials = sorted(set(self._special.values()), key=len, reverse=True)
        # Longest first, so the alternation behaves like transformers' trie (leftmost, then longest match).
        self._special_re = re.compile("(" + "|".join(map(re.escape, specials)) + ")")
        self._special_id = {tok: self._piece_to_id[tok] for tok in specials}
        self._special_starts = frozenset(tok[0] for tok in specials)

    # ----------------------------------------------------------------- vocabulary and special tokens
    @property
    def vocab_size(self) -> int:
        return len(self.spm_model.pieces)

    def __len__(self) -> int:
        return self.vocab_size

    def get_vocab(self) -> dict[str, int]:
        return {piece: i for i, piece in enumerate(self.spm_model.pieces)}

    @property
    def all_special_tokens(self) -> list[str]:
        return list(dict.fromkeys(self._special[a] for a in SPECIAL_TOKEN_ATTRS))

    @property
    def all_special_ids(self) -> list[int]:
        return [self._piece_to_id[t] for t in self.all_special_tokens]

    @property
    def special_tokens_map(self) -> dict[str, str]:
        return dict(self._special)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 3 if pair else 2

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | list[int]:
        if tokens is None:
            return None
        if isinstance(tokens, str):
            return self._piece_to_id.get(tokens, self._unk_id)
        return [self._piece_to_id.get(t, self._unk_id) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        pieces = self.spm_model.pieces
        ids = _to_py(ids)
        single = isinstance(ids, int)
        ids = [ids] if single else [int(i) for i in ids]
        if any(not 0 <= i < len(pieces) for i in ids):
            raise BridgeError(f"token ids must be in [0, {len(pieces)}), got {ids}")
        if single:
            return pieces[ids[0]]
        # transformers skips every special id here, <unk> included.
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [pieces[i] for i in ids if i not in skip]

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

    def _split_on_special_tokens(self, text: str) -> list[str | int]:
        """PreTrainedTokenizer.tokenize before the model runs: lowercase everything but special tokens (one
        char at a time), split on special tokens (found in the lowercased text, so '<PAD>' is the pad token),
        apply their lstrip/rstrip to the neighbours. Returns text segments and special-token ids."""
        if not isinstance(text, str):
            raise BridgeError(f"text input must be a str, got {type(text).__name__}")
        lowered = _lower_per_char(text) if self.do_lower_case else text
        if not any(c in lowered for c in self._special_starts):
            # Common case, no special token can occur: lowercasing the whole text is what transformers does.
            return [lowered] if lowered else []
        if self.do_lower_case:
            parts = self._special_re.split(text)
            text = "".join(p if i % 2 else _lower_per_char(p) for i, p in enumerate(parts))
        parts = self._special_re.split(text)  # [text, special, text, special, ..., text]
        for i in range(1, len(parts), 2):
            lstrip, rstrip = self._strip[parts[i]]
            if rstrip and i + 1 < len(parts):
                parts[i + 1] = parts[i + 1].lstrip()
            if lstrip:
                parts[i - 1] = parts[i - 1].rstrip()
        return [self._special_id[p] if i % 2 else p for i, p in enumerate(parts) if p]

    def tokenize(self, text: str, **kwargs: Any) -> list[str]:
        """Pieces as transformers' AlbertTokenizer.tokenize returns them (unknown text keeps its surface form)."""
        if kwargs:
            logger.warning("tokenize() ignores keyword arguments %s", sorted(kwargs))
        out: list[str] = []
        pieces = self.spm_model.pieces
        for part in self._split_on_special_tokens(text):
            if isinstance(part, int):
                out.append(pieces[part])
            else:
                out.extend(self._segment_pieces(part))
        return out

    def _encode_texts(self, texts: list[str]) -> list[list[int]]:
        """ids without special tokens for each text; segments of all texts are encoded in one batch."""
        split = [self._split_on_special_tokens(t) for t in texts]
        segments = [p for parts in split for p in parts if isinstance(p, str)]
        encoded = iter(self._encode_segments(segments))
        out = []
        for parts in split:
            ids: list[int] = []
            for p in parts:
                if isinstance(p, int):
                    ids.append(p)
                else:
                    ids.extend(next(encoded))
            out.append(ids)
        return out

    def _encode_segments(self, segments: list[str]) -> list[list[int]]:
        raise NotImplementedError

    def _segment_pieces(self, segment: str) -> list[str]:
        raise NotImplementedError

    def _decode_pieces(self, pieces: list[str]) -> str:
        raise NotImplementedError

    # ----------------------------------------------------------------- special tokens around sequences
    @property
    def cls_token_id(self) -> int:
        return self._piece_to_id[self.cls_token]

    @property
    def sep_token_id(self) -> int:
        return self._piece_to_id[self.sep_token]

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
                raise BridgeError("already_has_special_tokens=True takes one sequence that already holds them")
            special = set(self.all_special_ids)  # <unk> counts as special here, as in transformers
            return [1 if i in special else 0 for i in _to_py(token_ids_0)]
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
        """tokenization_utils_base._get_padding_truncation_strategies, minus the deprecated options."""
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"  # transformers: max_length alone turns truncation on
        if padding is True and max_length is not None and truncation in (None, False, "do_not_truncate") and verbose:
            warnings.warn(
                "`max_length` is ignored when `padding`=`True` and there is no truncation strategy. "
                "To pad to max length, use `padding='max_length'`.",
                stacklevel=3,
            )
        pad = _padding_strategy(padding)
        trunc = _truncation_strategy(truncation)
        if max_length is None:
            if pad == "max_length":
                if self.model_max_length > LARGE_INTEGER:
                    pad = "do_not_pad"  # no known maximum: transformers silently does not pad
                else:
                    max_length = self.model_max_length
            if trunc != "do_not_truncate":
                if self.model_max_length > LARGE_INTEGER:
                    trunc = "do_not_truncate"
                else:
                    max_length = self.model_max_length
        if (trunc != "do_not_truncate" and pad != "do_not_pad" and pad_to_multiple_of is not None
                and max_length is not None and max_length % pad_to_multiple_of != 0):
            raise BridgeError(
                f"Truncation and padding are both activated but truncation length ({max_length}) is not a "
                f"multiple of pad_to_multiple_of ({pad_to_multiple_of})."
            )
        return pad, trunc, max_length

    def truncate_sequences(
        self,
        ids: list[int],
        pair_ids: list[int] | None = None,
        num_tokens_to_remove: int = 0,
        truncation_strategy: str = "longest_first",
        stride: int = 0,
    ) -> tuple[list[int], list[int] | None, list[int]]:
        """Same arithmetic as transformers, including logging (not raising) when a strategy cannot fit."""
        if num_tokens_to_remove <= 0:
            return ids, pair_ids, []
        strategy = _truncation_strategy(truncation_strategy)
        left = self.truncation_side == "left"
        overflowing: list[int] = []
        if strategy == "only_first" or (strategy == "longest_first" and pair_ids is None):
            if len(ids) > num_tokens_to_remove:
                window = min(len(ids), stride + num_tokens_to_remove)
                if left:
                    overflowing, ids = ids[:window], ids[num_tokens_to_remove:]
                else:
                    overflowing, ids = ids[-window:], ids[:-num_tokens_to_remove]
            else:
                logger.error(
                    "We need to remove %d to truncate the input but the first sequence has a length %d.",
                    num_tokens_to_remove, len(ids),
                )
        elif strategy == "longest_first":
            len_pair, len_ids = len(pair_ids), len(ids)
            first_remove = min(abs(len_pair - len_ids), num_tokens_to_remove)
            second_remove = num_tokens_to_remove - first_remove
            if len_ids > len_pair:
                ids_to_move = first_remove + second_remove // 2
                pair_to_move = second_remove - second_remove // 2
            else:
                ids_to_move = second_remove // 2
                pair_to_move = first_remove + second_remove - second_remove // 2
            if left:
                ids, pair_ids = ids[ids_to_move:], pair_ids[pair_to_move:]
            else:
                ids = ids[:-ids_to_move] if ids_to_move > 0 else ids
                pair_ids = pair_ids[:-pair_to_move] if pair_to_move > 0 else pair_ids
        elif strategy == "only_second" and pair_ids is not None:
            if len(pair_ids) > num_tokens_to_remove:
                window = min(len(pair_ids), stride + num_tokens_to_remove)
                if left:
                    overflowing, pair_ids = pair_ids[:window], pair_ids[num_tokens_to_remove:]
                else:
                    overflowing, pair_ids = pair_ids[-window:], pair_ids[:-num_tokens_to_remove]
            else:
                logger.error(
                    "We need to remove %d to truncate the input but the second sequence has a length %d.",
                    num_tokens_to_remove, len(pair_ids),
                )
        return ids, pair_ids, overflowing

    def _prepare(self, ids, pair_ids, add_special_tokens, trunc, max_length, return_token_type_ids,
                 return_special_tokens_mask) -> dict[str, list[int]]:
        """prepare_for_model without padding: truncate, add special tokens, build the side outputs."""
        pair = pair_ids is not None
        total = len(ids) + (len(pair_ids) if pair else 0) + (self.num_special_tokens_to_add(pair) if add_special_tokens else 0)
        if trunc != "do_not_truncate" and max_length and total > max_length:
            ids, pair_ids, _ = self.truncate_sequences(ids, pair_ids, total - max_length, trunc)
        if add_special_tokens:
            sequence = self.build_inputs_with_special_tokens(ids, pair_ids)
            type_ids = self.create_token_type_ids_from_sequences(ids, pair_ids)
        else:
            sequence = ids + pair_ids if pair else list(ids)
            type_ids = [0] * len(sequence)
        out = {"input_ids": sequence}
        if return_token_type_ids:
            out["token_type_ids"] = type_ids
        if return_special_tokens_mask:
            out["special_tokens_mask"] = (
                self.get_special_tokens_mask(ids, pair_ids) if add_special_tokens else [0] * len(sequence)
            )
        return out

    def prepare_for_model(
        self,
        ids: list[int],
        pair_ids: list[int] | None = None,
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
        prepend_batch_axis: bool = False,
        **kwargs: Any,
    ) -> BatchEncoding:
        self._refuse_unsupported(stride, return_overflowing_tokens, return_offsets_mapping, kwargs)
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of, verbose)
        return self._prepare_one(
            list(ids), None if pair_ids is None else list(pair_ids), add_special_tokens, pad, trunc, max_length,
            pad_to_multiple_of, padding_side, return_tensors, return_token_type_ids, return_attention_mask,
            return_special_tokens_mask, return_length, prepend_batch_axis,
        )

    def _prepare_one(self, ids, pair_ids, add_special_tokens, pad, trunc, max_length, pad_to_multiple_of,
                     padding_side, return_tensors, return_token_type_ids, return_attention_mask,
                     return_special_tokens_mask, return_length, prepend_batch_axis) -> BatchEncoding:
        if return_token_type_ids and not add_special_tokens:  # checked before the default, as in transformers
            raise BridgeError("return_token_type_ids=True needs add_special_tokens=True (as in transformers)")
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        out = self._prepare(ids, pair_ids, add_special_tokens, trunc, max_length, return_token_type_ids,
                            return_special_tokens_mask)
        self._warn_if_too_long(out["input_ids"], max_length, verbose=True)
        if pad != "do_not_pad" or return_attention_mask:
            columns = self._pad_batch({k: [v] for k, v in out.items()}, max_length, pad, pad_to_multiple_of,
                                      padding_side, return_attention_mask)
            out = {k: v[0] for k, v in columns.items()}
        if return_length:
            out["length"] = len(out["input_ids"])  # single input: after padding, as in transformers
        return BatchEncoding(out, tensor_type=return_tensors, prepend_batch_axis=prepend_batch_axis)

    def _warn_if_too_long(self, ids: list[int], max_length: int | None, verbose: bool) -> None:
        if max_length is None and len(ids) > self.model_max_length and verbose:
            logger.warning(
                "Token indices sequence length is longer than the specified maximum sequence length for this "
                "model (%d > %d). Running this sequence through the model will result in indexing errors",
                len(ids), self.model_max_length,
            )

    def _pad_batch(self, data: dict[str, list[list[int]]], max_length: int | None, pad: str,
                   pad_to_multiple_of: int | None, padding_side: str | None, return_attention_mask: bool) -> dict:
        """PreTrainedTokenizerBase.pad/_pad on columns: data maps each key to one list per sequence."""
        ids = data["input_ids"]
        if pad == "longest":
            max_length, pad = max(map(len, ids), default=0), "max_length"
        if max_length is not None and pad_to_multiple_of is not None and max_length % pad_to_multiple_of != 0:
            max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
        if return_attention_mask and "attention_mask" not in data:
            data["attention_mask"] = [[1] * len(row) for row in ids]
        if pad == "do_not_pad":
            return data
        right = (padding_side or self.padding_side) == "right"
        fills = {
            "input_ids": self._piece_to_id[self.pad_token],
            "attention_mask": 0,
            "token_type_ids": self.pad_token_type_id,
            "special_tokens_mask": 1,
        }
        for key, fill in fills.items():
            if key in data:
                # sequences longer than max_length stay as they are (no truncation here), as in transformers
                data[key] = [
                    row if len(row) >= max_length else
                    (row + [fill] * (max_length - len(row)) if right else [fill] * (max_length - len(row)) + row)
                    for row in data[key]
                ]
        return data

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
        data = {k: _to_py(v) for k, v in dict(encoded_inputs).items()}
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        pad, _, max_length = self._strategies(padding, False, max_length, pad_to_multiple_of, verbose)
        ids = data["input_ids"]
        single = not ids or not isinstance(ids[0], list)
        if single:
            data = {k: [v] for k, v in data.items()}
        data = self._pad_batch(data, max_length, pad, pad_to_multiple_of, padding_side, return_attention_mask)
        if single:
            data = {k: v[0] for k, v in data.items()}
        return BatchEncoding(data, tensor_type=return_tensors)

    @staticmethod
    def _refuse_unsupported(stride: int, return_overflowing_tokens: bool, return_offsets_mapping: bool,
                            kwargs: dict) -> None:
        if stride or return_overflowing_tokens:
            raise NotYetSupported("stride / return_overflowing_tokens are not supported by albert_bridge tokenizers")
        if return_offsets_mapping:
            raise NotYetSupported("return_offsets_mapping is not supported by albert_bridge tokenizers")
        if kwargs.pop("is_split_into_words", False):
            raise NotYetSupported("is_split_into_words is not supported by albert_bridge tokenizers")
        for key in ("text_target", "text_pair_target"):
            if kwargs.pop(key, None) is not None:
                raise NotYetSupported(f"{key} is not supported by albert_bridge tokenizers")
        if kwargs.pop("split_special_tokens", False):
            raise NotYetSupported("split_special_tokens=True is not supported by albert_bridge tokenizers")
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {sorted(kwargs)}")

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
        """Encode a text, a pair, a batch of texts or a batch of pairs (list of 2-tuples, or text + text_pair lists)."""
        if text is None:
            raise BridgeError("you need to give `text`")
        common = dict(
            add_special_tokens=add_special_tokens, padding=padding, truncation=truncation, max_length=max_length,
            stride=stride, pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
            return_tensors=return_tensors, return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask, return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask, return_offsets_mapping=return_offsets_mapping,
            return_length=return_length, verbose=verbose, **kwargs,
        )
        if isinstance(text, (list, tuple)):
            if text_pair is not None:
                if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text):
                    raise BridgeError("batched `text` needs a `text_pair` list of the same length")
                batch = list(zip(text, text_pair))
            else:
                batch = list(text)
            return self.batch_encode_plus(batch, **common)
        if text_pair is not None and not isinstance(text_pair, str):
            raise BridgeError("a single `text` takes a single str `text_pair`")
        return self.encode_plus(text, text_pair, **common)

    def encode_plus(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True,
                    padding: Any = False, truncation: Any = None, max_length: int | None = None, stride: int = 0,
                    pad_to_multiple_of: int | None = None, padding_side: str | None = None,
                    return_tensors: str | None = None, return_token_type_ids: bool | None = None,
                    return_attention_mask: bool | None = None, return_overflowing_tokens: bool = False,
                    return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                    return_length: bool = False, verbose: bool = True, **kwargs: Any) -> BatchEncoding:
        self._refuse_unsupported(stride, return_overflowing_tokens, return_offsets_mapping, kwargs)
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of, verbose)
        texts = [text] if text_pair is None else [text, text_pair]
        encoded = self._encode_texts(texts)
        return self._prepare_one(
            encoded[0], encoded[1] if text_pair is not None else None, add_special_tokens, pad, trunc, max_length,
            pad_to_multiple_of, padding_side, return_tensors, return_token_type_ids, return_attention_mask,
            return_special_tokens_mask, return_length, prepend_batch_axis=return_tensors is not None,
        )

    def batch_encode_plus(self, batch_text_or_text_pairs: Sequence[str | Sequence[str]],
                          add_special_tokens: bool = True, padding: Any = False, truncation: Any = None,
                          max_length: int | None = None, stride: int = 0, pad_to_multiple_of: int | None = None,
                          padding_side: str | None = None, return_tensors: str | None = None,
                          return_token_type_ids: bool | None = None, return_attention_mask: bool | None = None,
                          return_overflowing_tokens: bool = False, return_special_tokens_mask: bool = False,
                          return_offsets_mapping: bool = False, return_length: bool = False, verbose: bool = True,
                          **kwargs: Any) -> BatchEncoding:
        self._refuse_unsupported(stride, return_overflowing_tokens, return_offsets_mapping, kwargs)
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of, verbose)
        if return_token_type_ids and not add_special_tokens:  # checked before the default, as in transformers
            raise BridgeError("return_token_type_ids=True needs add_special_tokens=True (as in transformers)")
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        firsts, seconds = [], []
        for item in batch_text_or_text_pairs:
            if isinstance(item, str):
                firsts.append(item)
                seconds.append(None)
            elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(t, str) for t in item):
                firsts.append(item[0])
                seconds.append(item[1])
            else:
                raise BridgeError(f"batch items must be str or a (text, text_pair) pair of str, got {item!r}")
        flat = firsts + [s for s in seconds if s is not None]
        encoded = self._encode_texts(flat)
        pair_iter = iter(encoded[len(firsts):])
        columns: dict[str, list] = {}
        for ids, second in zip(encoded, seconds):
            row = self._prepare(ids, None if second is None else next(pair_iter), add_special_tokens, trunc,
                                max_length, return_token_type_ids, return_special_tokens_mask)
            self._warn_if_too_long(row["input_ids"], max_length, verbose)
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
        if not columns:
            return BatchEncoding({"input_ids": []}, tensor_type=return_tensors)
        if return_length:  # batch: lengths before padding, as in the slow transformers path
            columns["length"] = [len(row) for row in columns["input_ids"]]
        columns = self._pad_batch(columns, max_length, pad, pad_to_multiple_of, padding_side, return_attention_mask)
        return BatchEncoding(columns, tensor_type=return_tensors)

    def encode(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True, padding: Any = False,
               truncation: Any = None, max_length: int | None = None, stride: int = 0,
               return_tensors: str | None = None, **kwargs: Any) -> list[int] | Any:
        enc = self.encode_plus(text, text_pair, add_special_tokens=add_special_tokens, padding=padding,
                               truncation=truncation, max_length=max_length, stride=stride,
                               return_tensors=return_tensors, **kwargs)
        return enc["input_ids"]

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
        tokens = self.convert_ids_to_tokens(token_ids, skip_special_tokens=skip_special_tokens)
        if isinstance(tokens, str):
            tokens = [tokens]
        if skip_special_tokens:
            special = set(self.all_special_tokens)
            tokens = [t for t in tokens if t not in special]
        # Every added token is special for ALBERT, so transformers joins a single sub-text here.
        text = self.convert_tokens_to_string(tokens) if tokens else ""
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return self.clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(self, sequences: Sequence[Sequence[int]] | Any, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs: Any) -> list[str]:
        return [
            self.decode(seq, skip_special_tokens=skip_special_tokens,
                        clean_up_tokenization_spaces=clean_up_tokenization_spaces, **kwargs)
            for seq in _to_py(sequences)
        ]

    # ----------------------------------------------------------------- save / load
    tokenizer_class_name = "AlbertTokenizer"  # transformers writes the slow class name for both

    def _config(self) -> dict[str, Any]:
        added = {}
        for content in self.all_special_tokens:
            lstrip, rstrip = self._strip[content]
            added[str(self._piece_to_id[content])] = {
                "content": content, "lstrip": lstrip, "normalized": False, "rstrip": rstrip,
                "single_word": False, "special": True,
            }
        config = {
            "added_tokens_decoder": dict(sorted(added.items(), key=lambda kv: int(kv[0]))),
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "do_lower_case": self.do_lower_case,
            "keep_accents": self.keep_accents,
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
            "remove_space": self.remove_space,
            "sp_model_kwargs": {},
            "tokenizer_class": self.tokenizer_class_name,
            "truncation_side": self.truncation_side,
        }
        config.update(self._special)
        return dict(sorted(config.items()))

    def _special_tokens_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr in sorted(SPECIAL_TOKEN_ATTRS):
            content = self._special[attr]
            lstrip, rstrip = self._strip[content]
            if lstrip or rstrip:
                out[attr] = {"content": content, "lstrip": lstrip, "normalized": False, "rstrip": rstrip,
                             "single_word": False}
            else:
                out[attr] = content
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
        """Write tokenizer_config.json, special_tokens_map.json and spiece.model (transformers' layout)."""
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
        written = []
        for name, payload in ((CONFIG_FILE, self._config()), (SPECIAL_TOKENS_MAP_FILE, self._special_tokens_map())):
            path = directory / (prefix + name)
            path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(str(path))
        written.extend(self.save_vocabulary(directory, filename_prefix))
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


def _special_property(attr: str) -> property:
    def get(self: AlbertTokenizerBase) -> str:
        return self._special[attr]

    return property(get, doc=f"The {attr.replace('_', ' ')} string.")


def _special_id_property(attr: str) -> property:
    def get(self: AlbertTokenizerBase) -> int:
        return self._piece_to_id[self._special[attr]]

    return property(get, doc=f"The id of the {attr.replace('_', ' ')}.")


for _attr in SPECIAL_TOKEN_ATTRS:
    setattr(AlbertTokenizerBase, _attr, _special_property(_attr))
    if _attr not in ("cls_token", "sep_token"):
        setattr(AlbertTokenizerBase, _attr + "_id", _special_id_property(_attr))
