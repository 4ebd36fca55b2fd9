"""ALBERT in Flax (linen): the seven classes of the ALBERT documentation, with transformers' names, call arguments,
outputs and parameter tree.

The parameter tree equals transformers' FlaxAlbert* tree (base model without an `albert/` prefix, heads with one,
`encoder/albert_layer_groups/{g}/albert_layers/{k}/...`, the MLM decoder tied to the word embeddings), so
`params` move between the two unchanged. Weights come from any format through the canonical checkpoint: the model
knows no file format, only the Flax naming table of `formats.hf_flax_msgpack`.

`dtype` is the computation dtype (float32, bfloat16, float16); `param_dtype` the dtype parameters are created in,
as in transformers (where loaded parameters keep their stored dtype unless asked otherwise). `__call__` runs the
module's `apply` under `jax.jit`, compiled once per input shape and static flags (train, output_attentions,
output_hidden_states); `return_dict` is applied outside, so it costs no compile.

For code written against transformers 4.x: outputs are `flax.struct` dataclasses (pytrees: a user's own `jax.jit` or
`jax.grad` over a call works), `from_pretrained(..., _do_init=False)` returns `(model, params)`, and
`init_weights`, `required_params`, the validating `params` setter and `to_bf16`/`to_fp16`/`to_fp32` (with masks)
behave as transformers'; `enable_gradient_checkpointing()` rematerialises each layer (transformers' Flax ALBERT
has none).
"""

from __future__ import annotations

import dataclasses
import math
import os
from functools import partial
from typing import Any, Callable

import flax.linen as nn
from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from ..arrays import owned_copy
from ..checkpoint import Checkpoint, LazyTensor
from ..config import AlbertConfig
from ..formats.hf_flax_msgpack import MAPPING, nest
from ..schema import HeadKind
from .bridge import CheckpointBridge
from .outputs import OutputAccess

Dtype = Any


# --- outputs: transformers' Flax classes (no loss field), frozen dataclasses registered as JAX pytrees, so an output
# can leave a user's jax.jit and fields are reachable by jax.tree_util key paths (`.logits`, `.hidden_states[0]`).
@struct.dataclass
class FlaxBaseModelOutputWithPooling(OutputAccess):
    last_hidden_state: Any = None
    pooler_output: Any = None
    hidden_states: Any = None
    attentions: Any = None


@struct.dataclass
class FlaxAlbertForPreTrainingOutput(OutputAccess):
    prediction_logits: Any = None
    sop_logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@struct.dataclass
class FlaxMaskedLMOutput(OutputAccess):
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@struct.dataclass
class FlaxSequenceClassifierOutput(OutputAccess):
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@struct.dataclass
class FlaxMultipleChoiceModelOutput(OutputAccess):
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@struct.dataclass
class FlaxTokenClassifierOutput(OutputAccess):
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@struct.dataclass
class FlaxQuestionAnsweringModelOutput(OutputAccess):
    start_logits: Any = None
    end_logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


def _gelu_new(x: jax.Array) -> jax.Array:
    # transformers' NewGELUActivation written out (the original ALBERT code's `gelu`).
    return 0.5 * x * (1.0 + jnp.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * jnp.power(x, 3.0))))


def _gelu_fast(x: jax.Array) -> jax.Array:
    return 0.5 * x * (1.0 + jnp.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "gelu": partial(jax.nn.gelu, approximate=False),
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": partial(jax.nn.gelu, approximate=True),
    "gelu_fast": _gelu_fast,
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "tanh": jnp.tanh,
}


class _Base(nn.Module):
    config: AlbertConfig
    dtype: Dtype = jnp.float32        # computation
    param_dtype: Dtype = jnp.float32  # parameters at initialisation
    gradient_checkpointing: bool = False  # rematerialise each layer in the backward pass (nn.remat)

    def _part(self, module: type[nn.Module], **kwargs: Any) -> nn.Module:
        """A submodule with this one's config, dtypes and checkpointing."""
        return module(self.config, self.dtype, self.param_dtype, self.gradient_checkpointing, **kwargs)

    def _dense(self, features: int, init_range: bool = True) -> nn.Dense:
        init = nn.initializers.normal(self.config.initializer_range) if init_range else nn.initializers.lecun_normal()
        return nn.Dense(features, dtype=self.dtype, param_dtype=self.param_dtype, kernel_init=init)

    def _layer_norm(self) -> nn.LayerNorm:
        # Two-pass variance, as PyTorch computes it (flax's default fast variance drifts a little in float32).
        return nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=self.dtype, param_dtype=self.param_dtype,
                            use_fast_variance=False)


