"""The layouts a TF1 tensor bundle of ALBERT comes in, told apart by one table of name signatures (LAYOUTS).

A row is a family: the variable names that must be present (and absent), a config value where the names cannot
tell (brightmart's `ln_type`), and either the mapping table it is read with or why it is refused. The first row
that fits wins; a bundle no row fits is refused with its most telling names. Adding a family is one row (plus its
mapping table, when it can be read).

brightmart/albert_zh (modeling.py, run_pretraining.py, run_classifier.py) computes, post-LN:
embeddings LN_H(word[V, E] @ word_embeddings_2[E, H] + position[P, H] + token_type[T, H]); one BERT post-LN layer
(`layer_shared`) run num_hidden_layers times; pooler dense + tanh; MLM: LN_H(act(dense H->H)) @ word_embeddings_2^T
@ word^T + output_bias; SOP and classifier: `output_weights` [C, H] (transpose_b) on the pooled output. That is
exactly an ALBERT with E = H (no E->H projection), one group of one inner layer, whose word embeddings are the
product word @ word_embeddings_2 (the MLM decoder is tied to the same product). The product is computed in float64
and rounded once to the stored dtype; it costs V*H parameters instead of V*E + E*H (21128 x 312 for albert_tiny_zh:
6.6M instead of 2.7M + 40k). Pre-LN checkpoints (`ln_type: "preln"`, same names and shapes) normalise before each
sublayer: transformers' ALBERT cannot compute that, so they are refused. A config without `ln_type` is read as
post-LN: brightmart's modeling.py treats a missing one so, and its checkpoints from before the key existed are post-LN.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..checkpoint import LazyTensor
from ..config import AlbertConfig
from ..errors import BridgeError
from . import tf2_objects
from .mapping import IDENTITY, TRANSPOSE, Mapping, Rule, Transform

_CANON = "encoder.group.{g}.inner.{k}."


def _dense(canonical: str, native: str, kernel: Transform = IDENTITY, weights: str = "kernel",
           bias: str = "bias") -> list[Rule]:
    return [Rule(f"{canonical}.kernel", f"{native}{weights}", kernel), Rule(f"{canonical}.bias", f"{native}{bias}")]


def _norm(canonical: str, native: str) -> list[Rule]:
    return [Rule(f"{canonical}.gamma", f"{native}/gamma"), Rule(f"{canonical}.beta", f"{native}/beta")]


_SLOTS = r"adam_m|adam_v|lamb_m|lamb_v|Adam|Adam_1|Momentum|Adagrad|RMSProp|RMSProp_1|ExponentialMovingAverage"
_SKIP = [
    (rf"/({_SLOTS})$", "optimizer slot"),
    (r"^(global_step|beta1_power|beta2_power)$", "training state"),
    (r"^(current_loss_scale|good_steps)$", "mixed-precision loss scale state"),
]
# Every layout's classifier: run_classifier's top-level [C, H] weights, applied with transpose_b.
_SEQUENCE_CLASSIFIER = _dense("head.classifier", "", TRANSPOSE, "output_weights", "output_bias")

# ---- google-research/albert: kernels [in, out] like the canonical ones, except `output_weights` ([out, in]) ------
_LAYER = "bert/encoder/transformer/group_{g}/inner_group_{k}/"
_EMBEDDINGS = [
    Rule("embeddings.word", "bert/embeddings/word_embeddings"),
    Rule("embeddings.position", "bert/embeddings/position_embeddings"),
    Rule("embeddings.token_type", "bert/embeddings/token_type_embeddings"),
    *_norm("embeddings.norm", "bert/embeddings/LayerNorm"),
]
_PRETRAINING_HEADS = [
    *_dense("pooler", "bert/pooler/dense/"),
    *_dense("head.mlm.transform", "cls/predictions/transform/dense/"),
    *_norm("head.mlm.norm", "cls/predictions/transform/LayerNorm"),
    Rule("head.mlm.output_bias", "cls/predictions/output_bias"),
    *_dense("head.sop", "cls/seq_relationship/", TRANSPOSE, "output_weights", "output_bias"),
]
_GOOGLE = [
    *_EMBEDDINGS,
    *_dense("encoder.projection", "bert/encoder/embedding_hidden_mapping_in/"),
    *_dense(_CANON + "attention.query", _LAYER + "attention_1/self/query/"),
    *_dense(_CANON + "attention.key", _LAYER + "attention_1/self/key/"),
    *_dense(_CANON + "attention.value", _LAYER + "attention_1/self/value/"),
    *_dense(_CANON + "attention.output", _LAYER + "attention_1/output/dense/"),
    *_norm(_CANON + "attention.norm", _LAYER + "LayerNorm"),
    *_dense(_CANON + "ffn.intermediate", _LAYER + "ffn_1/intermediate/dense/"),
    *_dense(_CANON + "ffn.output", _LAYER + "ffn_1/intermediate/output/dense/"),
    *_norm(_CANON + "ffn.norm", _LAYER + "LayerNorm_1"),
    *_PRETRAINING_HEADS,
    *_dense("head.qa", "cls/squad/", TRANSPOSE, "output_weights", "output_bias"),
]
# Token classification has no name in the original code: ours, which no original script restores by mistake.
_TOKEN_CLASSIFIER = _dense("head.classifier", "cls/token_classification/", TRANSPOSE, "output_weights", "output_bias")
# Reading accepts both classifier names; writing picks one by head (the first rule for a key wins).
GOOGLE_MAPPING = Mapping(_GOOGLE + _SEQUENCE_CLASSIFIER + _TOKEN_CLASSIFIER, skip=_SKIP)
GOOGLE_TOKEN_MAPPING = Mapping(_GOOGLE + _TOKEN_CLASSIFIER + _SEQUENCE_CLASSIFIER, skip=_SKIP)

# ---- brightmart/albert_zh: one shared BERT layer (native names without {g}/{k}: group 0, inner layer 0) ------------
_SHARED = "bert/encoder/layer_shared/"
_WORD, _PROJECTION = "bert/embeddings/word_embeddings", "bert/embeddings/word_embeddings_2"
BRIGHTMART_MAPPING = Mapping([
    *_EMBEDDINGS,  # embeddings.word: the folded product word_embeddings @ word_embeddings_2
    *_dense(_CANON + "attention.query", _SHARED + "attention/self/query/"),
    *_dense(_CANON + "attention.key", _SHARED + "attention/self/key/"),
    *_dense(_CANON + "attention.value", _SHARED + "attention/self/value/"),
    *_dense(_CANON + "attention.output", _SHARED + "attention/output/dense/"),
    *_norm(_CANON + "attention.norm", _SHARED + "attention/output/LayerNorm"),
    *_dense(_CANON + "ffn.intermediate", _SHARED + "intermediate/dense/"),
    *_dense(_CANON + "ffn.output", _SHARED + "output/dense/"),
    *_norm(_CANON + "ffn.norm", _SHARED + "output/LayerNorm"),
    *_PRETRAINING_HEADS,
    *_SEQUENCE_CLASSIFIER,
], skip=_SKIP)
# Keys of brightmart's BertConfig no ALBERT computation reads (the pooler_* ones configure nothing in its code).
_BRIGHTMART_ONLY_KEYS = ("ln_type", "directionality", "pooler_fc_size", "pooler_num_attention_heads",
                         "pooler_num_fc_layers", "pooler_size_per_head", "pooler_type")


def _fold_projection(native: dict[str, LazyTensor]) -> dict[str, LazyTensor]:
    """word_embeddings [V, E] @ word_embeddings_2 [E, H] as one [V, H] table (float64, rounded once)."""
    native = dict(native)
    word, projection = native.pop(_WORD, None), native.pop(_PROJECTION)
    if word is None:
        raise BridgeError(f"{_PROJECTION} without {_WORD}", file=projection.origin, tensor=_WORD)
    if len(word.shape) != 2 or len(projection.shape) != 2 or word.shape[1] != projection.shape[0]:
        raise BridgeError(f"is {list(projection.shape)}, which cannot project {_WORD} {list(word.shape)}",
                          file=projection.origin, tensor=_PROJECTION)

    def product() -> np.ndarray:
        return (word.read().astype(np.float64) @ projection.read().astype(np.float64)).astype(word.dtype)

    native[_WORD] = LazyTensor((word.shape[0], projection.shape[1]), word.dtype, product,
                               f"{word.origin} @ {_PROJECTION}")
    return native


def _brightmart_config(config: AlbertConfig, shapes: dict[str, tuple[int, ...]]) -> tuple[AlbertConfig, list[str]]:
    """brightmart's config in ALBERT's terms: E becomes H (the folded table), its own keys go."""
    (v, e), h = shapes[_WORD], shapes[_PROJECTION][1]
    if config.states("embedding_size") and config.embedding_size != e:
        raise BridgeError(f"the config says embedding_size {config.embedding_size}, but {_WORD} is [{v}, {e}]",
                          tensor=_WORD)
    dropped = [key for key in _BRIGHTMART_ONLY_KEYS if config.has_field(key)]
    config = config.without(*dropped).updated(embedding_size=h)
    notes = [f"embedding_size {h} (E = H): {_WORD} [{v}, {e}] @ {_PROJECTION} [{e}, {h}] stored as one [{v}, {h}] "
             f"table, computed in float64 and rounded once ({v * h:,} parameters instead of {v * e + e * h:,})"]
    if dropped:
        notes.append(f"config keys of brightmart's BertConfig no ALBERT model reads, dropped: {', '.join(dropped)}")
    return config, notes


# ---- the table ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    family: str                                  # what inspect and the conversion log call it
    present: tuple[str, ...]                     # regexes: each matches some variable name
    absent: tuple[str, ...] = ()                 # regexes: none matches any variable name
    config: tuple[tuple[str, object], ...] = ()  # (key, value) pairs the config holds (names cannot tell)
    mapping: Mapping | None = None               # None: recognised, and refused (or read by `loader`)
    refused: str = ""                            # why it cannot be read (mapping None)
    folded: tuple[str, ...] = ()                 # variables `fold` consumes, besides those the mapping maps
    fold: Callable[[dict[str, LazyTensor]], dict[str, LazyTensor]] | None = None  # native -> native, before mapping
    adapt: Callable[[AlbertConfig, dict[str, tuple[int, ...]]], tuple[AlbertConfig, list[str]]] | None = None
    loader: Callable | None = None               # (resolved source, head, config) -> Checkpoint: a reader of its own

    def fits(self, names: list[str], config: AlbertConfig | None) -> bool:
        return (all(any(re.search(p, n) for n in names) for p in self.present)
                and not any(re.search(p, n) for p in self.absent for n in names)
                and all(config is not None and getattr(config, key, None) == value for key, value in self.config))

    def knows(self, name: str) -> bool:
        return name in self.folded or (self.mapping is not None and self.mapping.canonical_name(name) is not None)


_GROUPS = r"^bert/encoder/transformer/group_\d+/inner_group_\d+/"
_MAPPING_IN = r"^bert/encoder/embedding_hidden_mapping_in/kernel$"
_BRIGHTMART = (r"^bert/encoder/layer_shared/", r"^bert/embeddings/word_embeddings_2$")

LAYOUTS: tuple[Layout, ...] = (
    Layout("google-research TF1", (_GROUPS, _MAPPING_IN), mapping=GOOGLE_MAPPING),
    Layout("Google zh (E = H, no projection)", (_GROUPS,), (_MAPPING_IN,), mapping=GOOGLE_MAPPING),
    Layout("brightmart pre-LN", _BRIGHTMART, config=(("ln_type", "preln"),),
           refused="a pre-LayerNorm brightmart/albert_zh checkpoint (ln_type 'preln'): transformers' ALBERT is "
                   "post-LayerNorm, so no ALBERT checkpoint computes the same; not supported"),
    Layout("brightmart post-LN", _BRIGHTMART, mapping=BRIGHTMART_MAPPING, folded=(_PROJECTION,),
           fold=_fold_projection, adapt=_brightmart_config),
    # Keys are object paths that depend on how the model was wrapped: its own reader finds the Keras names in the
    # bundle's object graph.
    Layout("TF2 object-based", (tf2_objects.SIGNATURE.pattern,),
           loader=tf2_objects.load),
)


def detect_layout(names: list[str], config: AlbertConfig | None) -> Layout | None:
    return next((layout for layout in LAYOUTS if layout.fits(names, config)), None)


def telling_names(shapes: dict[str, tuple[int, ...]], count: int = 5) -> list[str]:
    """The largest model variables (optimizer slots and training state left out): they show the architecture."""
    model = [n for n in shapes if GOOGLE_MAPPING.skip_reason(n) is None]
    ranked = sorted(model, key=lambda n: (-math.prod(shapes[n]), n))[:count]
    return [f"{n} {list(shapes[n])}" for n in ranked]


def unknown_layout(shapes: dict[str, tuple[int, ...]]) -> str:
    known = ", ".join(layout.family for layout in LAYOUTS)
    seen = "; ".join(telling_names(shapes)) or "no model variables"
    return f"not an ALBERT layout this tool knows ({known}); the most telling of its {len(shapes)} variables: {seen}"
