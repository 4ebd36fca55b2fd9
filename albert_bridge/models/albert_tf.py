"""ALBERT in TensorFlow 2 / Keras 3: the seven TF classes of the ALBERT documentation, with transformers' names.

Keras 3 on the TensorFlow backend (no tf-keras): importing this module imports TensorFlow and Keras, nothing else
does. Call arguments, outputs (field names, `return_dict=False` tuples) and losses (shapes included) follow
transformers' TF classes. Weights come from any format through the canonical checkpoint: every variable has the
name transformers' Keras 2 model gives it (`albert/encoder/albert_layer_groups_._0/albert_layers_._1/ffn/kernel:0`,
model name left out), and the `tf_model.h5` adapter's mapping table maps those names to canonical keys. The model
knows no file format: `save_pretrained` is `to_checkpoint()` plus the adapter's `save`.

Differences from transformers' TF classes, all deliberate:
- `head_mask` works (transformers' TF raises NotImplementedError), applied as our PyTorch model applies it;
- one MLM output bias (the canonical `head.mlm.output_bias`), stored as `predictions/decoder/bias`;
- the question-answering loss ignores positions outside the sequence (as the PyTorch loss does) instead of failing;
- sequence classification computes a per-example binary cross-entropy for multi-label problems
  (`problem_type="multi_label_classification"` or float labels), which transformers' TF classes lack;
- `dtype=` (constructor or from_pretrained) is a Keras dtype policy that every layer follows: "float16" and
  "bfloat16" store and compute in that dtype (transformers' TF sets it on the outer model only and computes in
  float32); losses are computed in float32 whatever the policy.

Keras training is transformers' (their TFPreTrainedModel's compile / train_step / test_step): compile() without a
loss trains on the model's loss output, labels come in the input dict or as Keras' y, and predict() returns the
output class holding numpy arrays.
"""

from __future__ import annotations