class FlaxAlbertEmbeddings(_Base):
    def setup(self):
        c = self.config
        init = nn.initializers.normal(stddev=c.initializer_range)
        embed = partial(nn.Embed, features=c.embedding_size, embedding_init=init, param_dtype=self.param_dtype)
        self.word_embeddings = embed(c.vocab_size)
        self.position_embeddings = embed(c.max_position_embeddings)
        self.token_type_embeddings = embed(c.type_vocab_size)
        self.LayerNorm = self._layer_norm()
        self.dropout = nn.Dropout(rate=c.hidden_dropout_prob)

    def __call__(self, input_ids, token_type_ids, position_ids, deterministic: bool = True):
        embeddings = (self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
                      + self.position_embeddings(position_ids))
        return self.dropout(self.LayerNorm(embeddings), deterministic=deterministic)


class FlaxAlbertAttention(_Base):
    def setup(self):
        c = self.config
        self.query = self._dense(c.hidden_size)
        self.key = self._dense(c.hidden_size)
        self.value = self._dense(c.hidden_size)
        self.dense = self._dense(c.hidden_size)
        self.LayerNorm = self._layer_norm()
        self.attention_dropout = nn.Dropout(rate=c.attention_probs_dropout_prob)
        self.output_dropout = nn.Dropout(rate=c.hidden_dropout_prob)

    def __call__(self, hidden_states, bias, deterministic: bool = True):
        c = self.config
        head_dim = c.hidden_size // c.num_attention_heads
        split = hidden_states.shape[:2] + (c.num_attention_heads, head_dim)
        q, k, v = (layer(hidden_states).reshape(split) for layer in (self.query, self.key, self.value))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(jnp.asarray(head_dim, q.dtype))
        # Softmax in float32 whatever the compute dtype: the padding bias is float32's minimum, as PyTorch's.
        scores = scores.astype(jnp.float32)
        if bias is not None:
            scores = scores + bias
        probs = jax.nn.softmax(scores, axis=-1).astype(self.dtype)
        probs = self.attention_dropout(probs, deterministic=deterministic)
        context = jnp.einsum("bhqk,bkhd->bqhd", probs, v).reshape(hidden_states.shape[:2] + (c.hidden_size,))
        projected = self.output_dropout(self.dense(context), deterministic=deterministic)
        return self.LayerNorm(projected + hidden_states), probs


class FlaxAlbertLayer(_Base):
    def setup(self):
        c = self.config
        self.attention = self._part(FlaxAlbertAttention)
        self.ffn = self._dense(c.intermediate_size)
        self.ffn_output = self._dense(c.hidden_size)
        self.full_layer_layer_norm = self._layer_norm()
        self.activation = ACTIVATIONS[c.hidden_act]
        self.dropout = nn.Dropout(rate=c.hidden_dropout_prob)

    def __call__(self, hidden_states, bias, deterministic: bool = True):
        attention, probs = self.attention(hidden_states, bias, deterministic)
        # The original code (and transformers' Flax ALBERT) drops out the ffn output; training only.
        ffn = self.dropout(self.ffn_output(self.activation(self.ffn(attention))), deterministic=deterministic)
        return self.full_layer_layer_norm(ffn + attention), probs


class FlaxAlbertLayerStack(_Base):
    """The K inner layers of one group, named "0".."K-1" (transformers' `albert_layers`)."""

    def setup(self):
        self.layers = [self._part(FlaxAlbertLayer, name=str(k)) for k in range(self.config.inner_group_num)]

    def __call__(self, hidden_states, bias, deterministic: bool = True):
        attentions = ()
        for layer in self.layers:
            hidden_states, probs = layer(hidden_states, bias, deterministic)
            attentions += (probs,)
        return hidden_states, attentions


