"""TF2 object-based ALBERT checkpoints (TF Model Garden, TF Hub `albert_en_*` SavedModels), read without TensorFlow.

The container is the TF1 tensor bundle (tf_bundle.py); the names are not. `tf.train.Checkpoint` keys a variable by
the first object path that reaches it (`encoder/layer_with_weights-5/_attention_layer/_query_dense/kernel/
.ATTRIBUTES/VARIABLE_VALUE`), and a SavedModel often by its slot in a tracked list (`variables/7/.ATTRIBUTES/...`):
both depend on how the model was wrapped, so neither is a stable name. Every such bundle also holds
`_CHECKPOINTABLE_OBJECT_GRAPH`, a TrackableObjectGraph proto whose SerializedTensor records pair each checkpoint key
with the variable's Keras name (`full_name`: `transformer/self_attention/query/kernel`), the names that
tf2_albert_encoder_checkpoint_converter.py documents. The table below maps those names.

What Model Garden's ALBERT carries (official/nlp/modeling): AlbertEncoder (one shared TransformerEncoderBlock, so
G = K = 1; `pooler_transform` is the tanh pooler), BertPretrainerV2's MaskedLM (`cls/predictions`, under a `bert/`
scope; its decoder is the tied word embedding table) and its sentence-order ClassificationHead `next_sentence`
(own tanh `pooler_dense` + `logits`: read as the pooler and the SOP head, the encoder's untrained pooler_transform
skipped), and BertClassifier's `sentence_prediction/logits` (on the encoder's pooled output, or on its own
`pooler_dense`). Attention kernels are EinsumDense [H, heads, head_size] (output [heads, head_size, H]),
biases [heads, head_size]: merged into the canonical [in, out] / [out]. Optimizer variables (`optimizer/...`, slots
under `.OPTIMIZER_SLOT`) and `save_counter` are skipped, with the reason.

Sources are resolved by the TF1 adapter (directory, prefix, SavedModel folder, or a release `albert_*.tar.gz` read as
a stream: there the object graph arrives in the one pass that reads every tensor, so all are read at load). The
config is not in the bundle: releases ship albert_config.json beside the checkpoint (found as for TF1); TF Hub's
SavedModels have none (pass --config). This module is read-only: writing goes through the TF1 adapter.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..checkpoint import Checkpoint, LazyTensor, LoadReport
from ..config import ORIGINAL_CONFIG_NAME, AlbertConfig
from ..errors import BridgeError, ConfigMissing
from ..protowire import WireError, known_fields
from ..schema import HeadKind, expected_tensors, head_from_architecture, infer_head
from .mapping import IDENTITY, Transform

DESCRIBE = "TF2 object-based: TF Model Garden checkpoint or TF Hub SavedModel variables"
OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
# The signature (the TF1 adapter's layout table uses it): object-path keys, which TF1 name-based keys never are, or
# the object graph itself.
SIGNATURE = re.compile(rf"/\.ATTRIBUTES/|(^|/)layer_with_weights-\d+/|^{OBJECT_GRAPH}$")


def matches(names: list[str]) -> bool:
    return any(SIGNATURE.search(n) for n in names)


# ---- the attention reshapes: EinsumDense per-head layouts <-> canonical 2-D ------------------------------------------

def _heads_in(heads: int) -> Transform:
    """Q/K/V kernel [H, heads, D] <-> [H, heads*D]."""
    return Transform("merge heads (out)", lambda a: a.reshape(a.shape[0], heads, -1), lambda a: a.reshape(a.shape[0], -1),
                     lambda s: (s[0], heads, s[1] // heads), lambda s: (s[0], s[1] * s[2]))


def _heads_bias(heads: int) -> Transform:
    """Q/K/V bias [heads, D] <-> [heads*D]."""
    return Transform("merge heads (bias)", lambda a: a.reshape(heads, -1), lambda a: a.reshape(-1),
                     lambda s: (heads, s[0] // heads), lambda s: (s[0] * s[1],))


def _heads_out(heads: int) -> Transform:
    """Attention output kernel [heads, D, H] <-> [heads*D, H]."""
    return Transform("merge heads (in)", lambda a: a.reshape(heads, -1, a.shape[-1]), lambda a: a.reshape(-1, a.shape[-1]),
                     lambda s: (heads, s[0] // heads, s[1]), lambda s: (s[0] * s[1], s[2]))


# ---- the table: Keras variable name (full_name) -> canonical key, transform ------------------------------------------
_LAYER = "encoder.group.0.inner.0."  # Model Garden's AlbertEncoder has one shared layer
_IN, _BIAS, _OUT = "heads_in", "heads_bias", "heads_out"


def _dense(native: str, canonical: str, kernel: str | None = None, bias: str | None = None) -> list:
    return [(f"{native}/kernel", f"{canonical}.kernel", kernel), (f"{native}/bias", f"{canonical}.bias", bias)]


def _norm(native: str, canonical: str) -> list:
    return [(f"{native}/gamma", f"{canonical}.gamma", None), (f"{native}/beta", f"{canonical}.beta", None)]


TABLE: tuple[tuple[str, str, str | None], ...] = (
    ("word_embeddings/embeddings", "embeddings.word", None),
    ("position_embedding/embeddings", "embeddings.position", None),
    ("type_embeddings/embeddings", "embeddings.token_type", None),
    *_norm("embeddings/layer_norm", "embeddings.norm"),
    *_dense("embedding_projection", "encoder.projection"),
    *_dense("transformer/self_attention/query", _LAYER + "attention.query", _IN, _BIAS),
    *_dense("transformer/self_attention/key", _LAYER + "attention.key", _IN, _BIAS),
    *_dense("transformer/self_attention/value", _LAYER + "attention.value", _IN, _BIAS),
    *_dense("transformer/self_attention/attention_output", _LAYER + "attention.output", _OUT),
    *_norm("transformer/self_attention_layer_norm", _LAYER + "attention.norm"),
    *_dense("transformer/intermediate", _LAYER + "ffn.intermediate"),
    *_dense("transformer/output", _LAYER + "ffn.output"),
    *_norm("transformer/output_layer_norm", _LAYER + "ffn.norm"),
    *_dense("pooler_transform", "pooler"),
    # BertPretrainerV2's MaskedLM (created under a `bert/` name scope, which _lookup drops)
    *_dense("cls/predictions/transform/dense", "head.mlm.transform"),
    *_norm("cls/predictions/transform/LayerNorm", "head.mlm.norm"),
    ("cls/predictions/output_bias/bias", "head.mlm.output_bias", None),
    # BertPretrainerV2's sentence-order head in Model Garden's ALBERT pretraining: a ClassificationHead on token 0
    # (tanh `pooler_dense`, dropout, `logits`), i.e. transformers' pooler + sop_classifier
    *_dense("next_sentence/pooler_dense", "pooler"),
    *_dense("next_sentence/logits", "head.sop"),
    # BertClassifier: `logits` on the encoder's pooled output, or (use_encoder_pooler=False) its own pooler_dense
    *_dense("sentence_prediction/pooler_dense", "pooler"),
    *_dense("sentence_prediction/logits", "head.classifier"),
)
# A head's own pooler_dense wins over the encoder's pooler_transform: the head reads token 0 itself, so in Model
# Garden pretraining pooler_transform is never trained (export_tfhub_lib's copy_pooler_dense_to_encoder copies the
# head's layer into it for the same reason).
_PREFERRED = ("next_sentence/", "sentence_prediction/")
_BY_NAME = {native: (canonical, transform) for native, canonical, transform in TABLE}


def _lookup(full_name: str) -> str | None:
    """The TABLE name of a Keras variable name. Names may sit under a model's scope (the pretrainer's `bert/`; TF
    Hub's 2020 BERT SavedModels say `bert_model/...`, tensorflow/hub#565): leading components are dropped until one
    matches."""
    parts = full_name.split("/")
    for i in range(len(parts)):
        name = "/".join(parts[i:])
        if name in _BY_NAME:
            return name
    return None


# Checkpoint keys that are not model weights, by design.
SKIP = (
    (re.compile(r"^optimizer/|/\.OPTIMIZER_SLOT/"), "optimizer state"),
    (re.compile(r"^save_counter/"), "checkpoint save counter"),
    (re.compile(r"^(global_step|step)/"), "training state"),
)


# ---- the object graph --------------------------------------------------------------------------------------------

def variable_names(read_strings: Callable[[str], list[bytes]], present: bool, where: str) -> dict[str, str]:
    """Checkpoint key -> the variable's Keras name, from the bundle's TrackableObjectGraph."""
    if not present:
        raise BridgeError(f"object-based checkpoint without {OBJECT_GRAPH}: its variables cannot be named", file=where)
    (graph,) = read_strings(OBJECT_GRAPH) or [b""]
    names: dict[str, str] = {}
    try:
        for _, node in known_fields(graph, {1: bytes}):                    # TrackableObjectGraph.nodes
            for _, attribute in known_fields(node, {2: bytes}):            # TrackableObject.attributes
                fields = dict(known_fields(attribute, {2: bytes, 3: bytes}))  # SerializedTensor full_name, key
                if 3 in fields and 2 in fields:
                    names[fields[3].decode("utf-8")] = fields[2].decode("utf-8")
    except (WireError, UnicodeDecodeError) as exc:
        raise BridgeError(f"corrupt object graph: {exc}", file=where, tensor=OBJECT_GRAPH) from None
    return names


# ---- load --------------------------------------------------------------------------------------------------------

# Where each head's output count lives, as [H, C] canonical kernels.
_LABELS_FROM = {HeadKind.PRETRAINING: "head.sop.kernel", HeadKind.SEQUENCE_CLASSIFICATION: "head.classifier.kernel"}


def load(source, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    """A Checkpoint from a bundle `matches` accepted. `source` is the TF1 adapter's resolved source: `reader`,
    `where`, `config` (albert_config.json found beside, or None), `assets`, `notes`, and, for an archive member,
    `tensor_loader` (one streaming pass reads every tensor asked for, on first use) and `keepalive`."""
    reader, where = source.reader, source.where
    report = LoadReport(format="tf1", source=where, warnings=list(source.notes))
    report.layout = DESCRIBE

    skipped = {}
    for key in reader.keys():
        why = next((why for pattern, why in SKIP if pattern.search(key)), None)
        if why:
            skipped[key] = why
    if source.tensor_loader is None:
        def loader(key: str) -> Callable[[], object]:
            return lambda: reader.read(key)
        full_names = variable_names(reader.read_strings, OBJECT_GRAPH in reader, where)
    else:
        # In an archive the names come with the data: every tensor but the skipped ones is asked for before the one
        # streaming pass that the object graph's read starts (and that keeps them in memory, as for TF1 archives).
        loaders = {key: source.tensor_loader(key) for key in reader.keys() if key not in skipped}

        def loader(key: str) -> Callable[[], object]:
            return lambda f=loaders[key], keep=source.keepalive: f()  # the temp dir lives while tensors do

        full_names = variable_names(lambda _: loaders[OBJECT_GRAPH](), OBJECT_GRAPH in reader, where)
    report.skip(OBJECT_GRAPH, "object graph (read for the variable names)")

    heads = None
    query = next((k for k, n in full_names.items() if _lookup(n) == "transformer/self_attention/query/kernel"), None)
    if query is not None and len(reader.info(query).shape) == 3:
        heads = reader.info(query).shape[1]
    transforms = {None: IDENTITY}
    if heads:
        transforms.update({_IN: _heads_in(heads), _BIAS: _heads_bias(heads), _OUT: _heads_out(heads)})

    found: list[tuple[str, str]] = []  # (checkpoint key, TABLE name), preferred sources first
    for key in reader.keys():
        if key == OBJECT_GRAPH:
            continue
        if key in skipped:
            report.skip(key, skipped[key])
            continue
        name = full_names.get(key)
        table_name = None if name is None else _lookup(name)
        if table_name is None:
            report.unknown.append(key if name is None else f"{key} ({name})")
            continue
        found.append((key, table_name))
    found.sort(key=lambda item: not item[1].startswith(_PREFERRED))

    tensors: dict[str, LazyTensor] = {}
    sources: dict[str, str] = {}
    for key, name in found:
        canonical, kind = _BY_NAME[name]
        if kind not in transforms:
            raise BridgeError("attention kernel is not [hidden, heads, head_size]", file=where, tensor=query or key)
        if canonical in tensors:
            if name.startswith("pooler_transform/") and sources[canonical].startswith(_PREFERRED):
                report.skip(key, f"the encoder's pooler, unused by the head: {sources[canonical]} is the pooler")
                continue
            report.warnings.append(f"{key}: a second source for {canonical} (ignored)")
            report.skip(key, f"duplicate of {canonical}")
            continue
        sources[canonical] = name
        dtype, shape, _ = reader.info(key)
        if dtype is None:
            raise BridgeError(f"unsupported dtype {reader.dtype_name(key)}", file=where, tensor=key)
        transform = transforms[kind]
        try:
            canonical_shape = tuple(transform.canonical_shape(tuple(shape)))
        except IndexError:
            raise BridgeError(f"shape {list(shape)} does not fit {name}", file=where, tensor=key) from None
        native = LazyTensor(tuple(shape), dtype, loader(key), f"{where}: {key} ({name})")
        tensors[canonical] = native.map(transform.to_canonical, canonical_shape)
        report.consumed += 1

    if config is None:
        if source.config is None:
            raise ConfigMissing(f"no {ORIGINAL_CONFIG_NAME} beside the checkpoint (TF Hub SavedModels ship none)",
                                file=where)
        config = source.config()
    config = AlbertConfig.from_dict(config.to_dict())  # a copy: num_labels may change below
    if (config.num_hidden_groups, config.inner_group_num) != (1, 1):
        raise BridgeError(f"the config says {config.num_hidden_groups} groups of {config.inner_group_num} inner layers; "
                          "Model Garden's AlbertEncoder holds one shared layer", file=where)
    if heads is not None and heads != config.num_attention_heads:
        raise BridgeError(f"attention kernels have {heads} heads but the config says {config.num_attention_heads}",
                          file=where, tensor=query)

    declared = next((h for h in map(head_from_architecture, config.architectures or ()) if h), None)
    head = head or declared or infer_head(set(tensors))
    config.architectures = None
    keep = expected_tensors(config, head)
    for key in sorted(set(tensors) - set(keep)):
        tensors.pop(key)
        report.skip(key, f"not part of head {head.value}")
    labels_from = tensors.get(_LABELS_FROM.get(head, ""))
    if labels_from is not None and len(labels_from.shape) == 2:
        try:
            config.num_labels = labels_from.shape[1]
        except BridgeError as exc:
            raise BridgeError(exc.message, file=labels_from.origin, tensor=_LABELS_FROM[head]) from None
    return Checkpoint(config, head, tensors, report, source.assets)
