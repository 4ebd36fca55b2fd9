"""The encode machinery after text has become ids: BatchEncoding, the padding/truncation strategies, the two
truncation algorithms (transformers' Python one and the `tokenizers` windows its fast tokenizers use for
overflowing tokens) and padding. Standard library only; numpy/torch/tensorflow/jax load when tensors are asked for.
"""

from __future__ import annotations

from typing import Any

from albert_bridge.errors import BridgeError

# transformers' "no limit" defaults (tokenization_utils_base.VERY_LARGE_INTEGER / LARGE_INTEGER).
VERY_LARGE_INTEGER = int(1e30)
LARGE_INTEGER = int(1e20)


class InvalidInput(BridgeError, ValueError):
    """Bad arguments where transformers raises ValueError; catchable as either."""


def to_py(obj: Any) -> Any:
    """Tensors/arrays of ids (numpy, torch, tf, jax) -> Python ints/lists; Python lists pass through."""
    if isinstance(obj, list):
        if not obj or isinstance(obj[0], int):
            return obj
        return [to_py(o) for o in obj]
    if isinstance(obj, tuple):
        return [to_py(o) for o in obj]
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


# Per-row token metadata a fast tokenizer keeps beside the columns (transformers keeps `tokenizers.Encoding`s).
META_KEYS = ("word_ids", "sequence_ids")


class BatchEncoding(dict):
    """dict of model inputs with attribute access (`enc.input_ids`), like transformers' BatchEncoding.

    From a fast tokenizer it also answers `word_ids(i)` and `sequence_ids(i)`; from a slow one these raise
    ValueError, as in transformers.
    """

    def __init__(self, data: dict | None = None, tensor_type: str | None = None, prepend_batch_axis: bool = False,
                 meta: list[dict[str, list]] | None = None):
        super().__init__(data or {})
        self._meta = meta
        self.convert_to_tensors(tensor_type, prepend_batch_axis)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_meta":
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getstate__(self):
        return {"data": dict(self), "meta": self._resolved_meta()}

    def _resolved_meta(self) -> list[dict[str, list]] | None:
        if callable(self._meta):  # computed on first use (see AlbertTokenizerBase._lazy_meta)
            self._meta = self._meta()
        return self._meta

    def __setstate__(self, state):
        if "data" in state and "meta" in state:
            self.update(state["data"])
            self._meta = state["meta"]
        else:  # pickled before meta existed
            self.update(state)
            self._meta = None

    @property
    def is_fast(self) -> bool:
        return self._meta is not None

    def _row_meta(self, key: str, batch_index: int) -> list:
        if self._resolved_meta() is None:
            raise ValueError(
                f"{key}() is not available when using non-fast tokenizers (e.g. instance of a `XxxTokenizerFast`"
                " class)."
            )
        return list(self._meta[batch_index][key])

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """The word each token comes from (None for special tokens added around the sequence)."""
        return self._row_meta("word_ids", batch_index)

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """0 for tokens of the first sequence, 1 for the pair, None for added special tokens and padding."""
        return self._row_meta("sequence_ids", batch_index)

    def convert_to_tensors(self, tensor_type: str | None = None, prepend_batch_axis: bool = False) -> BatchEncoding:
        if tensor_type is None:
            return self
        tensor_type = getattr(tensor_type, "value", tensor_type)
        for key, value in self.items():
            if prepend_batch_axis:
                value = [value]
            ragged = isinstance(value, list) and value and isinstance(value[0], list) and len(set(map(len, value))) > 1
            if ragged:
                raise InvalidInput(
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


class Seq:
    """One encoded sequence: ids and, when a fast tokenizer tracks them, word indices and character offsets.
    Slicing slices all three, so the truncation code below works on it as on a list."""

    __slots__ = ("ids", "words", "offsets")

    def __init__(self, ids: list[int], words: list | None = None, offsets: list | None = None):
        self.ids, self.words, self.offsets = ids, words, offsets

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: slice) -> Seq:
        return Seq(self.ids[index], None if self.words is None else self.words[index],
                   None if self.offsets is None else self.offsets[index])