class FlaxAlbertGroupPass(_Base):
    """One pass through a group's K inner layers: the step of a scan whose parameters are broadcast (shared)."""

    deterministic: bool = True
    output_attentions: bool = False
    output_hidden_states: bool = False

    def setup(self):
        self.albert_layers = self._part(FlaxAlbertLayerStack)

    def __call__(self, hidden_states, bias):
        hidden_states, attentions = self.albert_layers(hidden_states, bias, self.deterministic)
        return hidden_states, (hidden_states if self.output_hidden_states else None,
                               attentions if self.output_attentions else None)


class FlaxAlbertLayerGroups(_Base):
    """The G hidden groups, named "0".."G-1" (transformers' `albert_layer_groups`).

    Layer i runs group int(i / (L / G)), so each group runs for a block of consecutive layers: a `nn.scan` over
    that block with the group's parameters broadcast. XLA then compiles each group once instead of once per layer
    (compiling is ~0.3-0.5 s per layer on a CPU: 12 unrolled layers took 6 s, a scan takes one layer's time)."""

    @nn.compact
    def __call__(self, hidden_states, bias, deterministic=True, output_attentions=False, output_hidden_states=False):
        c = self.config
        passes = [sum(1 for i in range(c.num_hidden_layers) if c.group_of_layer(i) == g)
                  for g in range(c.num_hidden_groups)]
        # Checkpointing keeps only each pass's input for the backward pass (prevent_cse is not needed in a scan).
        step = nn.remat(FlaxAlbertGroupPass, prevent_cse=False) if self.gradient_checkpointing else FlaxAlbertGroupPass
        all_hidden, all_attentions = (), ()
        for g, count in enumerate(passes):
            group = nn.scan(step, variable_broadcast="params", split_rngs={"params": False, "dropout": True},
                            in_axes=nn.broadcast, length=count)
            hidden_states, (hidden, attentions) = group(
                config=c, dtype=self.dtype, param_dtype=self.param_dtype, deterministic=deterministic,
                output_attentions=output_attentions, output_hidden_states=output_hidden_states, name=str(g),
            )(hidden_states, bias)
            if output_hidden_states:
                all_hidden += tuple(hidden[j] for j in range(count))
            if output_attentions:  # pass by pass, inner layer by inner layer
                all_attentions += tuple(inner[j] for j in range(count) for inner in attentions)
        return hidden_states, all_hidden, all_attentions


class FlaxAlbertTransformer(_Base):
    def setup(self):
        self.embedding_hidden_mapping_in = self._dense(self.config.hidden_size)
        self.albert_layer_groups = self._part(FlaxAlbertLayerGroups)

    def __call__(self, hidden_states, bias, deterministic=True, output_attentions=False, output_hidden_states=False):
        hidden_states = self.embedding_hidden_mapping_in(hidden_states)
        last, hidden, attentions = self.albert_layer_groups(hidden_states, bias, deterministic, output_attentions,
                                                            output_hidden_states)
        return last, ((hidden_states,) + hidden if output_hidden_states else None), (
            attentions if output_attentions else None)


class FlaxAlbertModule(_Base):
    add_pooling_layer: bool = True

    def setup(self):
        self.embeddings = self._part(FlaxAlbertEmbeddings)
        self.encoder = self._part(FlaxAlbertTransformer)
        if self.add_pooling_layer:
            self.pooler = self._dense(self.config.hidden_size)

    def __call__(self, input_ids, attention_mask, token_type_ids, position_ids, deterministic: bool = True,
                 output_attentions: bool = False, output_hidden_states: bool = False) -> dict[str, Any]:
        embeddings = self.embeddings(input_ids, token_type_ids, position_ids, deterministic)
        # Additive mask over keys, in float32: 0 where attended, float32's minimum where padded (as PyTorch).
        bias = jnp.where(attention_mask[:, None, None, :] > 0, 0.0, jnp.finfo(jnp.float32).min).astype(jnp.float32)
        sequence, hidden, attentions = self.encoder(embeddings, bias, deterministic, output_attentions,
                                                    output_hidden_states)
        out = {"last_hidden_state": sequence, "hidden_states": hidden, "attentions": attentions}
        if self.add_pooling_layer:
            out["pooler_output"] = jnp.tanh(self.pooler(sequence[:, 0]))
        return out

    def word_embeddings(self) -> jax.Array:
        return self.variables["params"]["embeddings"]["word_embeddings"]["embedding"]