import collections.abc
import contextlib
import inspect
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..arrays import owned_copy
from ..checkpoint import LazyTensor
from ..config import AlbertConfig
from ..formats.hf_keras_h5 import MAPPING
from ..schema import HeadKind
from . import keras_compat
from .bridge import CheckpointBridge
from .outputs import (
    AlbertForPreTrainingOutput,
    BaseModelOutput,
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

if keras.backend.backend() != "tensorflow":
    raise ImportError(f"albert_bridge's TF classes need Keras 3 on the TensorFlow backend, not "
                      f"{keras.backend.backend()!r} (set KERAS_BACKEND=tensorflow before Keras is imported)")


@dataclass
class TFAlbertForPreTrainingOutput(AlbertForPreTrainingOutput):
    """transformers' TFAlbertForPreTrainingOutput: loss, prediction_logits, sop_logits, hidden_states, attentions."""


def _gelu_fast(x):
    return 0.5 * x * (1.0 + tf.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


ACTIVATIONS = {
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    # transformers' gelu_new formula, as TF's own op pattern: inside a graph TF's oneDNN remapper fuses it (and the
    # bias) into the MatMul before it, which saves four passes over the [tokens, I] activations per layer.
    "gelu_new": lambda x: tf.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: tf.nn.gelu(x, approximate=True),
    "gelu_fast": _gelu_fast,
    "relu": tf.nn.relu,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
    "tanh": tf.tanh,
}

# The additive mask for padded keys: the original code's and transformers' TF value.
MASK_VALUE = -10000.0


def _init(config: AlbertConfig):
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def _dense(units: int, config: AlbertConfig, name: str, inputs: int, activation=None) -> keras.layers.Dense:
    layer = keras.layers.Dense(units, activation=activation, kernel_initializer=_init(config), name=name)
    layer.build((None, inputs))
    return layer


def _linear(layer: keras.layers.Dense, x, activation=None):
    """`layer` applied to 2-D activations [tokens, in] as MatMul -> BiasAdd (-> activation): the pattern TF's graph
    optimizer fuses into one oneDNN kernel (Keras' Dense on 3-D inputs leaves a separate bias pass per call)."""
    out = tf.nn.bias_add(tf.matmul(x, tf.cast(layer.kernel, x.dtype)), tf.cast(layer.bias, x.dtype))
    return out if activation is None else activation(out)


def _rows(x):
    """[batch, seq, features] -> [batch * seq, features] (static sizes where known)."""
    return tf.reshape(x, (-1, x.shape[-1]))


def _as_rows(hidden_states, batch):
    """(hidden_states as [tokens, H], the number of sequences, the shape to give the output back): a layer called
    on [batch, seq, H] (as transformers' layers may be) works on rows and reshapes its output (`_as_given`); the
    encoder's own 2-D calls pass through (shape None)."""
    if hidden_states.shape.rank != 3:
        return hidden_states, batch, None
    return _rows(hidden_states), tf.shape(hidden_states)[0], tf.shape(hidden_states)


def _as_given(x, shape):
    return x if shape is None else tf.reshape(x, shape)


def _norm(config: AlbertConfig, name: str, size: int) -> keras.layers.LayerNormalization:
    layer = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name=name)
    layer.build((None, size))
    return layer


def _layer_norm(layer: keras.layers.LayerNormalization, x):
    """`layer`'s normalization over the last axis written as tf.nn.moments + tf.nn.batch_normalization (transformers'
    and tf-keras' op pattern: ..., `beta - mean * inv`), which TF's oneDNN remapper fuses into one layer-norm kernel.
    Keras 3's own op writes `-mean * inv + beta` (Neg, AddV2), which the remapper leaves as six element-wise passes.
    Half-precision inputs are normalized in float32, as Keras does."""
    dtype = x.dtype
    if dtype in (tf.float16, tf.bfloat16):
        x = tf.cast(x, tf.float32)
    mean, variance = tf.nn.moments(x, axes=[x.shape.rank - 1], keepdims=True)
    out = tf.nn.batch_normalization(x, mean, variance, tf.cast(layer.beta, x.dtype), tf.cast(layer.gamma, x.dtype),
                                    layer.epsilon)
    return tf.cast(out, dtype)


def named_variables(layer: keras.layers.Layer, prefix: str = "") -> dict[str, Any]:
    """Variables by the names transformers' Keras 2 model gives them: layer names joined, `:0` appended.

    Our layers list their sublayers in `CHILDREN` (attribute names; lists expand) and name their own variables in
    `OWN` (local path -> attribute); Keras' Dense and LayerNormalization name theirs kernel/bias, gamma/beta."""
    base = f"{prefix}{layer.name}/"
    if not hasattr(layer, "CHILDREN"):
        return {f"{base}{v.name}:0": v for v in layer.weights}
    out = {f"{base}{local}:0": getattr(layer, attr) for local, attr in getattr(layer, "OWN", {}).items()}
    for attr in layer.CHILDREN:
        child = getattr(layer, attr)
        for sub in child if isinstance(child, (list, tuple)) else [child]:
            if sub is not None:
                out.update(named_variables(sub, base))
    return out


class TFAlbertEmbeddings(keras.layers.Layer):
    CHILDREN = ("LayerNorm",)
    OWN = {"word_embeddings/weight": "weight", "token_type_embeddings/embeddings": "token_type_embeddings",
           "position_embeddings/embeddings": "position_embeddings"}

    def __init__(self, config: AlbertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.weight = self.add_weight(shape=(config.vocab_size, config.embedding_size), initializer=_init(config),
                                      name="weight")
        self.token_type_embeddings = self.add_weight(shape=(config.type_vocab_size, config.embedding_size),
                                                     initializer=_init(config), name="embeddings")
        self.position_embeddings = self.add_weight(shape=(config.max_position_embeddings, config.embedding_size),
                                                   initializer=_init(config), name="embeddings")
        self.LayerNorm = _norm(config, "LayerNorm", config.embedding_size)
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)
        self.built = True

    def call(self, input_ids=None, position_ids=None, token_type_ids=None, inputs_embeds=None, training=False):
        if input_ids is not None:
            if tf.executing_eagerly():  # TF on GPU would silently gather zeros for out-of-range ids
                tf.debugging.assert_less(tf.cast(input_ids, tf.int64), tf.constant(self.config.vocab_size, tf.int64),
                                         message="input_ids must be smaller than the vocabulary size")
            inputs_embeds = tf.gather(self.weight, input_ids)
        shape = tf.shape(inputs_embeds)[:-1]
        if position_ids is None:
            position_ids = tf.range(shape[1])[None, :]
        if token_type_ids is None:
            token_type_ids = tf.zeros(shape, dtype=tf.int32)
        embeddings = (inputs_embeds + tf.gather(self.position_embeddings, position_ids)
                      + tf.gather(self.token_type_embeddings, token_type_ids))
        return self.dropout(_layer_norm(self.LayerNorm, embeddings), training=training)


class TFAlbertAttention(keras.layers.Layer):
    CHILDREN = ("query", "key", "value", "dense", "LayerNorm")

    def __init__(self, config: AlbertConfig, **kwargs):
        super().__init__(**kwargs)
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size {config.hidden_size} is not a multiple of the number of attention heads "
                             f"{config.num_attention_heads}")
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        h = config.hidden_size
        self.query = _dense(self.all_head_size, config, "query", h)
        self.key = _dense(self.all_head_size, config, "key", h)
        self.value = _dense(self.all_head_size, config, "value", h)
        self.dense = _dense(h, config, "dense", h)
        self.LayerNorm = _norm(config, "LayerNorm", h)
        self.attention_dropout = keras.layers.Dropout(config.attention_probs_dropout_prob)
        self.output_dropout = keras.layers.Dropout(config.hidden_dropout_prob)
        self.built = True

    def _heads(self, x, batch):
        x = tf.reshape(x, (batch, -1, self.num_attention_heads, self.attention_head_size))
        return tf.transpose(x, (0, 2, 1, 3))

    def call(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False, training=False,
             batch=None):
        """`hidden_states` [tokens, H] (the encoder keeps activations 2-D, `batch` rows of sequences) or
        [batch, seq, H]; the output has the input's shape."""
        hidden_states, batch, shape = _as_rows(hidden_states, batch)
        q, k, v = (self._heads(_linear(layer, hidden_states), batch) for layer in (self.query, self.key, self.value))
        scores = tf.matmul(q, k, transpose_b=True) / tf.cast(math.sqrt(self.attention_head_size), q.dtype)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = self.attention_dropout(tf.nn.softmax(scores, axis=-1), training=training)
        if head_mask is not None:
            probs = probs * head_mask
        context = tf.reshape(tf.transpose(tf.matmul(probs, v), (0, 2, 1, 3)), (-1, self.all_head_size))
        output = _layer_norm(self.LayerNorm,
                             hidden_states + self.output_dropout(_linear(self.dense, context), training=training))
        output = _as_given(output, shape)
        return (output, probs) if output_attentions else (output,)


class TFAlbertLayer(keras.layers.Layer):
    CHILDREN = ("attention", "ffn", "ffn_output", "full_layer_layer_norm")

    def __init__(self, config: AlbertConfig, **kwargs):
        super().__init__(**kwargs)
        self.attention = TFAlbertAttention(config, name="attention")
        self.ffn = _dense(config.intermediate_size, config, "ffn", config.hidden_size)
        self.ffn_output = _dense(config.hidden_size, config, "ffn_output", config.intermediate_size)
        self.full_layer_layer_norm = _norm(config, "full_layer_layer_norm", config.hidden_size)
        self.activation = ACTIVATIONS[config.hidden_act]
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)
        self.built = True

    def call(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False, training=False,
             batch=None):
        """`hidden_states` [tokens, H] with `batch` sequences (as the encoder calls it) or [batch, seq, H]."""
        hidden_states, batch, shape = _as_rows(hidden_states, batch)
        attention = self.attention(hidden_states, attention_mask, head_mask, output_attentions=output_attentions,
                                   training=training, batch=batch)
        ffn = _linear(self.ffn_output, _linear(self.ffn, attention[0], self.activation))
        ffn = self.dropout(ffn, training=training)
        output = _layer_norm(self.full_layer_layer_norm, ffn + attention[0])
        return (_as_given(output, shape),) + attention[1:]


