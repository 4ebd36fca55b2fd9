"""What a model run is fed and what it gives back, as numpy: the inputs the parity harness and the ONNX exporter's
validation build, and every model output (ours or transformers', PyTorch, TF, Flax) flattened to arrays by name.

- `make_inputs(head)`: a batch with padding (the last sequence loses its last third) and two segments (token type 1
  from the middle on); for multiple choice, choices of such sequences;
- `validation_inputs(ckpt)`: such a batch that fits a checkpoint's config (what written files are validated on);
- `flatten_outputs(output)`: float/int numpy arrays by name, `hidden_states.3` for tuple items.

The same seed gives the same bytes on every machine (numpy's PCG64).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .schema import HeadKind

if TYPE_CHECKING:
    from .checkpoint import Checkpoint

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def make_inputs(head: HeadKind | str, batch: int = 3, seq_len: int = 9, seed: int = 0, vocab_size: int = 99,
                num_choices: int = 2, dtype: str = "int64") -> dict[str, np.ndarray]:
    """input_ids, attention_mask, token_type_ids of shape [batch, seq_len] ([batch, num_choices, seq_len] for
    multiple choice, transformers' layout).

    Ids are drawn from [5, vocab_size) (clear of the special ids 0-4); the last sequence (the last choice of every
    example for multiple choice) is padded over its last third; token type 1 starts at seq_len // 2 + 1."""
    head = HeadKind.parse(head)
    if seq_len < 2 or batch < 1:
        raise ValueError(f"need batch >= 1 and seq_len >= 2, got batch {batch}, seq_len {seq_len}")
    rng = np.random.default_rng(seed)
    shape = (batch, num_choices, seq_len) if head is HeadKind.MULTIPLE_CHOICE else (batch, seq_len)
    ids = rng.integers(min(5, vocab_size - 1), vocab_size, shape)
    mask = np.ones(shape, np.int64)
    mask[..., -1, seq_len - max(1, seq_len // 3):] = 0
    types = np.zeros(shape, np.int64)
    types[..., seq_len // 2 + 1:] = 1
    return {name: array.astype(dtype) for name, array in
            (("input_ids", ids), ("attention_mask", mask), ("token_type_ids", types))}


def validation_inputs(ckpt: "Checkpoint", inputs: Iterable[str] = INPUT_NAMES) -> dict[str, np.ndarray]:
    """A padded two-segment batch (make_inputs) that fits the config."""
    c = ckpt.config
    batch = make_inputs(ckpt.head, batch=3, seq_len=max(2, min(9, c.max_position_embeddings)), vocab_size=c.vocab_size)
    batch["token_type_ids"] = np.minimum(batch["token_type_ids"], c.type_vocab_size - 1)
    return {name: batch[name] for name in inputs}


def to_numpy(value: Any) -> np.ndarray:
    """A PyTorch, TF, JAX or numpy array as numpy; bfloat16 and float16 become float32 (for comparing)."""
    if hasattr(value, "detach"):  # torch: no numpy bfloat16 there
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        return value.numpy()
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.dtype != np.float64 or array.dtype.name == "bfloat16":
        array = array.astype(np.float32)
    return array


def flatten_outputs(output: Any, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """A model output (a ModelOutput or a dict of arrays and tuples) as numpy arrays by name; tuple fields become
    `name.0`, `name.1`, ... (hidden states: index 0 is the embedding output, i+1 the output of layer i)."""
    flat: dict[str, np.ndarray] = {}
    for key in output.keys():
        value = output[key]
        if value is None or key in skip:
            continue
        if isinstance(value, (tuple, list)):
            flat.update({f"{key}.{i}": to_numpy(item) for i, item in enumerate(value)})
        else:
            flat[key] = to_numpy(value)
    return flat