class FlaxAlbertMLMHead(_Base):
    def setup(self):
        c = self.config
        self.dense = self._dense(c.embedding_size, init_range=False)
        self.LayerNorm = self._layer_norm()
        self.activation = ACTIVATIONS[c.hidden_act]
        self.bias = self.param("bias", nn.initializers.zeros, (c.vocab_size,), self.param_dtype)

    def __call__(self, hidden_states, word_embeddings):
        hidden_states = self.LayerNorm(self.activation(self.dense(hidden_states)))
        # The decoder is the word embedding table, transposed (tied): no parameters of its own.
        logits = jnp.dot(hidden_states, jnp.asarray(word_embeddings, self.dtype).T)
        # The bias as stored: with float32 parameters bfloat16 logits come out float32, as transformers' do.
        return logits + self.bias


class FlaxAlbertSOPHead(_Base):
    def setup(self):
        self.dropout = nn.Dropout(rate=self.config.classifier_dropout_rate)
        self.classifier = self._dense(self.config.num_labels, init_range=False)

    def __call__(self, pooled_output, deterministic: bool = True):
        return self.classifier(self.dropout(pooled_output, deterministic=deterministic))


class FlaxAlbertForPreTrainingModule(_Base):
    def setup(self):
        self.albert = self._part(FlaxAlbertModule)
        self.predictions = self._part(FlaxAlbertMLMHead)
        self.sop_classifier = self._part(FlaxAlbertSOPHead)

    def __call__(self, input_ids, attention_mask, token_type_ids, position_ids, deterministic=True,
                 output_attentions=False, output_hidden_states=False):
        out = self.albert(input_ids, attention_mask, token_type_ids, position_ids, deterministic, output_attentions,
                          output_hidden_states)
        return {"prediction_logits": self.predictions(out["last_hidden_state"], self.albert.word_embeddings()),
                "sop_logits": self.sop_classifier(out["pooler_output"], deterministic),
                "hidden_states": out["hidden_states"], "attentions": out["attentions"]}


class FlaxAlbertForMaskedLMModule(_Base):
    def setup(self):
        self.albert = self._part(FlaxAlbertModule, add_pooling_layer=False)
        self.predictions = self._part(FlaxAlbertMLMHead)

    def __call__(self, input_ids, attention_mask, token_type_ids, position_ids, deterministic=True,
                 output_attentions=False, output_hidden_states=False):
        out = self.albert(input_ids, attention_mask, token_type_ids, position_ids, deterministic, output_attentions,
                          output_hidden_states)
        return {"logits": self.predictions(out["last_hidden_state"], self.albert.word_embeddings()),
                "hidden_states": out["hidden_states"], "attentions": out["attentions"]}


class FlaxAlbertForSequenceClassificationModule(_Base):
    def setup(self):
        self.albert = self._part(FlaxAlbertModule)
        self.dropout = nn.Dropout(rate=self.config.classifier_dropout_rate)
        self.classifier = self._dense(self.config.num_labels, init_range=False)

    def __call__(self, input_ids, attention_mask, token_type_ids, position_ids, deterministic=True,
                 output_attentions=False, output_hidden_states=False):
        out = self.albert(input_ids, attention_mask, token_type_ids, position_ids, deterministic, output_attentions,
                          output_hidden_states)
        pooled = self.dropout(out["pooler_output"], deterministic=deterministic)
        return {"logits": self.classifier(pooled), "hidden_states": out["hidden_states"],
                "attentions": out["attentions"]}