class TFAlbertLayerGroup(keras.layers.Layer):
    CHILDREN = ("albert_layers",)

    def __init__(self, config: AlbertConfig, **kwargs):
        super().__init__(**kwargs)
        self.albert_layers = [TFAlbertLayer(config, name=f"albert_layers_._{i}") for i in range(config.inner_group_num)]
        self.built = True

    def call(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False, training=False,
             batch=None):
        attentions = ()
        for index, layer in enumerate(self.albert_layers):
            mask = head_mask[index] if head_mask is not None and index < head_mask.shape[0] else None
            out = layer(hidden_states, attention_mask, mask, output_attentions=output_attentions, training=training,
                        batch=batch)
            hidden_states = out[0]
            if output_attentions:
                attentions += (out[1],)
        return hidden_states, attentions


class TFAlbertTransformer(keras.layers.Layer):
    CHILDREN = ("embedding_hidden_mapping_in", "albert_layer_groups")

    def __init__(self, config: AlbertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embedding_hidden_mapping_in = _dense(config.hidden_size, config, "embedding_hidden_mapping_in",
                                                  config.embedding_size)
        self.albert_layer_groups = [TFAlbertLayerGroup(config, name=f"albert_layer_groups_._{g}")
                                    for g in range(config.num_hidden_groups)]
        self.built = True

    def call(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False,
             output_hidden_states=False, training=False) -> BaseModelOutput:
        config = self.config
        # Activations stay 2-D [tokens, H] between the layers (one reshape in, one per output out): every dense
        # layer is then a plain MatMul that TF fuses with its bias and activation.
        shape = tf.concat([tf.shape(hidden_states)[:-1], [config.hidden_size]], 0)
        batch = tf.shape(hidden_states)[0]
        hidden_states = _linear(self.embedding_hidden_mapping_in, _rows(hidden_states))
        all_hidden = (tf.reshape(hidden_states, shape),) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for i in range(config.num_hidden_layers):
            g = config.group_of_layer(i)
            group_mask = None if head_mask is None else head_mask[config.head_mask_rows(g)]
            hidden_states, attentions = self.albert_layer_groups[g](
                hidden_states, attention_mask, group_mask, output_attentions=output_attentions, training=training,
                batch=batch)
            if output_attentions:
                all_attentions += attentions
            if output_hidden_states:
                all_hidden += (tf.reshape(hidden_states, shape),)
        hidden_states = tf.reshape(hidden_states, shape)
        return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden, attentions=all_attentions)


class TFAlbertMainLayer(keras.layers.Layer):
    """The backbone (`albert/...` in every TF class): embeddings, shared-layer encoder, optional pooler."""

    CHILDREN = ("embeddings", "encoder", "pooler")

    def __init__(self, config: AlbertConfig, add_pooling_layer: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = TFAlbertEmbeddings(config, name="embeddings")
        self.encoder = TFAlbertTransformer(config, name="encoder")
        self.pooler = (_dense(config.hidden_size, config, "pooler", config.hidden_size, activation="tanh")
                       if add_pooling_layer else None)
        self.built = True

    def _head_mask(self, head_mask):
        """[A] or [L, A] -> [L, 1, A, 1, 1], as our PyTorch model (and transformers' PyTorch one) shapes it."""
        if head_mask is None:
            return None
        head_mask = tf.cast(tf.convert_to_tensor(head_mask), self.compute_dtype)
        if head_mask.shape.rank == 1:
            head_mask = tf.tile(head_mask[None, :], (self.config.num_hidden_layers, 1))
        return head_mask[:, None, :, None, None]

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, output_attentions=False, output_hidden_states=False,
             training=False) -> BaseModelOutputWithPooling:
        if input_ids is not None and inputs_embeds is not None:
            raise ValueError("You cannot specify both input_ids and inputs_embeds at the same time")
        if input_ids is None and inputs_embeds is None:
            raise ValueError("You have to specify either input_ids or inputs_embeds")
        embeddings = self.embeddings(input_ids, position_ids, token_type_ids, inputs_embeds, training=training)
        extended = None
        if attention_mask is not None:
            # [B, 1, 1, S]: 0 where attended, -10000 where padded (broadcast over heads and queries). Two
            # expand_dims, not [:, None, None, :]: TFLite's builtin StridedSlice has no new_axis_mask.
            keep = tf.expand_dims(tf.expand_dims(tf.cast(attention_mask, embeddings.dtype), 1), 1)
            extended = (1.0 - keep) * MASK_VALUE
        encoder = self.encoder(embeddings, extended, self._head_mask(head_mask), output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, training=training)
        sequence = encoder.last_hidden_state
        pooled = self.pooler(sequence[:, 0]) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=sequence, pooler_output=pooled,
                                          hidden_states=encoder.hidden_states, attentions=encoder.attentions)


