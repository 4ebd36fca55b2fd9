"""ALBERT in PyTorch: the seven classes of the ALBERT documentation, with transformers' names and outputs.

Parameter names equal transformers' so `state_dict()` interoperates; weights come from any format through
the canonical checkpoint (the model knows no file format, only the HF PyTorch naming table).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from typing import Any

import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

from ..checkpoint import LazyTensor
from ..config import ATTENTION_IMPLEMENTATIONS, AlbertConfig, to_albert_config
from ..errors import NotYetSupported
from ..formats.hf_pytorch import MAPPING, numpy_to_torch, torch_to_numpy
from ..schema import HeadKind
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


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    # gelu_new (transformers' NewGELUActivation) and gelu_pytorch_tanh are one formula; torch's fused kernel computes
    # it in one pass where the written-out form takes six (measured 8-10% of a base-size forward; outputs within
    # 5e-7 of the written-out form).
    return nn.functional.gelu(x, approximate="tanh")


def _gelu_fast(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


ACTIVATIONS = {
    "gelu": nn.functional.gelu,
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": _gelu_fast,
    "relu": nn.functional.relu,
    "silu": nn.functional.silu,
    "swish": nn.functional.silu,
    "tanh": torch.tanh,
}


class AlbertEmbeddings(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # Computed, never loaded: made on the CPU even while from_pretrained builds the weights on the meta device.
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings, device="cpu").expand((1, -1)),
                             persistent=False)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        seq_length = inputs_embeds.shape[1]
        if position_ids is None:
            position_ids = self.position_ids[:, :seq_length]
        if token_type_ids is None:
            token_type_ids = torch.zeros(inputs_embeds.shape[:-1], dtype=torch.long, device=inputs_embeds.device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids) + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class AlbertAttention(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.config = config  # read at each call: config._attn_implementation may change after construction
        self.pruned_heads: set[int] = set()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.attention_dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], -1, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def prune_heads(self, heads) -> None:
        """Remove these heads (indices as the model had them before any pruning), as transformers does."""
        heads = set(heads) - self.pruned_heads
        if not heads:
            return
        mask = torch.ones(self.num_attention_heads, self.attention_head_size)
        for head in heads:  # its index among the heads still there
            mask[head - sum(1 for h in self.pruned_heads if h < head)] = 0
        index = torch.arange(mask.numel())[mask.view(-1).eq(1)]
        for name in ("query", "key", "value"):
            setattr(self, name, _select(getattr(self, name), index, dim=0))
        self.dense = _select(self.dense, index, dim=1)
        self.num_attention_heads -= len(heads)
        self.all_head_size = self.attention_head_size * self.num_attention_heads
        self.pruned_heads |= heads

    def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False):
        batch, seq, _ = hidden_states.shape
        q, k, v = (self._heads(layer(hidden_states)) for layer in (self.query, self.key, self.value))
        probs = None
        if output_attentions or head_mask is not None or self.config._attn_implementation == "eager":
            # Eager path: asked for, probabilities are an output, or heads are masked after the softmax (transformers'
            # SDPA class falls back to eager for output_attentions too).
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
            if attention_mask is not None:
                scores = scores + attention_mask
            probs = self.attention_dropout(torch.softmax(scores, dim=-1))
            if head_mask is not None:
                probs = probs * head_mask
            context = torch.matmul(probs, v)
        else:
            p = self.attention_dropout.p if self.training else 0.0
            context = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask, dropout_p=p)
        context = context.transpose(1, 2).reshape(batch, seq, self.all_head_size)
        output = self.LayerNorm(hidden_states + self.output_dropout(self.dense(context)))
        return (output, probs) if output_attentions else (output,)


def _select(layer: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A Linear keeping only these outputs (dim 0) or inputs (dim 1): transformers' prune_linear_layer."""
    weight = layer.weight.index_select(dim, index).detach().clone()
    bias = layer.bias.detach().clone() if dim == 1 else layer.bias[index].detach().clone()
    new = nn.Linear(weight.shape[1], weight.shape[0], device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        new.bias.copy_(bias)
    return new


class AlbertLayer(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.full_layer_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = AlbertAttention(config)
        self.ffn = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.activation = ACTIVATIONS[config.hidden_act]
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False):
        attention = self.attention(hidden_states, attention_mask, head_mask, output_attentions)
        # The original code drops out the ffn output (transformers forgets to); only matters in training.
        ffn = self.dropout(self.ffn_output(self.activation(self.ffn(attention[0]))))
        return (self.full_layer_layer_norm(ffn + attention[0]),) + attention[1:]


class AlbertLayerGroup(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.albert_layers = nn.ModuleList([AlbertLayer(config) for _ in range(config.inner_group_num)])
        self.gradient_checkpointing = False
        self._gradient_checkpointing_func = None

    def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False):
        attentions = ()
        for index, layer in enumerate(self.albert_layers):
            mask = head_mask[index] if head_mask is not None and index < len(head_mask) else None
            if self.gradient_checkpointing and self.training:  # activations recomputed in the backward pass
                out = self._gradient_checkpointing_func(layer.__call__, hidden_states, attention_mask, mask,
                                                        output_attentions)
            else:
                out = layer(hidden_states, attention_mask, mask, output_attentions)
            hidden_states = out[0]
            if output_attentions:
                attentions += (out[1],)
        return hidden_states, attentions


class AlbertTransformer(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.config = config
        self.embedding_hidden_mapping_in = nn.Linear(config.embedding_size, config.hidden_size)
        self.albert_layer_groups = nn.ModuleList([AlbertLayerGroup(config) for _ in range(config.num_hidden_groups)])

    def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False,
                output_hidden_states=False, return_dict=True):
        config = self.config
        hidden_states = self.embedding_hidden_mapping_in(hidden_states)
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for i in range(config.num_hidden_layers):
            g = config.group_of_layer(i)
            group_mask = None if head_mask is None else head_mask[config.head_mask_rows(g)]
            hidden_states, attentions = self.albert_layer_groups[g](
                hidden_states, attention_mask, group_mask, output_attentions)
            if output_attentions:
                all_attentions += attentions
            if output_hidden_states:
                all_hidden += (hidden_states,)
        if not return_dict:
            return tuple(v for v in (hidden_states, all_hidden, all_attentions) if v is not None)
        return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden, attentions=all_attentions)