class FlaxAlbertForMultipleChoiceModule(_Base):
    def setup(self):
        self.albert = self._part(FlaxAlbertModule)
        # classifier_dropout_prob, as transformers' PyTorch class (its Flax class uses hidden_dropout_prob).
        self.dropout = nn.Dropout(rate=self.config.classifier_dropout_rate)
        self.classifier = self._dense(1, init_range=False)

    def __call__(self, input_ids, attention_mask, token_type_ids, position_ids, deterministic=True,
                 output_attentions=False, output_hidden_states=False):
        num_choices = input_ids.shape[1]

        def flat(x):
            return x.reshape(-1, x.shape[-1])

        out = self.albert(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
                          deterministic, output_attentions, output_hidden_states)
        pooled = self.dropout(out["pooler_output"], deterministic=deterministic)
        return {"logits": self.classifier(pooled).reshape(-1, num_choices), "hidden_states": out["hidden_states"],
                "attentions": out["attentions"]}


class FlaxAlbertForTokenClassificationModule(_Base):
    def setup(self):
        self.albert = self._part(FlaxAlbertModule, add_pooling_layer=False)
        self.dropout = nn.Dropout(rate=self.config.classifier_dropout_rate)
        self.classifier = self._dense(self.config.num_labels, init_range=False)

    def __call__(self, input_ids, attention_mask, token_type_ids, position_ids, deterministic=True,
                 output_attentions=False, output_hidden_states=False):
        out = self.albert(input_ids, attention_mask, token_type_ids, position_ids, deterministic, output_attentions,
                          output_hidden_states)
        sequence = self.dropout(out["last_hidden_state"], deterministic=deterministic)
        return {"logits": self.classifier(sequence), "hidden_states": out["hidden_states"],
                "attentions": out["attentions"]}