class TFAlbertMLMHead(keras.layers.Layer):
    """dense H->E, activation, LayerNorm, then the word embeddings (tied, passed in) transposed plus one bias."""

    CHILDREN = ("dense", "LayerNorm")
    OWN = {"decoder/bias": "bias"}

    def __init__(self, config: AlbertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.dense = _dense(config.embedding_size, config, "dense", config.hidden_size)
        self.LayerNorm = _norm(config, "LayerNorm", config.embedding_size)
        self.activation = ACTIVATIONS[config.hidden_act]
        self.bias = self.add_weight(shape=(config.vocab_size,), initializer="zeros", name="bias")
        self.built = True

    def call(self, hidden_states, word_embeddings):
        # On 2-D rows: MatMul + bias + activation fuse, and the decoder is one MatMul (a 3-D x 2-D matmul would be
        # a broadcasting batched one) with its bias fused.
        shape = tf.concat([tf.shape(hidden_states)[:-1], tf.shape(word_embeddings)[:1]], 0)
        hidden_states = _layer_norm(self.LayerNorm, _linear(self.dense, _rows(hidden_states), self.activation))
        logits = tf.nn.bias_add(tf.matmul(hidden_states, tf.cast(word_embeddings, hidden_states.dtype),
                                          transpose_b=True), tf.cast(self.bias, hidden_states.dtype))
        return tf.reshape(logits, shape)


class TFAlbertSOPHead(keras.layers.Layer):
    CHILDREN = ("classifier",)

    def __init__(self, config: AlbertConfig, **kwargs):
        super().__init__(**kwargs)
        self.dropout = keras.layers.Dropout(config.classifier_dropout_rate)
        self.classifier = _dense(config.num_labels, config, "classifier", config.hidden_size)
        self.built = True

    def call(self, pooled_output, training=False):
        return self.classifier(self.dropout(pooled_output, training=training))


# --- losses: transformers' TF definitions (and result shapes) ------------------------------------------------------
def _cross_entropy(labels, logits):
    labels, logits = tf.cast(labels, tf.int64), tf.cast(logits, tf.float32)  # float32 under any dtype policy
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def _masked_mean_cross_entropy(labels, logits, keep):
    """Mean over the positions `keep` selects; shape (1,) like transformers' TF MLM / token-classification loss."""
    labels = tf.cast(labels, tf.int64)
    per_position = _cross_entropy(tf.nn.relu(labels), logits)  # ignored labels clipped to 0, then masked out
    keep = tf.cast(keep, per_position.dtype)
    return tf.reshape(tf.reduce_sum(per_position * keep) / tf.reduce_sum(keep), (1,))


def _ignoring(labels, ignored: int = -100):
    labels = tf.cast(labels, tf.int64)
    return labels != ignored


def _as_tensor(value: Any) -> Any:
    """Arrays and nested lists as tensors, so a traced call sees a shape, not Python numbers to specialise on."""
    if isinstance(value, collections.abc.Mapping):
        return {k: _as_tensor(v) for k, v in value.items()}
    if isinstance(value, (np.ndarray, list)):
        return tf.convert_to_tensor(value)
    return value


def _replace_variable(layer: keras.layers.Layer, attr: str, value: Any) -> None:
    """Put a new variable (of any shape) where `layer.<attr>` was, tracked in the old one's place."""
    old = getattr(layer, attr)
    new = keras.Variable(tf.cast(value, old.dtype), dtype=old.dtype, trainable=old.trainable, name=old.name)
    keras_compat.untrack_variable(layer, old)
    setattr(layer, attr, new)


def _numpy_dtype(variable) -> Any:
    """The numpy dtype of a Keras variable (numpy has no "bfloat16" name: TF's ml_dtypes type)."""
    name = keras.backend.standardize_dtype(variable.dtype)
    return tf.bfloat16.as_numpy_dtype if name == "bfloat16" else np.dtype(name)


@contextlib.contextmanager
def _dtype_policy_scope(policy):
    """Keras' global dtype policy, set for the duration (global state: models are built one at a time)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


# --- models ---------------------------------------------------------------------------------------------------------
class TFAlbertPreTrainedModel(CheckpointBridge, keras.Model):
    """Weights from any supported format (`from_pretrained`), written as transformers does (`save_pretrained`)."""

    config_class = AlbertConfig
    base_model_prefix = "albert"
    head: HeadKind = HeadKind.BASE
    mapping = MAPPING
    weights_format = "tf"
    HEAD_LAYERS: tuple[str, ...] = ()   # top-level layers after `albert`, as transformers names them
    main_input_name = "input_ids"

    def __init__(self, config: AlbertConfig, *inputs: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.config = config
        # Keras gives a sublayer the global policy, not its model's: `dtype=` reaches every layer through this scope.
        with _dtype_policy_scope(self.dtype_policy):
            self._build_layers(config)
        self.built = True  # every variable was created with its final shape

    def _build_layers(self, config: AlbertConfig) -> None:
        """Create the layers (each head: `albert` and its HEAD_LAYERS), in the model's dtype policy."""
        raise NotImplementedError

    # --- eager inference through a graph ----------------------------------------------------------------------------
    # An eager call pays Python and Keras overhead per layer and op (2x the compute at base size); an inference call
    # made eagerly therefore runs as a tf.function, traced once per head flags and generalised over shapes
    # (reduce_retracing). Training calls, calls inside a graph (fit, predict, a user's tf.function) and calls with
    # `compile_inference = False` run as written.
    compile_inference: bool = True

    def __call__(self, *args: Any, **kwargs: Any):
        # Only input_ids (or a dict of inputs) may come positionally here; other positional calls run as written.
        if not (self.compile_inference and tf.executing_eagerly() and not kwargs.get("training")) \
                or len(args) > 1 or (args and "input_ids" in kwargs):
            return super().__call__(*args, **kwargs)
        if args:
            kwargs["input_ids"] = args[0]
        return_dict = kwargs.pop("return_dict", None)
        # Every call argument, always: calls that name different arguments then share one function type
        # (TF cannot generalise between types of different arity).
        kwargs = {name: _as_tensor(kwargs.pop(name, None)) for name in self._call_arguments()} | kwargs
        compiled = self.__dict__.get("_compiled_call")
        if compiled is None:
            compiled = self.__dict__["_compiled_call"] = tf.function(self._traced_call, reduce_retracing=True)
        fields = compiled(**kwargs)
        output = self._traced_output_class(**fields)
        return output if (self.config.use_return_dict if return_dict is None else return_dict) else output.to_tuple()

    @classmethod
    def _call_arguments(cls) -> tuple[str, ...]:
        return tuple(n for n in inspect.signature(cls.call).parameters if n not in ("self", "return_dict", "kwargs"))

    def _traced_call(self, **kwargs: Any) -> dict[str, Any]:
        output = super().__call__(**kwargs, return_dict=True)
        self.__dict__["_traced_output_class"] = type(output)
        return dict(output.items())

    def build(self, input_shape=None) -> None:
        self.built = True

    # --- Keras training, as transformers' TF models train -----------------------------------------------------------
    # compile() without a loss trains on the model's own loss output; labels may come inside the input dict or as
    # Keras' y (a tensor for a one-label head, or a dict), and are moved into the inputs where that loss needs them.
    # Metrics compare y with the first non-loss output (or the outputs named by a dict y); predict returns the
    # output class, holding numpy arrays. Keras' own train_step runs the rest (GradientTape, loss scaling, XLA).
    LABEL_OUTPUTS: dict[str, str] = {}  # label argument -> the output it is compared with, where not `logits`
    _internal_loss = True

    def compile(self, optimizer: Any = "rmsprop", loss: Any = "auto_with_warning", metrics: Any = None,
                **kwargs: Any) -> None:
        """Keras' compile with transformers' argument order; no loss (or "auto", "passthrough") means the model's
        own loss. transformers' None defaults of run_eagerly and steps_per_execution mean Keras' defaults."""
        self._internal_loss = isinstance(loss, str) and loss in ("auto", "auto_with_warning", "passthrough")
        kwargs = {k: v for k, v in kwargs.items() if v is not None or k not in ("run_eagerly", "steps_per_execution")}
        super().compile(optimizer=optimizer, loss=None if self._internal_loss else loss, metrics=metrics, **kwargs)

    @classmethod
    def _label_arguments(cls) -> tuple[str, ...]:
        return tuple(n for n in cls._call_arguments() if "label" in n or n in ("start_positions", "end_positions"))

    def _with_labels(self, data) -> tuple[dict[str, Any], Any, Any]:
        """(inputs with the labels the loss needs, labels for the metrics, sample weight) from a Keras batch."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = dict(x) if isinstance(x, collections.abc.Mapping) else {"input_ids": x}
        names = self._label_arguments()
        by_output = {output: label for label, output in self.LABEL_OUTPUTS.items()}
        if self._internal_loss and isinstance(y, collections.abc.Mapping):
            for key, value in y.items():
                if by_output.get(key, key) in names:
                    x.setdefault(by_output.get(key, key), value)
        elif self._internal_loss and y is not None and len(names) == 1:
            x.setdefault(names[0], y)
        if y is None:
            y = {k: x[k] for k in names if k in x} or None
        if isinstance(y, collections.abc.Mapping):  # named by outputs; one label alone is compared as a tensor
            y = {self.LABEL_OUTPUTS.get(k, k): v for k, v in y.items()}
            y = next(iter(y.values())) if len(y) == 1 else y
        return x, y, sample_weight

    def train_step(self, data):
        return super().train_step(self._with_labels(data))

    def test_step(self, data):
        return super().test_step(self._with_labels(data))

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self._traced_call(**(dict(x) if isinstance(x, collections.abc.Mapping) else {"input_ids": x}))

    def predict(self, *args: Any, **kwargs: Any):
        """Keras' predict, returning the model's output class of numpy arrays (batches concatenated)."""
        fields = super().predict(*args, **kwargs)  # traces predict_step, which names the output class
        return self._traced_output_class(**fields)

    @staticmethod
    def _predictions(y, output) -> Any:
        """The outputs y is compared with: those it names (a dict), else the first that is not the loss."""
        fields = {k: v for k, v in output.items() if k != "loss"}
        return {k: fields[k] for k in y} if isinstance(y, collections.abc.Mapping) else next(iter(fields.values()))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not self._internal_loss:
            return super().compute_loss(x, y, self._predictions(y, y_pred), sample_weight, training)
        if y_pred.loss is None:
            raise ValueError(f"{type(self).__name__} computed no loss: give the labels "
                             f"({', '.join(self._label_arguments())}) in the inputs or as y, or compile with a loss")
        # transformers' dummy_loss: a value per example (averaged over any other axis), then the batch mean.
        loss = tf.cast(y_pred.loss, tf.float32)
        loss = tf.reduce_mean(loss, axis=list(range(1, loss.shape.rank))) if loss.shape.rank > 1 else loss
        if sample_weight is not None:
            loss = loss * tf.cast(tf.reshape(sample_weight, (-1,)), loss.dtype)
        loss = tf.reduce_mean(loss)
        return loss + tf.add_n(self.losses) if self.losses else loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, self._predictions(y, y_pred) if y is not None else None, sample_weight)

    # --- inputs and outputs -----------------------------------------------------------------------------------------
    def _inputs(self, values: dict[str, Any]) -> dict[str, Any]:
        """transformers' TF calling conventions: a dict (or BatchEncoding) as the first argument is unpacked."""
        first = values.get("input_ids")
        if isinstance(first, collections.abc.Mapping):
            values = {**values, "input_ids": None, **dict(first)}
        config = self.config
        for name, default in (("output_attentions", config.output_attentions),
                              ("output_hidden_states", config.output_hidden_states),
                              ("return_dict", config.use_return_dict)):
            if values.get(name) is None:
                values[name] = default
        return values

    def _backbone(self, v: dict[str, Any], training) -> BaseModelOutputWithPooling:
        return self.albert(v["input_ids"], v["attention_mask"], v["token_type_ids"], v["position_ids"], v["head_mask"],
                           v["inputs_embeds"], output_attentions=v["output_attentions"],
                           output_hidden_states=v["output_hidden_states"], training=training)

    @staticmethod
    def _finish(output_cls, return_dict: bool, loss, outputs, **fields):
        result = output_cls(loss=loss, **fields, hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return result if return_dict else result.to_tuple()

    @property
    def dummy_inputs(self) -> dict[str, Any]:
        return {"input_ids": tf.constant([[7, 6, 0, 0, 1], [1, 2, 3, 0, 0], [0, 0, 0, 4, 5]], dtype=tf.int32)}

    def serving_output_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def get_input_embeddings(self) -> TFAlbertEmbeddings:
        return self.albert.embeddings

    def set_input_embeddings(self, value: Any) -> None:
        """New word embeddings [vocab, E] (a variable or an array); config.vocab_size follows, as in transformers."""
        _replace_variable(self.albert.embeddings, "weight", value)
        self.config.vocab_size = int(value.shape[0])
        self._forget_traces()

    def get_lm_head(self) -> keras.layers.Layer | None:
        return None

    def get_output_embeddings(self) -> keras.layers.Layer | None:
        """The layer whose weight the MLM head decodes with (the input embeddings: tied), None without one."""
        return self.get_input_embeddings() if self.get_lm_head() is not None else None

    def resize_token_embeddings(self, new_num_tokens: int | None = None) -> Any:
        """transformers' TF resize: rows kept or cut at the end, new rows drawn from the initializer, the MLM
        bias padded with zeros; returns the embeddings layer (the word embedding variable when nothing changes).
        Compile again before training further (the optimizer holds the old variables)."""
        embeddings = self.get_input_embeddings()
        if new_num_tokens is None or new_num_tokens == self.config.vocab_size:
            return embeddings.weight
        old = np.asarray(embeddings.weight.numpy())
        kept = min(new_num_tokens, old.shape[0])
        fresh = np.asarray(_init(self.config)((new_num_tokens - kept, old.shape[1]), dtype="float32"))
        head = self.get_lm_head()
        if head is not None:
            bias = np.asarray(head.bias.numpy())
            _replace_variable(head, "bias", np.concatenate([bias[:kept], np.zeros(new_num_tokens - kept, bias.dtype)]))
        self.set_input_embeddings(np.concatenate([old[:kept], fresh.astype(old.dtype)]))
        return embeddings

    def _forget_traces(self) -> None:
        """Graphs traced before a variable was replaced would still read the old one."""
        self.__dict__.pop("_compiled_call", None)
        self.train_function = self.test_function = self.predict_function = None

    def num_parameters(self) -> int:
        return sum(int(np.prod(v.shape)) for v in self.named_variables().values())

    # --- names and checkpoints -------------------------------------------------------------------------------------
    def named_variables(self) -> dict[str, Any]:
        """Every variable under transformers' TF name without the model name (`albert/pooler/kernel:0`)."""
        out: dict[str, Any] = {}
        for attr in ("albert", *self.HEAD_LAYERS):
            out.update(named_variables(getattr(self, attr)))
        return out

    # --- checkpoints (the shared bridge; these hooks are all TF adds) ------------------------------------------
    @classmethod
    def _constructor_arguments(cls) -> set[str]:
        return super()._constructor_arguments() | {"name", "trainable", "dtype"}  # what keras.Model takes

    def _native_arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(v.numpy()) for name, v in self.named_variables().items()}

    def _native_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(v.shape) for name, v in self.named_variables().items()}

    def _assign_native(self, tensors: dict[str, LazyTensor], missing: list[str], **options: Any) -> None:
        """Assign into a built model; a model declared in a stateless scope (from_pretrained) creates each variable
        from the checkpoint's array instead (no random initialisation, no second copy), the missing ones from
        their own initialisers."""
        own = self.named_variables()
        for name, tensor in tensors.items():
            variable = own[name]
            value = owned_copy(np.asarray(tensor.read(), dtype=_numpy_dtype(variable)))  # aligned: TF takes it over
            if keras_compat.is_declared(variable):
                keras_compat.initialize_declared(variable, value)
            else:
                variable.assign(value)
        for variable in own.values():
            if keras_compat.is_declared(variable):
                keras_compat.initialize_deferred(variable)
        keras_compat.forget_declared(own.values())

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any,
                        config: AlbertConfig | None = None, format: str | None = None,
                        output_loading_info: bool = False, dtype: Any = None, **kwargs: Any):
        """Load from a directory or file in ANY supported format (detected): tf_model.h5, safetensors, .bin, TF1...

        `dtype` is the model's Keras dtype policy ("float16", "bfloat16", "mixed_float16", ...; "auto": the stored
        float16/bfloat16); the global policy (keras.mixed_precision.set_global_policy) applies otherwise."""
        ckpt, config, model_kwargs = cls._pretrained(pretrained_model_name_or_path, config, format, kwargs)
        if dtype == "auto":
            stored = ckpt.tensors["embeddings.word"].dtype.name
            dtype = stored if stored in ("float16", "bfloat16") else None
        if dtype is not None:
            model_kwargs["dtype"] = dtype
        with keras.StatelessScope(initialize_variables=False):  # declared, not initialised: the checkpoint creates them
            model = cls(config, *model_args, **model_kwargs)
        info = model.load_checkpoint(ckpt)
        return (model, info) if output_loading_info else model

    def save_pretrained(self, save_directory: str | os.PathLike, saved_model: bool = False,
                        max_shard_size: int | str | None = "5GB", **kwargs: Any) -> None:
        """config.json + tf_model.h5 (sharded with its index when over max_shard_size), files replaced atomically
        and stale shards of an earlier save removed; `saved_model=True` also exports `saved_model/1` as
        transformers does."""
        self._save_weights(save_directory, self.to_checkpoint(), max_shard_size)
        if saved_model:
            self.export_saved_model(Path(save_directory) / "saved_model" / "1")

    # --- serving --------------------------------------------------------------------------------------------------
    def serving_signature(self) -> list[tf.TensorSpec]:
        shape = [None, None, None] if self.head is HeadKind.MULTIPLE_CHOICE else [None, None]
        return [tf.TensorSpec(shape, tf.int32, name=name) for name in ("input_ids", "attention_mask", "token_type_ids")]

    @property
    def input_signature(self) -> dict[str, tf.TensorSpec]:
        """transformers' serving inputs by name: int32 input_ids, attention_mask and token_type_ids."""
        return {spec.name: spec for spec in self.serving_signature()}

    def _serve(self, inputs: dict[str, Any]) -> dict[str, Any]:
        out = self(**inputs, training=False, return_dict=True)
        return {name: out[name] for name in self.serving_output_names()}

    # transformers' `serving`: a dict of input tensors -> the head's outputs by name, what a SavedModel serves.
    serving = tf.function(_serve)

    def export_saved_model(self, directory: str | os.PathLike, jit_compile: bool = False) -> Path:
        """A SavedModel with transformers' two signatures: `serving_default` takes int32 input_ids, attention_mask
        and token_type_ids ([batch, seq], or [batch, choices, seq] for multiple choice), `int64_serving` the same
        in int64; both return the head's outputs by name. `jit_compile=True` compiles them with XLA."""
        model = self

        class Serving(tf.Module):
            def __init__(self):
                super().__init__()
                self.weights = [v.value for v in model.weights]  # the tf.Variables behind the Keras variables
                self.serve = tf.function(model._serve, jit_compile=jit_compile)

        module = Serving()
        int32 = self.input_signature
        int64 = {name: tf.TensorSpec(spec.shape, tf.int64, name=name) for name, spec in int32.items()}
        directory = Path(directory)
        tf.saved_model.save(module, str(directory),
                            signatures={"serving_default": module.serve.get_concrete_function(int32),
                                        "int64_serving": module.serve.get_concrete_function(int64)})
        return directory


