"""Checkpoints and inputs for tests, benchmarks and the parity harness: deterministic, framework-free (numpy).

- `make_checkpoint(head, seed)`: random canonical tensors of a tiny config made so that wrong transposes fail loudly
  (E, H, I and V all differ, G=2 groups of K=2 inner layers, L=5 not a multiple of G: layers 0-2 run group 0,
  layers 3-4 group 1), with non-zero biases and LayerNorms so a dropped or swapped one changes the logits;
- `official_config(size)`: the released ALBERT sizes, to fill with random weights at realistic scale;
- `make_inputs(head)`: a batch with padding and two segments (`albert_bridge.inputs`, which the harness uses);
- `make_labels(head, inputs, num_labels)`: labels for every head's loss;
- `flatten_outputs(output)`: any model output as numpy arrays by name (`albert_bridge.inputs`).

No module of the package imports this one: it is for tests, benchmarks and fixtures.

The same seed gives the same bytes on every machine (numpy's PCG64).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checkpoint import Checkpoint, LazyTensor, LoadReport
from .config import AlbertConfig
from .inputs import flatten_outputs, make_inputs, to_numpy  # noqa: F401 - the library's, re-exported for tests
from .schema import HeadKind, expected_tensors

TINY = dict(vocab_size=99, embedding_size=24, hidden_size=32, intermediate_size=40, num_attention_heads=4,
            num_hidden_layers=5, num_hidden_groups=2, inner_group_num=2, max_position_embeddings=40,
            type_vocab_size=2, hidden_act="gelu_new", num_labels=3,
            hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)

# The released ALBERT sizes (E=128, V=30000, one group of one layer), for benchmarks at realistic scale.
OFFICIAL_SIZES = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
    "xlarge": dict(hidden_size=2048, num_hidden_layers=24, num_attention_heads=16, intermediate_size=8192),
    "xxlarge": dict(hidden_size=4096, num_hidden_layers=12, num_attention_heads=64, intermediate_size=16384),
}


def tiny_config(**overrides: Any) -> AlbertConfig:
    return AlbertConfig(**{**TINY, **overrides}).validate()


def official_config(size: str, **overrides: Any) -> AlbertConfig:
    """An official size's config (dropout off, two labels), to fill with `make_checkpoint` random weights."""
    return tiny_config(**{"vocab_size": 30000, "embedding_size": 128, "max_position_embeddings": 512,
                          "num_hidden_groups": 1, "inner_group_num": 1, "num_labels": 2, "hidden_dropout_prob": 0.0,
                          "attention_probs_dropout_prob": 0.0, **OFFICIAL_SIZES[size], **overrides})


def head_config(head: HeadKind) -> AlbertConfig:
    """SOP and QA (start, end) have two outputs; the classifiers get three so C differs from 2."""
    return tiny_config(num_labels=2 if head in (HeadKind.PRETRAINING, HeadKind.QUESTION_ANSWERING) else 3)


def make_checkpoint(head: HeadKind | str = HeadKind.PRETRAINING, seed: int = 0, config: AlbertConfig | None = None,
                    dtype: str = "float32") -> Checkpoint:
    """Random canonical tensors of the right shapes; the same seed gives the same bytes everywhere."""
    head = HeadKind.parse(head)
    config = config or head_config(head)
    rng = np.random.default_rng(seed)
    tensors = {}
    for key, exp in expected_tensors(config, head).items():
        if key.endswith(".gamma"):
            value = 1.0 + 0.1 * rng.standard_normal(exp.shape)
        elif key.endswith((".beta", ".bias", "output_bias")):
            value = 0.1 * rng.standard_normal(exp.shape)
        elif key.startswith("embeddings."):
            value = 0.5 * rng.standard_normal(exp.shape)
        else:
            value = rng.standard_normal(exp.shape) / np.sqrt(exp.shape[0])
        tensors[key] = LazyTensor.of(value.astype(np.float32), f"generated: {key}")
    config.architectures = None
    return Checkpoint(config, head, tensors, LoadReport("generated", "generated")).cast(
        None if dtype == "float32" else dtype)


def make_labels(head: HeadKind | str, inputs: dict[str, np.ndarray], num_labels: int,
                seed: int = 1) -> dict[str, np.ndarray]:
    """Labels for the head's loss: -100 (ignored) at some token positions, QA positions partly outside the input."""
    head = HeadKind.parse(head)
    rng = np.random.default_rng(seed)
    ids = inputs["input_ids"]
    if head is HeadKind.PRETRAINING:
        labels = rng.integers(0, 99, ids.shape)
        labels[:, ::3] = -100
        return {"labels": labels, "sentence_order_label": rng.integers(0, 2, ids.shape[:1])}
    if head is HeadKind.MASKED_LM:
        labels = rng.integers(0, 99, ids.shape)
        labels[:, ::2] = -100
        return {"labels": labels}
    if head is HeadKind.SEQUENCE_CLASSIFICATION:
        return {"labels": rng.integers(0, num_labels, ids.shape[:1])}
    if head is HeadKind.MULTIPLE_CHOICE:
        return {"labels": rng.integers(0, ids.shape[1], ids.shape[:1])}
    if head is HeadKind.TOKEN_CLASSIFICATION:
        labels = rng.integers(0, num_labels, ids.shape)
        labels[0, :2] = -100
        return {"labels": labels}
    if head is HeadKind.QUESTION_ANSWERING:
        return {"start_positions": np.array([1, 4, 7]), "end_positions": np.array([3, 8, 2])}
    return {}
