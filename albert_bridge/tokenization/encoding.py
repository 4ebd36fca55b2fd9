"""The encode API of both tokenizers: `__call__`, `encode_plus`, `batch_encode_plus`, `encode`,
`prepare_for_model`, `pad`: truncation, special tokens, padding, overflowing windows, per-token metadata.

A mixin of `AlbertTokenizerBase`, which gives it the ids (`_encode_inputs`), the special tokens and the settings.
Overflowing tokens follow transformers: the slow tokenizer returns them in an `overflowing_tokens` column, the
fast one as extra rows with `overflow_to_sample_mapping` (tokenizers' windows).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from albert_bridge.errors import NotYetSupported
from albert_bridge.tokenization.batch import (
    META_KEYS,
    BatchEncoding,
    InvalidInput,
    Seq,
    overflow_windows,
    pad_columns,
    resolve_strategies,
    to_py,
    truncate_pair,
)
from albert_bridge.tokenization.batch import truncation_strategy as parse_truncation_strategy  # a parameter's name

logger = logging.getLogger(__name__)


class EncodingAPI:
    """Text (or ids) in, model inputs out; see the module docstring."""

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
        return truncate_pair(ids, pair_ids, num_tokens_to_remove, parse_truncation_strategy(truncation_strategy), stride,
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

    def _begin(self, arguments: dict[str, Any], kwargs: dict) -> tuple[bool, bool, tuple]:
        """What encode_plus and batch_encode_plus work out first from their arguments: whether words are given
        (is_split_into_words), whether the fast tokenizer tracks words (offsets, word ids and overflow windows need
        it), and the padding / truncation strategies with the effective max_length."""
        tracked = kwargs.pop("_track_words", False)  # the lazy word-ids call (see _lazy_meta)
        split_words = self._check_options(arguments["return_offsets_mapping"], kwargs)
        track = self.is_fast and (tracked or split_words or arguments["return_offsets_mapping"]
                                  or arguments["return_overflowing_tokens"])
        strategies = self._strategies(arguments["padding"], arguments["truncation"], arguments["max_length"],
                                      arguments["pad_to_multiple_of"], arguments["verbose"])
        return split_words, bool(track), strategies

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
        split_words, track, (pad, trunc, max_length) = self._begin(arguments, kwargs)
        inputs = [text] if text_pair is None else [text, text_pair]
        if not split_words and not all(isinstance(t, str) for t in inputs):
            raise InvalidInput("a single `text` (and `text_pair`) must be str; use is_split_into_words=True for words")
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
        split_words, track, (pad, trunc, max_length) = self._begin(arguments, kwargs)
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


def _around(values: list[list], fill: Any, add_special_tokens: bool) -> list:
    """Per-token values laid out like build_inputs_with_special_tokens: [CLS] A [SEP] (B [SEP])."""
    if not add_special_tokens:
        return [v for part in values for v in part]
    row = [fill]
    for part in values:
        row += list(part) + [fill]
    return row