class TFAlbertModel(TFAlbertPreTrainedModel):
    head = HeadKind.BASE

    def _build_layers(self, config: AlbertConfig) -> None:
        self.albert = TFAlbertMainLayer(config, name="albert")

    def serving_output_names(self) -> tuple[str, ...]:
        return ("last_hidden_state", "pooler_output")

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None, training=False):
        v = self._inputs(locals())
        outputs = self._backbone(v, training)
        return outputs if v["return_dict"] else outputs.to_tuple()


class TFAlbertForPreTraining(TFAlbertPreTrainedModel):
    head = HeadKind.PRETRAINING
    LABEL_OUTPUTS = {"labels": "prediction_logits", "sentence_order_label": "sop_logits"}
    HEAD_LAYERS = ("predictions", "sop_classifier")

    def _build_layers(self, config: AlbertConfig) -> None:
        self.num_labels = config.num_labels
        self.albert = TFAlbertMainLayer(config, name="albert")
        self.predictions = TFAlbertMLMHead(config, name="predictions")
        self.sop_classifier = TFAlbertSOPHead(config, name="sop_classifier")

    def serving_output_names(self) -> tuple[str, ...]:
        return ("prediction_logits", "sop_logits")

    def get_lm_head(self) -> TFAlbertMLMHead:
        return self.predictions

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None, labels=None,
             sentence_order_label=None, training=False):
        v = self._inputs(locals())
        outputs = self._backbone(v, training)
        prediction_scores = self.predictions(outputs.last_hidden_state, self.albert.embeddings.weight)
        sop_scores = self.sop_classifier(outputs.pooler_output, training=training)
        loss = None
        if v["labels"] is not None and v["sentence_order_label"] is not None:
            labels, order = v["labels"], tf.reshape(v["sentence_order_label"], (-1,))
            loss = (_masked_mean_cross_entropy(labels, prediction_scores, _ignoring(labels))
                    + _masked_mean_cross_entropy(order, tf.reshape(sop_scores, (-1, 2)), _ignoring(order)))
        return self._finish(TFAlbertForPreTrainingOutput, v["return_dict"], loss, outputs,
                            prediction_logits=prediction_scores, sop_logits=sop_scores)


