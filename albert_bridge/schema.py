"""The canonical ALBERT weight schema: every tensor of the model and its heads, declared once.

Canonical layout (documented once, used by every adapter):
- dense kernels are stored [in, out] (the TF1 / Keras / Flax orientation; PyTorch adapters transpose);
- embedding tables are [rows, E];
- LayerNorm parameters are `gamma` (scale) and `beta` (shift);
- the MLM decoder is tied to the word embeddings, so only its output bias is a tensor of its own.

Shapes are formulas over config symbols: V vocab, E embedding, H hidden, I intermediate, P positions,
T token types, C head outputs (num_labels; 1 for multiple choice). Keys carry named placeholders
`{g}` (hidden group) and `{k}` (inner layer of that group).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from .errors import BridgeError

if TYPE_CHECKING:
    from .config import AlbertConfig


class HeadKind(str, enum.Enum):
    BASE = "base"
    PRETRAINING = "pretraining"
    MASKED_LM = "masked-lm"
    SEQUENCE_CLASSIFICATION = "sequence-classification"
    MULTIPLE_CHOICE = "multiple-choice"
    TOKEN_CLASSIFICATION = "token-classification"
    QUESTION_ANSWERING = "question-answering"

    @classmethod
    def parse(cls, value: "str | HeadKind") -> "HeadKind":
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(h.value for h in cls)
            raise ValueError(f"unknown head {value!r} (expected one of: {names})") from None


# The model classes of the ALBERT documentation, one per head; the same names in transformers.
ARCHITECTURES = {
    HeadKind.BASE: "AlbertModel",
    HeadKind.PRETRAINING: "AlbertForPreTraining",
    HeadKind.MASKED_LM: "AlbertForMaskedLM",
    HeadKind.SEQUENCE_CLASSIFICATION: "AlbertForSequenceClassification",
    HeadKind.MULTIPLE_CHOICE: "AlbertForMultipleChoice",
    HeadKind.TOKEN_CLASSIFICATION: "AlbertForTokenClassification",
    HeadKind.QUESTION_ANSWERING: "AlbertForQuestionAnswering",
}


def head_from_architecture(name: str) -> HeadKind | None:
    """`AlbertForMaskedLM`, `TFAlbertForMaskedLM` and `FlaxAlbertForMaskedLM` all name the same head."""
    bare = re.sub(r"^(TF|Flax)", "", name)
    for head, arch in ARCHITECTURES.items():
        if arch == bare:
            return head
    return None


_ALL = frozenset(HeadKind)
# Transformers builds these heads on AlbertModel(add_pooling_layer=False): no pooler tensors.
_POOLED = _ALL - {HeadKind.MASKED_LM, HeadKind.TOKEN_CLASSIFICATION, HeadKind.QUESTION_ANSWERING}
_MLM = frozenset({HeadKind.PRETRAINING, HeadKind.MASKED_LM})
_CLASSIFIER = frozenset(
    {HeadKind.SEQUENCE_CLASSIFICATION, HeadKind.MULTIPLE_CHOICE, HeadKind.TOKEN_CLASSIFICATION}
)


@dataclass(frozen=True)
class TensorSpec:
    key: str                      # canonical key template
    shape: tuple[str, ...]        # formula per dimension, config symbols
    heads: frozenset              # heads that carry it
    layer: bool = False           # repeated for every (g, k)
    optional_if_e_equals_h: bool = False  # the original code makes no projection when E == H

    def instances(self, config: "AlbertConfig") -> Iterator[tuple[str, dict[str, int]]]:
        if not self.layer:
            yield self.key, {}
            return
        for g in range(config.num_hidden_groups):
            for k in range(config.inner_group_num):
                yield self.key.format(g=g, k=k), {"g": g, "k": k}


def _layer(suffix: str, shape: tuple[str, ...]) -> TensorSpec:
    return TensorSpec(f"encoder.group.{{g}}.inner.{{k}}.{suffix}", shape, _ALL, layer=True)


# THE table. Every adapter maps these keys, and nothing else, to its own names.
SCHEMA: tuple[TensorSpec, ...] = (
    TensorSpec("embeddings.word", ("V", "E"), _ALL),
    TensorSpec("embeddings.position", ("P", "E"), _ALL),
    TensorSpec("embeddings.token_type", ("T", "E"), _ALL),
    TensorSpec("embeddings.norm.gamma", ("E",), _ALL),
    TensorSpec("embeddings.norm.beta", ("E",), _ALL),
    TensorSpec("encoder.projection.kernel", ("E", "H"), _ALL, optional_if_e_equals_h=True),
    TensorSpec("encoder.projection.bias", ("H",), _ALL, optional_if_e_equals_h=True),
    _layer("attention.query.kernel", ("H", "H")),
    _layer("attention.query.bias", ("H",)),
    _layer("attention.key.kernel", ("H", "H")),
    _layer("attention.key.bias", ("H",)),
    _layer("attention.value.kernel", ("H", "H")),
    _layer("attention.value.bias", ("H",)),
    _layer("attention.output.kernel", ("H", "H")),
    _layer("attention.output.bias", ("H",)),
    _layer("attention.norm.gamma", ("H",)),
    _layer("attention.norm.beta", ("H",)),
    _layer("ffn.intermediate.kernel", ("H", "I")),
    _layer("ffn.intermediate.bias", ("I",)),
    _layer("ffn.output.kernel", ("I", "H")),
    _layer("ffn.output.bias", ("H",)),
    _layer("ffn.norm.gamma", ("H",)),
    _layer("ffn.norm.beta", ("H",)),
    TensorSpec("pooler.kernel", ("H", "H"), _POOLED),
    TensorSpec("pooler.bias", ("H",), _POOLED),
    TensorSpec("head.mlm.transform.kernel", ("H", "E"), _MLM),
    TensorSpec("head.mlm.transform.bias", ("E",), _MLM),
    TensorSpec("head.mlm.norm.gamma", ("E",), _MLM),
    TensorSpec("head.mlm.norm.beta", ("E",), _MLM),
    TensorSpec("head.mlm.output_bias", ("V",), _MLM),
    TensorSpec("head.sop.kernel", ("H", "C"), frozenset({HeadKind.PRETRAINING})),
    TensorSpec("head.sop.bias", ("C",), frozenset({HeadKind.PRETRAINING})),
    TensorSpec("head.classifier.kernel", ("H", "C"), _CLASSIFIER),
    TensorSpec("head.classifier.bias", ("C",), _CLASSIFIER),
    TensorSpec("head.qa.kernel", ("H", "C"), frozenset({HeadKind.QUESTION_ANSWERING})),
    TensorSpec("head.qa.bias", ("C",), frozenset({HeadKind.QUESTION_ANSWERING})),
)

SPECS_BY_TEMPLATE = {spec.key: spec for spec in SCHEMA}


def dims(config: "AlbertConfig", head: HeadKind) -> dict[str, int]:
    return {
        "V": config.vocab_size,
        "E": config.embedding_size,
        "H": config.hidden_size,
        "I": config.intermediate_size,
        "P": config.max_position_embeddings,
        "T": config.type_vocab_size,
        "C": 1 if head is HeadKind.MULTIPLE_CHOICE else config.num_labels,
    }


@dataclass(frozen=True)
class ExpectedTensor:
    key: str
    shape: tuple[int, ...]
    spec: TensorSpec
    required: bool


def expected_tensors(config: "AlbertConfig", head: HeadKind) -> dict[str, ExpectedTensor]:
    """Every canonical tensor a checkpoint of this config and head has, with its concrete shape."""
    sizes = dims(config, head)
    out: dict[str, ExpectedTensor] = {}
    for spec in SCHEMA:
        if head not in spec.heads:
            continue
        shape = tuple(sizes[symbol] for symbol in spec.shape)
        required = not (spec.optional_if_e_equals_h and config.embedding_size == config.hidden_size)
        for key, _ in spec.instances(config):
            out[key] = ExpectedTensor(key, shape, spec, required)
    return out


def infer_head(keys: "set[str] | frozenset[str]") -> HeadKind:
    """The head whose tensor set the canonical keys show; MLM+SOP beats MLM, classifier shape decides later."""
    if "head.sop.kernel" in keys:
        return HeadKind.PRETRAINING
    if "head.mlm.output_bias" in keys:
        return HeadKind.MASKED_LM
    if "head.qa.kernel" in keys:
        return HeadKind.QUESTION_ANSWERING
    if "head.classifier.kernel" in keys:
        # Without `architectures` a pooler tells sequence-level from token-level heads.
        return HeadKind.SEQUENCE_CLASSIFICATION if "pooler.kernel" in keys else HeadKind.TOKEN_CLASSIFICATION
    return HeadKind.BASE



# The config field each shape symbol stands for (dims() in reverse).
SYMBOL_FIELDS = {"V": "vocab_size", "E": "embedding_size", "H": "hidden_size", "I": "intermediate_size",
                 "P": "max_position_embeddings", "T": "type_vocab_size", "C": "num_labels"}


def config_from_tensors(config: "AlbertConfig", shapes: dict[str, tuple[int, ...]], head: HeadKind,
                        native: Callable[[str], tuple[str, tuple[int, ...]]], where: object = None
                        ) -> tuple["AlbertConfig", list[str]]:
    """The config with every field the tensors fix (the sizes in SCHEMA's shape formulas, the group and inner layer
    counts) taken from them where the config does not state it, with one note per field so taken (where the default
    would have been wrong). A stated value the tensors contradict is refused, naming both.

    `shapes`: canonical key -> shape; `native`: the source's name and shape for a canonical key, for the messages."""
    found: dict[str, tuple[int, str, str]] = {}  # field -> (value, canonical key, what the tensor shows)
    for spec in SCHEMA:
        key = spec.key.format(g=0, k=0)
        if head not in spec.heads or key not in shapes:
            continue
        for dim, symbol in enumerate(spec.shape):
            if not (symbol == "C" and head is HeadKind.MULTIPLE_CHOICE):  # one output per choice, whatever num_labels
                found.setdefault(SYMBOL_FIELDS[symbol], (shapes[key][dim], key, f"is {list(native(key)[1])}"))
    layers = [tuple(int(part) for part in key.split(".")[2:5:2]) for key in shapes if key.startswith("encoder.group.")]
    for field, axis in (("num_hidden_groups", 0), ("inner_group_num", 1)):
        if layers:
            last = max(layers, key=lambda gk: gk[axis])
            key = next(k for k in shapes if k.startswith(f"encoder.group.{last[0]}.inner.{last[1]}."))
            found[field] = (last[axis] + 1, key, f"is in the last {('group', 'inner layer')[axis]}")
    notes = []
    for field, (value, key, shows) in found.items():
        current, name = getattr(config, field), native(key)[0]
        if current == value:
            continue
        if config.states(field):
            raise BridgeError(f"the config says {field} {current}, but {name} {shows} ({field} {value})",
                              file=where, tensor=name)
        try:
            config = config.updated(**{field: value})  # a size from a header: bounded like any config change
        except BridgeError as exc:
            raise BridgeError(exc.message, file=where, tensor=name) from None
        notes.append(f"{field} {value} taken from {name} (the config does not say)")
    return config, notes