class FlaxAlbertForQuestionAnsweringModule(_Base):
    def setup(self):
        if self.config.num_labels != 2:
            raise ValueError(f"question answering needs num_labels=2 (start, end), got {self.config.num_labels}")
        self.albert = self._part(FlaxAlbertModule, add_pooling_layer=False)
        self.qa_outputs = self._dense(self.config.num_labels, init_range=False)

    def __call__(self, input_ids, attention_mask, token_type_ids, position_ids, deterministic=True,
                 output_attentions=False, output_hidden_states=False):
        out = self.albert(input_ids, attention_mask, token_type_ids, position_ids, deterministic, output_attentions,
                          output_hidden_states)
        logits = self.qa_outputs(out["last_hidden_state"])
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1],
                "hidden_states": out["hidden_states"], "attentions": out["attentions"]}


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) or (hasattr(value, "items") and not hasattr(value, "shape")):  # FrozenDict too
            out.update(_flatten(dict(value), f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _is_float(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.floating)


class FlaxAlbertPreTrainedModel(CheckpointBridge):
    """The model wrapper transformers' Flax classes are: config + module + `params`, a jitted `__call__`,
    `from_pretrained` (any supported format) and `save_pretrained` (flax_model.msgpack)."""

    config_class = AlbertConfig
    base_model_prefix = "albert"
    module_class: type[nn.Module] = FlaxAlbertModule
    output_class: type[OutputAccess] = FlaxBaseModelOutputWithPooling
    head: HeadKind = HeadKind.BASE
    mapping = MAPPING
    weights_format = "flax"
    main_input_name = "input_ids"

    def __init__(self, config: AlbertConfig, input_shape: tuple[int, ...] = (1, 1), seed: int = 0,
                 dtype: Dtype = jnp.float32, param_dtype: Dtype = jnp.float32, _do_init: bool = True, **kwargs: Any):
        """`_do_init=False`: no parameters are made; `model.params` then raises and they are passed to each call
        (transformers' way of loading models too large to initialise twice)."""
        self.config = config
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.input_shape = input_shape
        self.key = jax.random.PRNGKey(seed)
        self._module_kwargs = kwargs
        self._build_module()
        self._is_initialized = _do_init
        self._shapes: dict | None = None
        self._required: set[tuple[str, ...]] | None = None
        self._params = self.init_weights(self.key, input_shape) if _do_init else None

    def _build_module(self, **changes: Any) -> None:
        self._module_kwargs = {**self._module_kwargs, **changes}
        self.module = self.module_class(config=self.config, dtype=self.dtype, param_dtype=self.param_dtype,
                                        **self._module_kwargs)
        # A new jitted function: its cache must not hold programs traced from the previous module.
        self._forward = jax.jit(self._apply, static_argnames=("train", "output_attentions", "output_hidden_states"))

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each layer's activations in the backward pass instead of keeping them (nn.remat per layer):
        the same outputs and gradients, less memory. transformers 4.57's Flax ALBERT raises NotImplementedError."""
        self._build_module(gradient_checkpointing=True)

    # --- parameters -------------------------------------------------------------------------------
    def _dummy_inputs(self, input_shape: tuple[int, ...]) -> tuple[jax.Array, ...]:
        input_ids = jnp.zeros(input_shape, dtype="i4")
        position_ids = jnp.broadcast_to(jnp.arange(input_shape[-1], dtype="i4"), input_shape)
        return input_ids, jnp.ones_like(input_ids), jnp.zeros_like(input_ids), position_ids

    def init_weights(self, rng: jax.Array, input_shape: tuple[int, ...], params: dict | None = None) -> dict:
        """Random parameters; with `params`, only the ones it lacks are random.

        Initialised as our PyTorch classes (and transformers' PyTorch ALBERT) do: kernels and embeddings
        normal(0, initializer_range), biases zero, LayerNorm scales one. Drawn with numpy over the tree's shapes
        (`jax.eval_shape`): flax's `module.init` would compile the forward pass plus a random generator per
        parameter, 4-5 s on a CPU even for a tiny model. The linen modules keep their own initialisers for
        `module.init`."""
        shapes = _flatten(self.params_shape_tree if tuple(input_shape) == tuple(self.input_shape)
                          else self._shape_tree(input_shape))
        key = np.asarray(jax.random.key_data(rng) if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key) else rng)
        generator = np.random.default_rng(key.astype(np.uint32).ravel().tolist())
        given = _flatten(params) if params is not None else {}
        std = self.config.initializer_range
        out = []
        for name, leaf in shapes.items():
            kind = name.rsplit("/", 1)[-1]
            if name in given:
                value = given[name]
            elif kind in ("kernel", "embedding"):
                value = generator.normal(0.0, std, leaf.shape)
            else:
                value = (np.ones if kind == "scale" else np.zeros)(leaf.shape)
            out.append((name, value if name in given else jnp.asarray(value.astype(np.dtype(leaf.dtype)))))
        return nest(out)

    def _shape_tree(self, input_shape: tuple[int, ...]) -> dict:
        def init(rng):
            return self.module.init({"params": rng, "dropout": rng}, *self._dummy_inputs(input_shape),
                                    deterministic=True)["params"]

        return jax.eval_shape(init, jax.random.PRNGKey(0))

    @property
    def params_shape_tree(self) -> dict:
        """The parameter tree as jax.ShapeDtypeStruct leaves, computed without running anything (once)."""
        if self._shapes is None:
            self._shapes = self._shape_tree(self.input_shape)
        return self._shapes

    @property
    def required_params(self) -> set[tuple[str, ...]]:
        """Every parameter's key path, as transformers' `flatten_dict` writes them."""
        if self._required is None:
            self._required = {tuple(name.split("/")) for name in _flatten(self.params_shape_tree)}
        return self._required

    @property
    def params(self) -> dict:
        if not self._is_initialized:
            raise ValueError("`params` cannot be accessed from model when the model is created with `_do_init=False`: "
                             "keep the params outside the model and pass them to each call (params=...)")
        return self._params

    @params.setter
    def params(self, params: dict) -> None:
        if not self._is_initialized:
            raise ValueError("`params` cannot be set from model when the model is created with `_do_init=False`: "
                             "keep the params outside the model and pass them to each call (params=...)")
        lacking = self.required_params - {tuple(name.split("/")) for name in _flatten(params)}
        if lacking:
            raise ValueError(f"Some parameters are missing: {sorted('/'.join(key) for key in lacking)}")
        self._params = params

    def _cast_floating_to(self, params: dict, dtype: Dtype, mask: Any = None) -> dict:
        def cast(leaf):
            return leaf.astype(dtype) if _is_float(leaf.dtype) else leaf

        if mask is None:
            return jax.tree_util.tree_map(cast, params)
        # As transformers: the mask's leaves, in JAX's order (keys sorted at every level), go with the sorted key
        # paths of the parameters; the result is a plain nested dict.
        flat = _flatten(params)
        paths = sorted(flat, key=lambda name: tuple(name.split("/")))
        for keep, name in zip(jax.tree_util.tree_leaves(mask), paths):
            if keep:
                flat[name] = cast(flat[name])
        return nest(flat.items())

    def to_bf16(self, params: dict, mask: Any = None) -> dict:
        """Floating parameters cast to bfloat16 (mask: a tree of bools, False leaves untouched), as transformers."""
        return self._cast_floating_to(params, jnp.bfloat16, mask)

    def to_fp16(self, params: dict, mask: Any = None) -> dict:
        return self._cast_floating_to(params, jnp.float16, mask)

    def to_fp32(self, params: dict, mask: Any = None) -> dict:
        return self._cast_floating_to(params, jnp.float32, mask)

    def num_parameters(self, params: dict | None = None) -> int:
        return sum(int(np.prod(leaf.shape)) for leaf in _flatten(self.params if params is None else params).values())

    # --- running ----------------------------------------------------------------------------------
    def _apply(self, params, input_ids, attention_mask, token_type_ids, position_ids, dropout_rng, train: bool,
               output_attentions: bool, output_hidden_states: bool) -> dict[str, Any]:
        rngs = {"dropout": dropout_rng} if dropout_rng is not None else {}
        return self.module.apply({"params": params}, input_ids, attention_mask, token_type_ids, position_ids,
                                 not train, output_attentions, output_hidden_states, rngs=rngs)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, params: dict | None = None,
                 dropout_rng: jax.Array | None = None, train: bool = False, output_attentions: bool | None = None,
                 output_hidden_states: bool | None = None, return_dict: bool | None = None):
        c = self.config
        output_attentions = c.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = c.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = c.return_dict if return_dict is None else return_dict
        input_ids = jnp.asarray(input_ids, dtype="i4")
        attention_mask = jnp.ones_like(input_ids) if attention_mask is None else jnp.asarray(attention_mask, "i4")
        token_type_ids = jnp.zeros_like(input_ids) if token_type_ids is None else jnp.asarray(token_type_ids, "i4")
        if position_ids is None:
            position_ids = jnp.broadcast_to(jnp.arange(input_ids.shape[-1], dtype="i4"), input_ids.shape)
        position_ids = jnp.asarray(position_ids, "i4")
        try:
            fields = self._forward(self.params if params is None else params, input_ids, attention_mask,
                                   token_type_ids, position_ids, dropout_rng, train=bool(train),
                                   output_attentions=bool(output_attentions),
                                   output_hidden_states=bool(output_hidden_states))
        except Exception as exc:  # flax's InvalidRngError, raised while tracing
            if train and dropout_rng is None and "dropout" in str(exc).lower():
                raise ValueError("train=True with dropout needs a dropout_rng (e.g. jax.random.PRNGKey(0))") from exc
            raise
        output = self.output_class(**fields)
        return output if return_dict else output.to_tuple()

    # --- checkpoints (the shared bridge; these hooks are all Flax adds) ----------------------------------------
    @classmethod
    def _constructor_arguments(cls) -> set[str]:
        module_fields = {f.name for f in dataclasses.fields(cls.module_class)} - {"config", "parent", "name"}
        return super()._constructor_arguments() | module_fields

    def _native_arrays(self, params: dict | None = None) -> dict[str, np.ndarray]:
        return {name: np.asarray(value) for name, value in _flatten(self.params if params is None else params).items()}

    def _native_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(leaf.shape) for name, leaf in _flatten(self.params_shape_tree).items()}

    def _assign_native(self, tensors: dict[str, LazyTensor], missing: list[str], param_dtype: Dtype | None = None,
                       **options: Any) -> None:
        """Floating tensors keep their stored dtype unless `param_dtype` is given (transformers keeps them too);
        missing ones are drawn as `init_weights` draws them."""
        loaded: dict[str, jax.Array] = {}
        for name, tensor in tensors.items():
            array = tensor.read()
            if param_dtype is not None and _is_float(array.dtype):
                array = array.astype(param_dtype)
            loaded[name] = jax.device_put(owned_copy(array))  # XLA takes the aligned buffer over: one copy
        if missing:
            random = _flatten(self.init_weights(self.key, self.input_shape))
            loaded.update({name: random[name] for name in missing})
        self._params = nest((name, loaded[name]) for name in self._native_shapes())  # the module's own order

    def to_checkpoint(self, params: dict | None = None) -> Checkpoint:
        """These parameters (default: the model's) as a canonical checkpoint."""
        return self._checkpoint_of(self._native_arrays(params))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any,
                        config: AlbertConfig | None = None, dtype: Dtype = jnp.float32,
                        param_dtype: Dtype | None = None, format: str | None = None, input_shape: tuple = (1, 1),
                        seed: int = 0, output_loading_info: bool = False, _do_init: bool = True, **kwargs: Any):
        """Load from a directory or file in ANY supported format (detected), or a Hub repo id `org/name[@rev]`.

        `dtype` is the computation dtype; `param_dtype` casts the loaded floating parameters (default: as stored).
        Other keyword arguments set config fields, or go to the module (`add_pooling_layer`).
        `_do_init=False` returns `(model, params)` (`(model, params, loading_info)` with output_loading_info) and
        the model keeps no parameters, as transformers'; weights the checkpoint lacks are initialised either way."""
        ckpt, config, module_kwargs = cls._pretrained(pretrained_model_name_or_path, config, format, kwargs)
        model = cls(config, *model_args, input_shape=input_shape, seed=seed, dtype=dtype,
                    param_dtype=param_dtype or jnp.float32, _do_init=False, **module_kwargs)
        info = model.load_checkpoint(ckpt, param_dtype=param_dtype)
        if _do_init:
            model._is_initialized = True
            return (model, info) if output_loading_info else model
        params, model._params = model._params, None
        return (model, params, info) if output_loading_info else (model, params)

    def save_pretrained(self, save_directory: str | os.PathLike, params: dict | None = None,
                        max_shard_size: int | str | None = "10GB", **kwargs: Any) -> None:
        """config.json + flax_model.msgpack (or shards + flax_model.msgpack.index.json, transformers' names),
        files replaced atomically and stale shards of an earlier save removed."""
        self._save_weights(save_directory, self.to_checkpoint(params), max_shard_size)