class TFAlbertForMaskedLM(TFAlbertPreTrainedModel):
    head = HeadKind.MASKED_LM
    HEAD_LAYERS = ("predictions",)

    def _build_layers(self, config: AlbertConfig) -> None:
        self.albert = TFAlbertMainLayer(config, add_pooling_layer=False, name="albert")
        self.predictions = TFAlbertMLMHead(config, name="predictions")

    def serving_output_names(self) -> tuple[str, ...]:
        return ("logits",)

    def get_lm_head(self) -> TFAlbertMLMHead:
        return self.predictions

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None, labels=None,
             training=False):
        v = self._inputs(locals())
        outputs = self._backbone(v, training)
        logits = self.predictions(outputs.last_hidden_state, self.albert.embeddings.weight)
        labels = v["labels"]
        loss = None if labels is None else _masked_mean_cross_entropy(labels, logits, _ignoring(labels))
        return self._finish(MaskedLMOutput, v["return_dict"], loss, outputs, logits=logits)


class TFAlbertForSequenceClassification(TFAlbertPreTrainedModel):
    head = HeadKind.SEQUENCE_CLASSIFICATION
    HEAD_LAYERS = ("classifier",)

    def _build_layers(self, config: AlbertConfig) -> None:
        self.num_labels = config.num_labels
        self.albert = TFAlbertMainLayer(config, name="albert")
        self.dropout = keras.layers.Dropout(config.classifier_dropout_rate)
        self.classifier = _dense(config.num_labels, config, "classifier", config.hidden_size)

    def serving_output_names(self) -> tuple[str, ...]:
        return ("logits",)

    def _loss(self, labels, logits):
        """Per example, shape (batch,), as transformers' TF loss: squared error (one label), softmax cross-entropy
        (integer labels), or binary cross-entropy averaged over labels (multi-label)."""
        labels, logits = tf.convert_to_tensor(labels), tf.cast(logits, tf.float32)
        problem = self.config.problem_type
        if problem is None:
            problem = ("regression" if self.num_labels == 1 else
                       "single_label_classification" if labels.dtype.is_integer else "multi_label_classification")
        if problem == "regression":
            labels = tf.reshape(tf.cast(labels, logits.dtype), (-1, self.num_labels))
            return tf.reduce_mean(tf.square(logits - labels), axis=-1)
        if problem == "single_label_classification":
            return _cross_entropy(tf.reshape(labels, (-1,)), logits)
        labels = tf.cast(labels, logits.dtype)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=-1)

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None, labels=None,
             training=False):
        v = self._inputs(locals())
        outputs = self._backbone(v, training)
        logits = self.classifier(self.dropout(outputs.pooler_output, training=training))
        loss = None if v["labels"] is None else self._loss(v["labels"], logits)
        return self._finish(SequenceClassifierOutput, v["return_dict"], loss, outputs, logits=logits)