@contextlib.contextmanager
def _empty_weights():
    """Build modules on the meta device with torch's initialisers switched off: they would draw random numbers
    for tensors that do not exist yet (and, on meta tensors, import torch's compiler stack: 1.7 s)."""
    names = ("normal_", "uniform_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
             "trunc_normal_", "zeros_", "ones_", "constant_")
    saved = {name: getattr(nn.init, name) for name in names}
    try:
        for name in names:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        with torch.device("meta"):
            yield
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


class AlbertPreTrainedModel(CheckpointBridge, nn.Module):
    """Weights from any supported format (`from_pretrained`), written as transformers does (`save_pretrained`)."""

    config_class = AlbertConfig
    base_model_prefix = "albert"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    head: HeadKind = HeadKind.BASE
    mapping = MAPPING
    weights_format = "safetensors"
    tied_parameters = frozenset({"predictions.decoder.weight", "predictions.decoder.bias"})

    def __init__(self, config: AlbertConfig):
        super().__init__()
        if config._attn_implementation is None:
            config._attn_implementation = "sdpa"  # transformers' default for ALBERT
        self.config = config

    def post_init(self) -> None:
        if self.config.pruned_heads:  # a config saved after prune_heads: build the pruned shapes, as transformers
            self.base_model._prune_heads(self.config.pruned_heads)
        if not next(self.parameters()).is_meta:  # built for from_pretrained: the checkpoint will fill it
            self.apply(self._init_weights)
        self.tie_weights()
        if getattr(self.config, "gradient_checkpointing", False):  # transformers' old config flag: consumed here
            self.gradient_checkpointing_enable()
            del self.config.gradient_checkpointing

    # --- transformers' PreTrainedModel attributes and attention switching -------------------------------------------
    # The attention kernels AlbertAttention really runs: its eager path and torch's scaled_dot_product_attention
    # (config._attn_implementation, read at every call). No flash or flex attention, no AttentionInterface backends.
    _supports_sdpa = True
    _supports_flash_attn = False
    _supports_flex_attn = False
    _supports_attention_backend = False
    _keep_in_fp32_modules = None  # every parameter takes from_pretrained's dtype (transformers' ALBERT: the same)

    @classmethod
    def _can_set_attn_implementation(cls) -> bool:
        """True: the attention reads config._attn_implementation at each call, so a switch applies at once
        (transformers' ALBERT says False: its attention class is chosen at construction)."""
        return True

    def set_attn_implementation(self, attn_implementation: str | dict) -> None:
        """Switch this model's attention: "eager" or "sdpa" (a dict: its "" entry; ALBERT has no sub-models)."""
        requested = attn_implementation.get("", self.config._attn_implementation) \
            if isinstance(attn_implementation, dict) else attn_implementation
        if requested not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f'Specified `attn_implementation="{requested}"` is not supported. The only possible '
                             f'arguments are {", ".join(f"`attn_implementation={a!r}`" for a in ATTENTION_IMPLEMENTATIONS)}')
        self.config._attn_implementation = requested

    @classmethod
    def _from_config(cls, config: Any, **kwargs: Any):
        """A new model with random weights from a config, as transformers' `_from_config`: `dtype` (default:
        config.dtype) and `attn_implementation` (set on the config) are taken from the keyword arguments; the
        rest go to the constructor."""
        dtype = kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None) or getattr(config, "dtype", None)
        if dtype == "auto":
            dtype = getattr(config, "dtype", None)
        attn = kwargs.pop("attn_implementation", None)
        config = to_albert_config(config)
        if attn is not None:
            config._attn_implementation = attn
        model = cls(config, **kwargs)
        if dtype is not None:
            model = model.to(_torch_dtype(str(dtype), config, None))
        return model

    @property
    def vocab_size(self) -> int:
        """Rows of the word embeddings (config.vocab_size; transformers sets this attribute after a resize)."""
        return self.get_input_embeddings().num_embeddings

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, AlbertMLMHead):
            nn.init.zeros_(module.bias)

    def tie_weights(self) -> None:
        """The MLM decoder is the word embeddings (and its bias predictions.bias), as in transformers."""
        predictions = getattr(self, "predictions", None)
        if predictions is not None:
            embeddings = self.get_input_embeddings()
            predictions.decoder.weight = embeddings.weight
            predictions.decoder.out_features = embeddings.num_embeddings
            predictions.decoder.bias = predictions.bias

    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.base_model.embeddings.word_embeddings = value

    def get_output_embeddings(self) -> nn.Linear | None:
        predictions = getattr(self, "predictions", None)
        return None if predictions is None else predictions.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.predictions.decoder = new_embeddings
        self.predictions.bias = new_embeddings.bias

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """Resize the word embeddings (and the tied MLM decoder and its bias) to new_num_tokens rows, rounded up to
        a multiple of pad_to_multiple_of; config.vocab_size follows. As transformers: added rows are drawn around the
        old rows' mean (`mean_resizing`; otherwise normal(0, initializer_range)), added bias entries are zero."""
        embeddings = self.get_input_embeddings()
        if new_num_tokens is None and pad_to_multiple_of is None:
            return embeddings
        if pad_to_multiple_of is not None and not isinstance(pad_to_multiple_of, int):
            # transformers' words, its typo ("not and integer") included: code and tests match on them
            raise ValueError(f"Asking to pad the embedding matrix to a multiple of `{pad_to_multiple_of}`, which is "
                             "not and integer. Please make sure to pass an integer")
        old = embeddings.num_embeddings
        size = old if new_num_tokens is None else new_num_tokens
        if pad_to_multiple_of is not None:
            size = math.ceil(size / pad_to_multiple_of) * pad_to_multiple_of
        self.config.vocab_size = size  # validated first (a ConfigError changes nothing)
        weight = embeddings.weight.data
        new = weight.new_empty((size, weight.shape[1]))
        new[:min(old, size)] = weight[:min(old, size)]
        if size > old:
            new[old:] = _added_rows(weight, size - old) if mean_resizing else \
                new[old:].normal_(std=self.config.initializer_range)
        embeddings.weight.data = new  # the same Parameter: optimisers and ties keep holding it
        embeddings.num_embeddings = size
        if embeddings.padding_idx is not None and embeddings.padding_idx >= size:
            embeddings.padding_idx = None
        predictions = getattr(self, "predictions", None)
        if predictions is not None:
            predictions.bias.data = nn.functional.pad(predictions.bias.data, (0, size - predictions.bias.shape[0]))
        self.tie_weights()
        return embeddings

    def prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        """Remove attention heads: {distinct layer g * K + k: [heads]} (ALBERT's layers are shared: index the
        G * K distinct ones), recorded in config.pruned_heads as transformers does."""
        layers = self.config.num_hidden_groups * self.config.inner_group_num
        heads_to_prune = {_layer_index(layer, layers): heads for layer, heads in heads_to_prune.items()}
        pruned = {_layer_index(layer, layers): list(heads) for layer, heads in self.config.pruned_heads.items()}
        for layer, heads in heads_to_prune.items():
            pruned[layer] = sorted(set(pruned.get(layer, [])) | set(heads))
        self.config.pruned_heads = pruned
        self.base_model._prune_heads(heads_to_prune)

    # --- gradient checkpointing ---------------------------------------------------------------------------------
    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict[str, Any] | None = None) -> None:
        """Recompute each layer's activations in the backward pass (torch.utils.checkpoint; transformers' default
        use_reentrant=True unless gradient_checkpointing_kwargs says otherwise)."""
        options = {"use_reentrant": True, **(gradient_checkpointing_kwargs or {})}
        from torch.utils.checkpoint import checkpoint

        self._set_gradient_checkpointing(functools.partial(checkpoint, **options))

    def gradient_checkpointing_disable(self) -> None:
        self._set_gradient_checkpointing(None)

    def _set_gradient_checkpointing(self, function) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = function is not None
                module._gradient_checkpointing_func = function

    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(getattr(m, "gradient_checkpointing", False) for m in self.modules())

    @property
    def base_model(self) -> "AlbertModel":
        return getattr(self, self.base_model_prefix, self)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Distinct parameters (the tied decoder counted once), as transformers counts them."""
        skip = set()
        if exclude_embeddings:
            skip = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values()
                   if id(p) not in skip and (p.requires_grad or not only_trainable))

    # --- checkpoints (the shared bridge; these hooks are all PyTorch adds) ---------------------------------------
    def _native_arrays(self) -> dict[str, Any]:
        if self.config.pruned_heads:
            raise NotYetSupported("a model with pruned attention heads cannot be saved or converted: the canonical "
                                  "schema has every head")
        return {name: torch_to_numpy(t) for name, t in self.state_dict().items() if name not in self.tied_parameters}

    def _native_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(t.shape) for name, t in self.state_dict().items()}

    def _assign_native(self, tensors: dict[str, LazyTensor], missing: list[str], **options: Any) -> None:
        """Copy into a built model's parameters; a model built on the meta device (from_pretrained) takes the
        checkpoint's arrays as its parameters without a copy (memory-mapped files stay mapped), and only the
        parameters the checkpoint lacks are materialised and initialised."""
        dtype = options.get("dtype") or torch.get_default_dtype()
        with torch.no_grad():
            for name in missing:
                module_name, _, leaf = name.rpartition(".")
                module = self.get_submodule(module_name)
                if getattr(module, leaf).is_meta:
                    module.to_empty(device="cpu", recurse=False)
                    self._init_weights(module)
            for name, tensor in tensors.items():  # one tensor at a time: no second copy of the whole model
                module_name, _, leaf = name.rpartition(".")
                module = self.get_submodule(module_name)
                current = getattr(module, leaf)
                value = numpy_to_torch(tensor.read(), contiguous=False)
                if current.is_meta:
                    value = value if value.dtype == dtype or not value.is_floating_point() else value.to(dtype)
                    setattr(module, leaf, nn.Parameter(value, requires_grad=current.requires_grad))
                else:
                    current.copy_(value)
        self.tie_weights()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike | None, *model_args: Any,
                        config: Any = None, format: str | None = None, dtype: Any = None, torch_dtype: Any = None,
                        state_dict: dict[str, torch.Tensor] | None = None, output_loading_info: bool = False,
                        **kwargs: Any):
        """Load from a directory or file in ANY supported format (detected), like transformers' from_pretrained.

        `dtype` (transformers 4.57's name; `torch_dtype` is the older one): a torch.dtype, its name ("float16") or
        "auto" (config.dtype, else the stored one). `state_dict`: weights by transformers' names, used instead of
        the files' (with `config=`, the path may be None). `ignore_mismatched_sizes`, `attn_implementation`,
        `output_loading_info` and config overrides as in transformers."""
        if torch.empty(0).device.type == "meta":  # inside `with torch.device("meta")`: no weights could be loaded
            raise RuntimeError(
                "You are using `from_pretrained` with a meta device context manager or "
                "`torch.set_default_device('meta')`.\nThis is an anti-pattern as `from_pretrained` wants to load "
                "existing weights.\nIf you want to initialize an empty model on the meta device, use the context "
                "manager or global device with `from_config`, or `ModelClass(config)`")
        native = None
        if state_dict is not None:
            native = {name: LazyTensor.of(torch_to_numpy(t), f"state_dict: {name}") for name, t in state_dict.items()}
        ckpt, config, model_kwargs = cls._pretrained(pretrained_model_name_or_path, config, format, kwargs, native)
        requested = dtype if dtype is not None else torch_dtype
        dtype = _torch_dtype(requested, config, ckpt)
        with _empty_weights():  # no random initialisation that the checkpoint would overwrite
            model = cls(config, *model_args, **model_kwargs)
        info = model.load_checkpoint(ckpt, dtype=dtype)
        if dtype is not None:
            model = model.to(dtype)
        if requested is not None and requested != "auto":  # as transformers: "auto" leaves the config's
            model.config.dtype = str(dtype).removeprefix("torch.")
        model.eval()
        return (model, info) if output_loading_info else model

    def save_pretrained(self, save_directory: str | os.PathLike, safe_serialization: bool = True,
                        max_shard_size: int | str | None = "5GB", **kwargs: Any) -> None:
        """config.json + model.safetensors (or pytorch_model.bin), sharded over max_shard_size, files replaced
        atomically and stale shards of an earlier save removed."""
        self._save_weights(save_directory, self.to_checkpoint(), max_shard_size,
                           None if safe_serialization else "pytorch")


def _layer_index(layer: int | str, layers: int) -> int:
    """A distinct-layer index for prune_heads / config.pruned_heads; a negative one counts from the last of the G * K
    distinct layers (Python's indexing; transformers' for K = 1)."""
    layer = int(layer)
    if not -layers <= layer < layers:
        raise ValueError(f"layer index {layer} is outside the {layers} distinct layers (g * K + k)")
    return layer % layers


def _added_rows(weight: torch.Tensor, count: int) -> torch.Tensor:
    """transformers' mean resizing: rows from a normal with the old rows' mean and 1e-9 times their covariance (the
    mean itself when that covariance is not positive definite); the same draws as transformers under one seed."""
    old = weight.float()
    mean = old.mean(0)
    covariance = 1e-9 * ((old - mean).T @ (old - mean) / old.shape[0])
    if torch.distributions.constraints.positive_definite.check(covariance).all():
        rows = torch.distributions.MultivariateNormal(mean, covariance_matrix=covariance).sample((count,))
    else:
        rows = mean[None].repeat(count, 1)
    return rows.to(weight.dtype)


def _torch_dtype(value: Any, config: AlbertConfig, ckpt) -> torch.dtype | None:
    """from_pretrained's dtype: a torch.dtype, its name ("float16", "torch.float16") or "auto" (the config's dtype,
    else the stored weights'; None keeps torch's default, float32)."""
    if value is None or isinstance(value, torch.dtype):
        return value
    if value == "auto":
        value = config.dtype or ckpt.tensors["embeddings.word"].dtype.name
    found = getattr(torch, str(value).removeprefix("torch."), None) if isinstance(value, str) else None
    if not isinstance(found, torch.dtype) or not found.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype, its name (e.g. 'float16') or 'auto', got {value!r}")
    return found


class AlbertModel(AlbertPreTrainedModel):
    head = HeadKind.BASE

    def __init__(self, config: AlbertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = AlbertEmbeddings(config)
        self.encoder = AlbertTransformer(config)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.pooler_activation = nn.Tanh() if add_pooling_layer else None
        self.post_init()

    @property
    def base_model(self) -> "AlbertModel":
        return self

    def _prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        layers = self.config.num_hidden_groups * self.config.inner_group_num
        for layer, heads in heads_to_prune.items():  # layer g * K + k: inner layer k of group g
            group, inner = divmod(_layer_index(layer, layers), self.config.inner_group_num)
            self.encoder.albert_layer_groups[group].albert_layers[inner].attention.prune_heads(heads)

    def get_head_mask(self, head_mask, num_layers: int):
        """[A] or [L, A] -> [L, 1, A, 1, 1] like transformers, or None."""
        if head_mask is None:
            return None
        head_mask = torch.as_tensor(head_mask, dtype=self.dtype, device=self.device)
        if head_mask.dim() == 1:
            head_mask = head_mask.expand(num_layers, -1)
        return head_mask[:, None, :, None, None]

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                head_mask=None, inputs_embeds=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = config.use_return_dict if return_dict is None else return_dict
        if input_ids is not None and inputs_embeds is not None:
            raise ValueError("You cannot specify both input_ids and inputs_embeds at the same time")
        if input_ids is None and inputs_embeds is None:
            raise ValueError("You have to specify either input_ids or inputs_embeds")
        embeddings = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)

        extended = None
        if attention_mask is not None:
            # Additive mask over keys: 0 where attended, the dtype's minimum where padded (as transformers).
            keep = attention_mask.to(embeddings.device)[:, None, None, :].to(embeddings.dtype)
            extended = (1.0 - keep) * torch.finfo(embeddings.dtype).min
            if not torch.jit.is_tracing() and bool((attention_mask != 0).all()):
                extended = None  # nothing masked: lets SDPA take its fastest kernel (a trace keeps the mask)
        encoder = self.encoder(embeddings, extended, self.get_head_mask(head_mask, config.num_hidden_layers),
                               output_attentions, output_hidden_states, return_dict=True)
        sequence = encoder.last_hidden_state
        pooled = self.pooler_activation(self.pooler(sequence[:, 0])) if self.pooler is not None else None
        if not return_dict:
            return tuple(v for v in (sequence, pooled, encoder.hidden_states, encoder.attentions) if v is not None)
        return _traceable(BaseModelOutputWithPooling(last_hidden_state=sequence, pooler_output=pooled,
                                                     hidden_states=encoder.hidden_states,
                                                     attentions=encoder.attentions))


class AlbertMLMHead(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.decoder = nn.Linear(config.embedding_size, config.vocab_size)  # weight tied to the word embeddings
        self.activation = ACTIVATIONS[config.hidden_act]
        self.decoder.bias = self.bias

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.LayerNorm(self.activation(self.dense(hidden_states))))


class AlbertSOPHead(nn.Module):
    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.dropout = nn.Dropout(config.classifier_dropout_rate)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled_output: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(pooled_output))


def _finish(output_cls, return_dict: bool, loss, outputs, **fields):
    """Build the output object, or transformers' tuple form when return_dict is False. `outputs` is AlbertModel's
    (read by key: while tracing, it is a dict)."""
    result = output_cls(loss=loss, **fields, hidden_states=outputs.get("hidden_states"),
                        attentions=outputs.get("attentions"))
    return _traceable(result) if return_dict else result.to_tuple()


def _traceable(output):
    """While tracing (torch.jit.trace, the TorchScript-based torch.onnx.export), an output is a plain dict of its
    fields that are not None: tracers take only dicts and tuples at a model's output (and a dict only with
    strict=False), and a transformers model traced so returns the same dict (see models/outputs.py)."""
    return dict(output.items()) if torch.jit.is_tracing() else output


class AlbertForPreTraining(AlbertPreTrainedModel):
    head = HeadKind.PRETRAINING
    _tied_weights_keys = ["predictions.decoder.bias", "predictions.decoder.weight"]

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config)
        self.predictions = AlbertMLMHead(config)
        self.sop_classifier = AlbertSOPHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.predictions.decoder

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, sentence_order_label=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        outputs = self.albert(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                              output_attentions, output_hidden_states, return_dict=True)
        prediction_scores = self.predictions(outputs["last_hidden_state"])
        sop_scores = self.sop_classifier(outputs["pooler_output"])
        loss = None
        if labels is not None and sentence_order_label is not None:
            loss_fct = CrossEntropyLoss()
            loss = loss_fct(prediction_scores.view(-1, self.config.vocab_size), labels.view(-1)) + loss_fct(
                sop_scores.view(-1, 2), sentence_order_label.view(-1))
        return _finish(AlbertForPreTrainingOutput, return_dict, loss, outputs,
                       prediction_logits=prediction_scores, sop_logits=sop_scores)


class AlbertForMaskedLM(AlbertPreTrainedModel):
    head = HeadKind.MASKED_LM
    _tied_weights_keys = ["predictions.decoder.bias", "predictions.decoder.weight"]

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.predictions = AlbertMLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.predictions.decoder

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        outputs = self.albert(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                              output_attentions, output_hidden_states, return_dict=True)
        logits = self.predictions(outputs["last_hidden_state"])
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits.view(-1, self.config.vocab_size), labels.view(-1))
        return _finish(MaskedLMOutput, return_dict, loss, outputs, logits=logits)


class AlbertForSequenceClassification(AlbertPreTrainedModel):
    head = HeadKind.SEQUENCE_CLASSIFICATION

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.albert = AlbertModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_rate)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        outputs = self.albert(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                              output_attentions, output_hidden_states, return_dict=True)
        logits = self.classifier(self.dropout(outputs["pooler_output"]))
        loss = None
        if labels is not None:
            if self.config.problem_type is None:
                if self.num_labels == 1:
                    self.config.problem_type = "regression"
                elif labels.dtype in (torch.long, torch.int):
                    self.config.problem_type = "single_label_classification"
                else:
                    self.config.problem_type = "multi_label_classification"
            if self.config.problem_type == "regression":
                loss = MSELoss()(logits.squeeze(), labels.squeeze()) if self.num_labels == 1 \
                    else MSELoss()(logits, labels)
            elif self.config.problem_type == "single_label_classification":
                loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
            else:
                loss = BCEWithLogitsLoss()(logits, labels)
        return _finish(SequenceClassifierOutput, return_dict, loss, outputs, logits=logits)


class AlbertForTokenClassification(AlbertPreTrainedModel):
    head = HeadKind.TOKEN_CLASSIFICATION

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.classifier_dropout_rate)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        outputs = self.albert(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                              output_attentions, output_hidden_states, return_dict=True)
        logits = self.classifier(self.dropout(outputs["last_hidden_state"]))
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
        return _finish(TokenClassifierOutput, return_dict, loss, outputs, logits=logits)


class AlbertForQuestionAnswering(AlbertPreTrainedModel):
    head = HeadKind.QUESTION_ANSWERING

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        outputs = self.albert(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                              output_attentions, output_hidden_states, return_dict=True)
        logits = self.qa_outputs(outputs["last_hidden_state"])
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            start_positions = start_positions.squeeze(-1) if start_positions.dim() > 1 else start_positions
            end_positions = end_positions.squeeze(-1) if end_positions.dim() > 1 else end_positions
            # Positions outside the input are clamped to an ignored index, as transformers does.
            ignored = start_logits.size(1)
            loss_fct = CrossEntropyLoss(ignore_index=ignored)
            loss = (loss_fct(start_logits, start_positions.clamp(0, ignored))
                    + loss_fct(end_logits, end_positions.clamp(0, ignored))) / 2
        return _finish(QuestionAnsweringModelOutput, return_dict, loss, outputs,
                       start_logits=start_logits, end_logits=end_logits)


class AlbertForMultipleChoice(AlbertPreTrainedModel):
    head = HeadKind.MULTIPLE_CHOICE

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_rate)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        num_choices = input_ids.shape[1] if input_ids is not None else inputs_embeds.shape[1]

        def flat(t):
            return None if t is None else t.reshape(-1, *t.shape[2:])

        outputs = self.albert(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
                              head_mask, flat(inputs_embeds), output_attentions, output_hidden_states,
                              return_dict=True)
        logits = self.classifier(self.dropout(outputs["pooler_output"])).view(-1, num_choices)
        loss = CrossEntropyLoss()(logits, labels) if labels is not None else None
        return _finish(MultipleChoiceModelOutput, return_dict, loss, outputs, logits=logits)


MODEL_FOR_HEAD = {cls.head: cls for cls in (
    AlbertModel, AlbertForPreTraining, AlbertForMaskedLM, AlbertForSequenceClassification,
    AlbertForMultipleChoice, AlbertForTokenClassification, AlbertForQuestionAnswering)}