class FlaxAlbertModel(FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertModule
    output_class = FlaxBaseModelOutputWithPooling
    head = HeadKind.BASE


class FlaxAlbertForPreTraining(FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertForPreTrainingModule
    output_class = FlaxAlbertForPreTrainingOutput
    head = HeadKind.PRETRAINING


class FlaxAlbertForMaskedLM(FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertForMaskedLMModule
    output_class = FlaxMaskedLMOutput
    head = HeadKind.MASKED_LM


class FlaxAlbertForSequenceClassification(FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertForSequenceClassificationModule
    output_class = FlaxSequenceClassifierOutput
    head = HeadKind.SEQUENCE_CLASSIFICATION


class FlaxAlbertForMultipleChoice(FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertForMultipleChoiceModule
    output_class = FlaxMultipleChoiceModelOutput
    head = HeadKind.MULTIPLE_CHOICE

    def __init__(self, config: AlbertConfig, input_shape: tuple[int, ...] = (1, 1, 1), **kwargs: Any):
        super().__init__(config, input_shape, **kwargs)

    @classmethod
    def from_pretrained(cls, *args: Any, input_shape: tuple = (1, 1, 1), **kwargs: Any):
        return super().from_pretrained(*args, input_shape=input_shape, **kwargs)


class FlaxAlbertForTokenClassification(FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertForTokenClassificationModule
    output_class = FlaxTokenClassifierOutput
    head = HeadKind.TOKEN_CLASSIFICATION


class FlaxAlbertForQuestionAnswering(FlaxAlbertPreTrainedModel):
    module_class = FlaxAlbertForQuestionAnsweringModule
    output_class = FlaxQuestionAnsweringModelOutput
    head = HeadKind.QUESTION_ANSWERING


FLAX_MODEL_FOR_HEAD = {cls.head: cls for cls in (
    FlaxAlbertModel, FlaxAlbertForPreTraining, FlaxAlbertForMaskedLM, FlaxAlbertForSequenceClassification,
    FlaxAlbertForMultipleChoice, FlaxAlbertForTokenClassification, FlaxAlbertForQuestionAnswering)}