class TFAlbertForTokenClassification(TFAlbertPreTrainedModel):
    head = HeadKind.TOKEN_CLASSIFICATION
    HEAD_LAYERS = ("classifier",)

    def _build_layers(self, config: AlbertConfig) -> None:
        self.num_labels = config.num_labels
        self.albert = TFAlbertMainLayer(config, add_pooling_layer=False, name="albert")
        self.dropout = keras.layers.Dropout(config.classifier_dropout_rate)
        self.classifier = _dense(config.num_labels, config, "classifier", config.hidden_size)

    def serving_output_names(self) -> tuple[str, ...]:
        return ("logits",)

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None, labels=None,
             training=False):
        v = self._inputs(locals())
        outputs = self._backbone(v, training)
        logits = self.classifier(self.dropout(outputs.last_hidden_state, training=training))
        labels = v["labels"]
        # Negative labels (-100, or the deprecated -1) are ignored, as in transformers' TF loss.
        loss = None if labels is None else _masked_mean_cross_entropy(labels, logits, tf.cast(labels, tf.int64) >= 0)
        return self._finish(TokenClassifierOutput, v["return_dict"], loss, outputs, logits=logits)


class TFAlbertForQuestionAnswering(TFAlbertPreTrainedModel):
    head = HeadKind.QUESTION_ANSWERING
    LABEL_OUTPUTS = {"start_positions": "start_logits", "end_positions": "end_logits"}
    HEAD_LAYERS = ("qa_outputs",)

    def _build_layers(self, config: AlbertConfig) -> None:
        self.num_labels = config.num_labels
        self.albert = TFAlbertMainLayer(config, add_pooling_layer=False, name="albert")
        self.qa_outputs = _dense(config.num_labels, config, "qa_outputs", config.hidden_size)

    def serving_output_names(self) -> tuple[str, ...]:
        return ("start_logits", "end_logits")

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None,
             start_positions=None, end_positions=None, training=False):
        v = self._inputs(locals())
        outputs = self._backbone(v, training)
        logits = self.qa_outputs(outputs.last_hidden_state)
        start_logits, end_logits = (tf.squeeze(t, axis=-1) for t in tf.split(logits, 2, axis=-1))
        loss = None
        if v["start_positions"] is not None and v["end_positions"] is not None:
            loss = (self._position_loss(v["start_positions"], start_logits)
                    + self._position_loss(v["end_positions"], end_logits)) / 2.0
        return self._finish(QuestionAnsweringModelOutput, v["return_dict"], loss, outputs,
                            start_logits=start_logits, end_logits=end_logits)

    @staticmethod
    def _position_loss(positions, logits):
        """Per example, shape (batch,); a position outside the sequence contributes 0 (ignored, as in PyTorch)."""
        positions = tf.reshape(tf.cast(positions, tf.int64), (-1,))
        length = tf.shape(logits, out_type=tf.int64)[1]
        inside = (positions >= 0) & (positions < length)
        loss = _cross_entropy(tf.where(inside, positions, tf.zeros_like(positions)), logits)
        return loss * tf.cast(inside, loss.dtype)