def padding_strategy(padding: Any) -> str:
    padding = getattr(padding, "value", padding)
    if padding is True or padding == "longest":
        return "longest"
    if padding is False or padding is None or padding == "do_not_pad":
        return "do_not_pad"
    if padding == "max_length":
        return "max_length"
    raise InvalidInput(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}")


def truncation_strategy(truncation: Any) -> str:
    truncation = getattr(truncation, "value", truncation)
    if truncation is True:
        return "longest_first"
    if truncation is False or truncation is None or truncation == "do_not_truncate":
        return "do_not_truncate"
    if truncation in ("longest_first", "only_first", "only_second"):
        return truncation
    raise InvalidInput(
        "truncation must be True, False, 'longest_first', 'only_first', 'only_second' or 'do_not_truncate', "
        f"got {truncation!r}"
    )


def resolve_strategies(padding: Any, truncation: Any, max_length: int | None, pad_to_multiple_of: int | None,
                       model_max_length: int, verbose: bool = True) -> tuple[str, str, int | None]:
    """tokenization_utils_base._get_padding_truncation_strategies, minus the deprecated options."""
    import warnings

    if max_length is not None and padding is False and truncation is None:
        truncation = "longest_first"  # transformers: max_length alone turns truncation on
    if padding is True and max_length is not None and truncation in (None, False, "do_not_truncate") and verbose:
        warnings.warn(
            "`max_length` is ignored when `padding`=`True` and there is no truncation strategy. "
            "To pad to max length, use `padding='max_length'`.",
            stacklevel=4,
        )
    pad = padding_strategy(padding)
    trunc = truncation_strategy(truncation)
    if max_length is None:
        if pad == "max_length":
            if model_max_length > LARGE_INTEGER:
                pad = "do_not_pad"  # no known maximum: transformers silently does not pad
            else:
                max_length = model_max_length
        if trunc != "do_not_truncate":
            if model_max_length > LARGE_INTEGER:
                trunc = "do_not_truncate"
            else:
                max_length = model_max_length
    if (trunc != "do_not_truncate" and pad != "do_not_pad" and pad_to_multiple_of is not None
            and max_length is not None and max_length % pad_to_multiple_of != 0):
        raise InvalidInput(
            f"Truncation and padding are both activated but truncation length ({max_length}) is not a "
            f"multiple of pad_to_multiple_of ({pad_to_multiple_of})."
        )
    return pad, trunc, max_length


def truncate_pair(ids, pair_ids, num_tokens_to_remove: int, strategy: str, stride: int, left: bool, log):
    """transformers' PreTrainedTokenizerBase.truncate_sequences on lists or `Seq`s: (ids, pair_ids, overflowing).

    Impossible requests are logged (`log(message)`), not raised, as in transformers."""
    if num_tokens_to_remove <= 0:
        return ids, pair_ids, ids[:0]
    overflowing = ids[:0]
    if strategy == "only_first" or (strategy == "longest_first" and pair_ids is None):
        if len(ids) > num_tokens_to_remove:
            window = min(len(ids), stride + num_tokens_to_remove)
            if left:
                overflowing, ids = ids[:window], ids[num_tokens_to_remove:]
            else:
                overflowing, ids = ids[-window:], ids[:-num_tokens_to_remove]
        else:
            message = (f"We need to remove {num_tokens_to_remove} to truncate the input but the first sequence has "
                       f"a length {len(ids)}. ")
            if strategy == "only_first":
                message += ("Please select another truncation strategy than only_first, for instance "
                            "'longest_first' or 'only_second'.")
            log(message)
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
            log(f"We need to remove {num_tokens_to_remove} to truncate the input but the second sequence has a "
                f"length {len(pair_ids)}. Please select another truncation strategy than only_second, for instance "
                "'longest_first' or 'only_first'.")
    return ids, pair_ids, overflowing