class TFAlbertForMultipleChoice(TFAlbertPreTrainedModel):
    head = HeadKind.MULTIPLE_CHOICE
    HEAD_LAYERS = ("classifier",)

    def _build_layers(self, config: AlbertConfig) -> None:
        self.albert = TFAlbertMainLayer(config, name="albert")
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)  # transformers' TF choice (PyTorch: classifier_)
        self.classifier = _dense(1, config, "classifier", config.hidden_size)

    def serving_output_names(self) -> tuple[str, ...]:
        return ("logits",)

    @property
    def dummy_inputs(self) -> dict[str, Any]:
        return {"input_ids": tf.constant([[[7, 6, 0, 0, 1], [1, 2, 3, 0, 0]]] * 2, dtype=tf.int32)}

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None, labels=None,
             training=False):
        v = self._inputs(locals())
        reference = v["input_ids"] if v["input_ids"] is not None else v["inputs_embeds"]
        num_choices = tf.shape(reference)[1]
        seq_length = tf.shape(reference)[2]

        def flat(t, rank=2):
            if t is None:
                return None
            t = tf.convert_to_tensor(t)
            return tf.reshape(t, (-1, seq_length) if rank == 2 else (-1, seq_length, t.shape[-1]))

        flat_inputs = {**v, "input_ids": flat(v["input_ids"]), "attention_mask": flat(v["attention_mask"]),
                       "token_type_ids": flat(v["token_type_ids"]), "position_ids": flat(v["position_ids"]),
                       "inputs_embeds": flat(v["inputs_embeds"], rank=3)}
        outputs = self._backbone(flat_inputs, training)
        logits = self.classifier(self.dropout(outputs.pooler_output, training=training))
        logits = tf.reshape(logits, (-1, num_choices))
        loss = None if v["labels"] is None else _cross_entropy(tf.reshape(v["labels"], (-1,)), logits)
        return self._finish(MultipleChoiceModelOutput, v["return_dict"], loss, outputs, logits=logits)


MODEL_FOR_HEAD = {cls.head: cls for cls in (
    TFAlbertModel, TFAlbertForPreTraining, TFAlbertForMaskedLM, TFAlbertForSequenceClassification,
    TFAlbertForMultipleChoice, TFAlbertForTokenClassification, TFAlbertForQuestionAnswering)}

__all__ = ["TFAlbertPreTrainedModel", "TFAlbertForPreTrainingOutput", "TFAlbertMainLayer",
           *(cls.__name__ for cls in MODEL_FOR_HEAD.values())]