def windows(seq, max_len: int, stride: int, left: bool) -> list:
    """tokenizers' Encoding::truncate: the kept part first, then every overflowing window (`stride` tokens of
    overlap). Only called when the sequence is longer than max_len."""
    n = len(seq)
    if max_len == 0:
        return [seq[:0], seq]
    if stride >= max_len:
        raise InvalidInput(f"`stride` must be strictly less than `max_len={max_len}` (note that `max_len` may be "
                           "shorter than the max length of the original model, as it subtracts the number of special "
                           "characters")
    step = max_len - stride
    ranges = []
    if left:
        for stop in range(n, 0, -step):
            start = max(stop - max_len, 0)
            ranges.append((start, stop))
            if start == 0:
                break
    else:
        for start in range(0, n, step):
            stop = min(start + max_len, n)
            ranges.append((start, stop))
            if stop == n:
                break
    return [seq[a:b] for a, b in ranges]


def overflow_windows(first, second, max_length: int, strategy: str, stride: int, left: bool) -> list[tuple]:
    """tokenizers' truncate_encodings + Encoding::merge_with: every (first, second) window pair, kept one first.

    `max_length` excludes the special tokens the post-processor will add."""
    total = len(first) + (len(second) if second is not None else 0)
    if total <= max_length:
        return [(first, second)]
    firsts, seconds = [first], [second]
    if strategy == "longest_first":
        if second is None:
            firsts = windows(first, max_length, stride, left)
        else:
            n1, n2 = len(first), len(second)
            swap = n1 > n2
            if swap:
                n1, n2 = n2, n1
            n2 = n1 if n1 > max_length else max(n1, max_length - n1)
            if n1 + n2 > max_length:
                n1 = max_length // 2
                n2 = n1 + max_length % 2
            if swap:
                n1, n2 = n2, n1
            if len(first) > n1:
                firsts = windows(first, n1, stride, left)
            if len(second) > n2:
                seconds = windows(second, n2, stride, left)
    else:
        target = 0 if strategy == "only_first" else 1
        if target == 1 and second is None:
            raise InvalidInput("Truncation error: Second sequence not provided")
        seq = (first, second)[target]
        remove = total - max_length
        if len(seq) <= remove:
            raise InvalidInput("Truncation error: Sequence to truncate too short to respect the provided max_length")
        if target == 0:
            firsts = windows(first, len(first) - remove, stride, left)
        else:
            seconds = windows(second, len(second) - remove, stride, left)
    # Encoding::merge_with: the kept pair, each overflowing first with every second, then the kept first with
    # every overflowing second.
    rows = [(firsts[0], seconds[0])]
    for f in firsts[1:]:
        rows.extend((f, s) for s in seconds)
    rows.extend((firsts[0], s) for s in seconds[1:])
    return rows


# Padding values per column; per-row metadata pads with None.
PAD_FILLS = {"attention_mask": 0, "special_tokens_mask": 1, "offset_mapping": (0, 0)}


def pad_columns(data: dict[str, list[list]], max_length: int | None, pad: str, pad_to_multiple_of: int | None,
                right: bool, return_attention_mask: bool, fills: dict[str, Any]) -> dict:
    """PreTrainedTokenizerBase.pad/_pad on columns: data maps each key to one list per sequence. `fills` gives
    the values of input_ids and token_type_ids; keys without a fill (overflowing_tokens, ...) are left alone."""
    ids = data["input_ids"]
    if pad == "longest":
        max_length, pad = max(map(len, ids), default=0), "max_length"
    if max_length is not None and pad_to_multiple_of is not None and max_length % pad_to_multiple_of != 0:
        max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
    if return_attention_mask and "attention_mask" not in data:
        data["attention_mask"] = [[1] * len(row) for row in ids]
    if pad == "do_not_pad":
        return data
    fills = {**PAD_FILLS, **fills, **{key: None for key in META_KEYS}}
    for key, fill in fills.items():
        if key in data:
            # sequences longer than max_length stay as they are (no truncation here), as in transformers
            data[key] = [
                row if len(row) >= max_length else
                (row + [fill] * (max_length - len(row)) if right else [fill] * (max_length - len(row)) + row)
                for row in data[key]
            ]
    return data
