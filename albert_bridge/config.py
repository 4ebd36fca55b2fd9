"""AlbertConfig: the HF `config.json` (every field kept) and the original `albert_config.json`."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, NamedTuple

from .errors import BridgeError, NotFound, did_you_mean

CONFIG_NAME = "config.json"
ORIGINAL_CONFIG_NAME = "albert_config.json"

# Activations every backend implements. The original code's `gelu` is the tanh approximation,
# which transformers calls `gelu_new`; its `gelu` is the exact erf form.
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish", "tanh")

_DEFAULTS: dict[str, Any] = {
    "vocab_size": 30000,
    "embedding_size": 128,
    "hidden_size": 4096,
    "num_hidden_layers": 12,
    "num_hidden_groups": 1,
    "num_attention_heads": 64,
    "intermediate_size": 16384,
    "inner_group_num": 1,
    "hidden_act": "gelu_new",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "classifier_dropout_prob": 0.1,
    "position_embedding_type": "absolute",
    "pad_token_id": 0,
    "bos_token_id": 2,
    "eos_token_id": 3,
}
# Generic PretrainedConfig fields code reads; kept out of to_dict() while at their defaults (transformers' to_diff_dict).
_GENERIC: dict[str, Any] = {
    "output_attentions": False,
    "output_hidden_states": False,
    "return_dict": True,
    "problem_type": None,
    "architectures": None,
    "dtype": None,                 # transformers 4.57's name; `torch_dtype` is its alias
    "is_encoder_decoder": False,
    "is_decoder": False,
    "add_cross_attention": False,
    "tie_word_embeddings": True,
    "chunk_size_feed_forward": 0,  # feed-forward chunking changes memory, never outputs: accepted, not used
    "pruned_heads": {},
    "finetuning_task": None,
    "tokenizer_class": None,
    "torchscript": False,          # PyTorch: tuple outputs (use_return_dict is False), as transformers
}
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa")
# transformers' from_pretrained arguments about fetching and caching: a Hub id honours revision, token, cache_dir and
# local_files_only (sources.resolve_pretrained); for local files they mean nothing and are accepted silently.
LOADER_ONLY = frozenset({
    "from_pt", "from_tf", "from_flax", "local_files_only", "cache_dir", "revision", "token", "use_auth_token",
    "use_safetensors", "force_download", "resume_download", "proxies", "trust_remote_code", "subfolder",
    "low_cpu_mem_usage", "device_map", "_fast_init", "mirror", "_commit_hash",
})


class ConfigError(BridgeError, ValueError):
    """An invalid config value: a BridgeError (one line, naming the file) that is also the ValueError transformers
    raises for one."""
# Sanity limits for what a config may claim: far above any ALBERT (xxlarge: H 4096, I 16384; multilingual vocabularies
# ~250k), far below what would make enumerating the expected tensors or building a model hang or exhaust memory.
MAX_SIZE = 1 << 20        # any one dimension (vocab, E, H, I, positions, token types, labels)
MAX_LAYERS = 1024         # num_hidden_layers, and the G * K distinct layers whose tensors a checkpoint holds
_SIZES = ("vocab_size", "embedding_size", "hidden_size", "intermediate_size", "max_position_embeddings",
          "type_vocab_size", "num_attention_heads")
_PROBABILITIES = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob")

_ORIGINAL_KEYS = (
    "attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "embedding_size", "hidden_size",
    "initializer_range", "intermediate_size", "max_position_embeddings", "num_attention_heads",
    "num_hidden_layers", "num_hidden_groups", "net_structure_type", "layers_to_keep", "gap_size",
    "num_memory_blocks", "inner_group_num", "down_scale_factor", "type_vocab_size", "vocab_size",
)


# Keys transformers itself writes or reads in a config.json (PretrainedConfig's attributes in 4.57, and older
# names), besides ALBERT's own: known, though no ALBERT model reads most of them.
_TRANSFORMERS_KEYS = frozenset({
    "_name_or_path", "transformers_version", "model_type", "architectures", "torch_dtype", "dtype", "use_bfloat16",
    "id2label", "label2id", "num_labels", "attn_implementation", "_attn_implementation", "_commit_hash",
    "_attn_implementation_autoset", "bad_words_ids", "begin_suppress_tokens", "cross_attention_hidden_size",
    "decoder_start_token_id", "diversity_penalty", "do_sample", "early_stopping", "encoder_no_repeat_ngram_size",
    "exponential_decay_length_penalty", "forced_bos_token_id", "forced_eos_token_id", "length_penalty", "max_length",
    "min_length", "no_repeat_ngram_size", "num_beam_groups", "num_beams", "num_return_sequences", "output_scores",
    "prefix", "remove_invalid_values", "repetition_penalty", "return_dict_in_generate", "sep_token_id",
    "suppress_tokens", "task_specific_params", "temperature", "tf_legacy_loss", "tie_encoder_decoder", "top_k",
    "top_p", "torchscript", "typical_p", "gradient_checkpointing", "use_cache", "xla_device", "output_past",
    "classifier_dropout",
})


def unknown_keys(config: "AlbertConfig") -> dict[str, str]:
    """The keys a config was read with that neither ALBERT nor transformers knows, each with a hint naming the
    closest ALBERT key (" (did you mean num_hidden_layers?)", or ""): ALBERT shares weights across layers, so a
    misspelt num_hidden_layers changes the model without changing any tensor's shape."""
    albert_keys = [*_DEFAULTS, *_GENERIC, "num_labels", "id2label", "label2id"]
    known = {*albert_keys, *_TRANSFORMERS_KEYS, *_ORIGINAL_KEYS}
    return {key: did_you_mean(key, albert_keys) for key in config._extra if key not in known}


class AlbertConfig:
    """Same constructor arguments and attributes as transformers' AlbertConfig."""

    model_type = "albert"
    # transformers' composite-config registry: ALBERT nests no other config (transformers' AlbertConfig: {} too).
    sub_configs: dict[str, type] = {}
    _commit_hash: str | None = None  # transformers' pipelines read it (the Hub revision a config came from)

    def __init__(self, **kwargs: Any):
        object.__setattr__(self, "_ready", False)  # fields are validated together once all are set
        # The keys the source stated: a field it omits may be taken from the tensors (config_from_tensors).
        object.__setattr__(self, "_stated", frozenset(kwargs))
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        kwargs.pop("model_type", None)
        kwargs.pop("transformers_version", None)  # written by transformers; says nothing about this config
        commit_hash = kwargs.pop("_commit_hash", None)  # transformers' AutoConfig passes it; kept as its attribute
        attn = kwargs.pop("attn_implementation", kwargs.pop("_attn_implementation", None))
        if "torch_dtype" in kwargs:  # transformers < 4.56 wrote torch_dtype
            torch_dtype = kwargs.pop("torch_dtype")
            kwargs.setdefault("dtype", torch_dtype)
        for name, default in {**_DEFAULTS, **_GENERIC}.items():
            setattr(self, name, kwargs.pop(name, copy.copy(default)))
        # Unknown keys are kept, as transformers does, and written back by to_dict(); a key naming one of our
        # methods or properties would replace it on the instance.
        shadowing = sorted(name for name in kwargs if name == "_extra" or hasattr(type(self), name))
        if shadowing:
            raise ValueError(f"key {shadowing[0]!r} is not a config field (it names an AlbertConfig attribute)")
        self._extra = dict(kwargs)
        for name, value in kwargs.items():
            setattr(self, name, value)
        self._attn_implementation = attn
        if commit_hash is not None:
            self._commit_hash = commit_hash
        if num_labels is not None:
            _check_count("num_labels", num_labels, MAX_SIZE)
        if id2label is not None:
            # As transformers: named labels win over a num_labels that disagrees with them.
            if num_labels is not None and num_labels != len(id2label):
                warnings.warn(f"num_labels={num_labels} disagrees with the {len(id2label)} labels of id2label: "
                              "id2label is kept", stacklevel=2)
            self._set_labels(id2label, label2id)
        else:
            self._set_labels({i: f"LABEL_{i}" for i in range(2 if num_labels is None else num_labels)}, label2id)
        if self.dtype is not None:
            self.dtype = _dtype_name(self.dtype)
        if isinstance(self.pruned_heads, dict):  # JSON keys are strings
            self.pruned_heads = {_label_id("pruned_heads", k): v for k, v in self.pruned_heads.items()}
        object.__setattr__(self, "_ready", True)

    def _set_labels(self, id2label: Any, label2id: Any = None) -> None:
        """id2label with integer ids; label2id kept when it names exactly these ids, else made its inverse."""
        if not isinstance(id2label, dict) or len(id2label) > MAX_SIZE or not all(
                isinstance(v, str) for v in id2label.values()):
            raise ValueError(f"id2label must map at most {MAX_SIZE} label ids to names")
        if label2id is not None and not isinstance(label2id, dict):
            raise ValueError("label2id must be a mapping")
        id2label = {_label_id("id2label", k): v for k, v in id2label.items()}
        label2id = {k: _label_id("label2id", v) for k, v in (label2id or {}).items()}
        if len(label2id) != len(id2label) or set(label2id.values()) != set(id2label):
            label2id = {v: k for k, v in id2label.items()}
        object.__setattr__(self, "id2label", id2label)
        object.__setattr__(self, "label2id", label2id)

    def _assign(self, name: str, value: Any) -> None:
        if name in ("id2label", "label2id"):
            self._set_labels(**{"id2label": self.id2label, "label2id": self.label2id, name: value})
            return
        object.__setattr__(self, name, _dtype_name(value) if name == "dtype" and value is not None else value)
        if not name.startswith("_") and not self.has_field(name) and not hasattr(type(self), name):
            self._extra[name] = value  # a new field, written by to_dict() as transformers does

    def __setattr__(self, name: str, value: Any) -> None:
        """Every change after construction is validated, and undone if invalid (a ConfigError naming the field)."""
        if not self.__dict__.get("_ready") or (name.startswith("_") and name != "_attn_implementation"):
            object.__setattr__(self, name, value)
        else:
            self.update({name: value})

    def __delattr__(self, name: str) -> None:
        """Remove a field this config was read with or given (transformers' `delattr(config, name)`, e.g. the
        consumed `gradient_checkpointing`); to_dict() no longer writes it. ALBERT's own fields cannot be removed."""
        if name not in self._extra:
            raise AttributeError(f"{name!r} is not a removable config field (only keys beyond ALBERT's own are)")
        del self._extra[name]
        object.__delattr__(self, name)

    def update(self, config_dict: dict[str, Any]) -> None:
        """Set these fields as one change, validated together: nothing changes if the result is invalid."""
        before = {**self.__dict__, "_extra": dict(self._extra)}
        try:
            for name, value in config_dict.items():
                self._assign(name, value)
            self._check()
        except ValueError as exc:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise ConfigError(f"invalid config: {exc}") from None

    # --- transformers-compatible conveniences -------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value: int) -> None:
        _check_count("num_labels", value, MAX_SIZE)  # a ConfigError from __setattr__
        if value != len(self.id2label):
            self._set_labels({i: f"LABEL_{i}" for i in range(value)})

    @property
    def use_return_dict(self) -> bool:
        return bool(self.return_dict) and not self.torchscript

    @property
    def torch_dtype(self) -> str | None:
        """transformers' older name for `dtype`."""
        return self.dtype

    @torch_dtype.setter
    def torch_dtype(self, value: Any) -> None:
        self.dtype = value

    @property
    def _attn_implementation(self) -> str | None:
        """"eager" or "sdpa" (what the PyTorch models run; None until a model is built: then "sdpa", as
        transformers); not written by to_dict(), as in transformers."""
        return self.__dict__.get("_attn_implementation_internal")

    @_attn_implementation.setter
    def _attn_implementation(self, value: str | None) -> None:
        if value is not None and value not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attn_implementation {value!r} is not supported by ALBERT here "
                              f"(supported: {', '.join(ATTENTION_IMPLEMENTATIONS)})")
        self.__dict__["_attn_implementation_internal"] = value

    def get_text_config(self, decoder: bool | None = None, encoder: bool | None = None) -> "AlbertConfig":
        """ALBERT is text only: the config itself, as transformers returns it."""
        return self

    @property
    def classifier_dropout_rate(self) -> float:
        """What the classifier heads drop: classifier_dropout_prob, or hidden_dropout_prob when that is None
        (transformers' rule in its token-classification head; its other heads fail on None)."""
        p = self.classifier_dropout_prob
        return self.hidden_dropout_prob if p is None else p

    @property
    def layers_per_group(self) -> float:
        return self.num_hidden_layers / self.num_hidden_groups

    def group_of_layer(self, i: int) -> int:
        """Which hidden group layer i runs: the original's `int(i / (L / G))`, kept for L not divisible by G."""
        return int(i / (self.num_hidden_layers / self.num_hidden_groups))

    def head_mask_rows(self, g: int) -> slice:
        """The rows of an [L, ...] head mask that group g's inner layers use: transformers' `int(L / G)`-wide range
        (kept for parity; with K inner layers, inner layer k reads row k of it)."""
        per_group = int(self.num_hidden_layers / self.num_hidden_groups)
        return slice(g * per_group, (g + 1) * per_group)

    def has_field(self, name: str) -> bool:
        """Whether `name` is a config field (transformers' fields, label maps, or a key this config was read with)."""
        return name in _DEFAULTS or name in _GENERIC or name in self._extra or name in ("num_labels", "id2label",
                                                                                         "label2id")

    def updated(self, **changes: Any) -> "AlbertConfig":
        """A validated copy with these fields changed (`num_labels` re-derives the label maps)."""
        data = self.to_dict()
        if changes.get("num_labels", self.num_labels) != self.num_labels and "id2label" not in changes:
            data.pop("id2label")
            data.pop("label2id")
        copy = type(self).from_dict({**data, **changes})
        copy._attn_implementation = changes.get("attn_implementation", self._attn_implementation)
        copy._stated = self._stated | set(changes)
        return copy

    def without(self, *keys: str) -> "AlbertConfig":
        """A copy without these keys the config was read with (a foreign config's fields no ALBERT model reads)."""
        copy = type(self).from_dict({k: v for k, v in self.to_dict().items() if k not in keys})
        copy._attn_implementation = self._attn_implementation
        copy._stated = self._stated - set(keys)
        return copy

    def states(self, name: str) -> bool:
        """Whether the source of this config stated `name` (False: a default fills it)."""
        return name in self._stated or (name == "num_labels" and "id2label" in self._stated)

    def validate(self, source: object = None) -> "AlbertConfig":
        """Every field a model or the schema reads, checked before anything is built from it; a one-line
        BridgeError naming the field (and `source`, the file it came from)."""
        try:
            self._check()
        except ValueError as exc:
            raise ConfigError(f"invalid config: {exc}", file=source) from None
        return self

    def _check(self) -> None:
        """The first rule of RULES (the table at the end of this module) this config breaks, as a ValueError."""
        for rule in RULES:
            value = getattr(self, rule.field)
            if not rule.ok(value, self):
                message = rule.message
                raise ValueError(message(value, self) if callable(message) else message.format(value=value, c=self))

    # --- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model_type": self.model_type}
        for name in _DEFAULTS:
            out[name] = getattr(self, name)
        for name, default in _GENERIC.items():
            value = getattr(self, name)
            if value != default:
                out[name] = value
        for name in self._extra:
            out[name] = getattr(self, name)
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["label2id"] = dict(self.label2id)
        return dict(sorted(out.items()))

    def to_diff_dict(self) -> dict[str, Any]:
        """What config.json needs: to_dict() without the two default labels (transformers' to_diff_dict also
        leaves out generic fields at their defaults, as to_dict() does here)."""
        out = self.to_dict()
        if self.id2label == {0: "LABEL_0", 1: "LABEL_1"} and self.label2id == {"LABEL_0": 0, "LABEL_1": 1}:
            del out["id2label"], out["label2id"]
        return out

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_original_dict(self) -> dict[str, Any]:
        """The google-research `albert_config.json` form (its `gelu` means gelu_new)."""
        act = {"gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "gelu_fast": "gelu"}.get(self.hidden_act)
        if act is None and self.hidden_act != "relu":
            raise BridgeError(f"hidden_act {self.hidden_act!r} has no equivalent in the original ALBERT code")
        out = {name: getattr(self, name) for name in _ORIGINAL_KEYS if hasattr(self, name)}
        out["hidden_act"] = act or "relu"
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: object = None, *, return_unused_kwargs: bool = False,
                  **kwargs: Any):
        """A validated config from a config.json's dict. As in transformers, keyword arguments naming fields
        (or `attn_implementation`) then update it; with `return_unused_kwargs`, (config, the other ones)."""
        config = cls._from_dict(data, source)
        unused = config._apply_overrides(kwargs, source)
        return (config, unused) if return_unused_kwargs else config

    def _apply_overrides(self, kwargs: dict[str, Any], source: object) -> dict[str, Any]:
        kwargs = dict(kwargs)
        if "name_or_path" in kwargs:  # passed by transformers' AutoConfig: where the config came from
            self._name_or_path = str(kwargs.pop("name_or_path"))
        if "attn_implementation" in kwargs:
            try:
                self._attn_implementation = kwargs.pop("attn_implementation")
            except ConfigError as exc:  # already "invalid config: ..." (the change went through update())
                raise ConfigError(exc.message, file=source) from None
        if "torch_dtype" in kwargs:
            kwargs.setdefault("dtype", kwargs.pop("torch_dtype"))
        fields = {k: kwargs.pop(k) for k in list(kwargs) if self.has_field(k)}
        if fields.get("num_labels", self.num_labels) != self.num_labels and "id2label" in fields:
            del fields["num_labels"]  # named labels win, as in the constructor
        try:
            self.update(fields)
        except ConfigError as exc:
            raise ConfigError(exc.message, file=source) from None
        return kwargs

    @classmethod
    def _from_dict(cls, data: dict[str, Any], source: object = None) -> "AlbertConfig":
        if not isinstance(data, dict):
            raise BridgeError("config is not a JSON object", file=source)
        model_type = data.get("model_type", "albert")
        if model_type != "albert":
            raise BridgeError(f"model_type is {model_type!r}, not 'albert'", file=source)
        try:
            return cls(**data).validate(source)
        except BridgeError:
            raise
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise BridgeError(f"invalid config: {exc}", file=source) from None

    @classmethod
    def from_original_dict(cls, data: dict[str, Any], source: object = None) -> "AlbertConfig":
        if not isinstance(data, dict):
            raise BridgeError("config is not a JSON object", file=source)
        data = dict(data)
        if data.get("hidden_act") == "gelu":
            data["hidden_act"] = "gelu_new"  # the original gelu is the tanh approximation
        return cls._from_dict(data, source)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "AlbertConfig":
        path = Path(path)
        data = read_json(path)
        # transformers always writes model_type; the original code never does.
        if path.name == ORIGINAL_CONFIG_NAME or (isinstance(data, dict) and "model_type" not in data):
            return cls.from_original_dict(data, path)
        return cls._from_dict(data, path)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, return_unused_kwargs: bool = False, **kwargs: Any):
        """config.json (or an original albert_config.json) from a directory or file. Keyword arguments naming
        fields override them (validated); fetching arguments (cache_dir, revision, ...) are ignored for local
        files; with `return_unused_kwargs`, (config, the remaining ones), as transformers returns them."""
        kwargs = {k: v for k, v in kwargs.items() if k not in LOADER_ONLY}
        path = Path(path)
        if path.is_dir():
            for name in (CONFIG_NAME, ORIGINAL_CONFIG_NAME):
                if (path / name).is_file():
                    path = path / name
                    break
            else:
                raise NotFound(f"no {CONFIG_NAME} or {ORIGINAL_CONFIG_NAME} here", file=path)
        config = cls.from_json_file(path)
        unused = config._apply_overrides(kwargs, path)
        return (config, unused) if return_unused_kwargs else config

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / CONFIG_NAME
        target.write_text(self.to_json_string())
        return target

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlbertConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"AlbertConfig {self.to_json_string()}"


def _dtype_name(value: Any) -> Any:
    """A torch/numpy/jax dtype as its name ("float16"), the form config.json holds."""
    return value if isinstance(value, str) else str(getattr(value, "name", value)).removeprefix("torch.")


def to_albert_config(config: Any) -> AlbertConfig:
    """Our AlbertConfig from any config with ALBERT's fields (transformers' AlbertConfig, one from AutoConfig, a
    dict): converted once, validated, so a model never meets a config lacking what it calls (`group_of_layer`)."""
    if isinstance(config, AlbertConfig):
        return config
    if isinstance(config, dict):
        data = dict(config)
    elif callable(getattr(config, "to_diff_dict", None)):  # transformers' PretrainedConfig: only what it sets
        data = config.to_diff_dict()
    elif callable(getattr(config, "to_dict", None)):
        data = config.to_dict()
    elif hasattr(config, "hidden_size"):
        data = dict(vars(config))
    else:
        raise TypeError(f"config must be an AlbertConfig or a config with ALBERT's fields, not {type(config).__name__}")
    data = {k: v for k, v in data.items() if not k.startswith("_")}  # transformers' private bookkeeping
    converted = AlbertConfig.from_dict(data, f"{type(config).__name__} object")
    converted._attn_implementation = getattr(config, "_attn_implementation", None)
    return converted


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _check_count(name: str, value: Any, limit: int, limit_says: str | None = None) -> None:
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value > limit:
        raise ValueError(f"{name} {value} exceeds {limit_says or limit}")


def _label_id(field: str, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        return int(value)
    if _is_int(value):
        return value
    raise ValueError(f"{field} has a label id that is not an integer: {value!r}")


MAX_JSON_BYTES = 64 << 20  # configs and shard indexes are kilobytes; refuse to parse a huge file into memory


def parse_json(raw: bytes | str, where: object) -> Any:
    """JSON from a file a stranger may have written: every way it can be bad is one BridgeError naming it."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # decode errors, 4300-digit integers, nesting too deep
        raise BridgeError(f"not valid JSON ({str(exc)[:200] or type(exc).__name__})", file=where) from None


def read_json(path: Path) -> Any:
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise NotFound("file not found", file=path) from None
    except OSError as exc:
        raise BridgeError(f"cannot read ({exc.strerror or exc})", file=path) from None
    if len(raw) > MAX_JSON_BYTES:
        raise BridgeError(f"over {MAX_JSON_BYTES >> 20} MiB: too large for a JSON config or index", file=path)
    return parse_json(raw, path)


# --- validation: one row per rule, checked in order; the first broken one is the error ------------------------------
class ConfigRule(NamedTuple):
    field: str
    ok: Callable[[Any, AlbertConfig], bool]  # (the field's value, the config)
    message: str | Callable[[Any, AlbertConfig], str]  # a format string of `value` and `c` (the config), or a function


def _count(name: str, limit: Callable[[AlbertConfig], int], limit_says: str) -> tuple[ConfigRule, ConfigRule]:
    """A positive integer no larger than limit(config)."""
    return (ConfigRule(name, lambda v, c: _is_int(v) and v > 0, f"{name} must be a positive integer, got {{value!r}}"),
            ConfigRule(name, lambda v, c: v <= limit(c), f"{name} {{value}} exceeds {limit_says}"))


def _probability(name: str) -> ConfigRule:
    # classifier_dropout_prob may be None: transformers then uses hidden_dropout_prob
    nullable = name == "classifier_dropout_prob"
    return ConfigRule(name, lambda v, c: (v is None and nullable) or (_is_number(v) and 0 <= v <= 1),
                f"{name} must be a probability in [0, 1], got {{value!r}}")


def _optional_int(name: str) -> ConfigRule:
    return ConfigRule(name, lambda v, c: v is None or _is_int(v), f"{name} must be an integer, got {{value!r}}")


def _pruned_heads_ok(value: Any, c: AlbertConfig) -> bool:
    layers, heads = c.num_hidden_groups * c.inner_group_num, c.num_attention_heads
    return isinstance(value, dict) and all(
        _is_int(layer) and -layers <= layer < layers and isinstance(pruned, list)
        and all(_is_int(h) and 0 <= h < heads for h in pruned) for layer, pruned in value.items())


RULES: tuple[ConfigRule, ...] = (
    *(rule for name in _SIZES for rule in _count(name, lambda c: MAX_SIZE, str(MAX_SIZE))),
    *_count("num_hidden_layers", lambda c: MAX_LAYERS, str(MAX_LAYERS)),
    *_count("num_hidden_groups", lambda c: c.num_hidden_layers, "num_hidden_layers ({c.num_hidden_layers})"),
    # A checkpoint holds the tensors of G * K distinct layers; the schema enumerates them all.
    *_count("inner_group_num", lambda c: MAX_LAYERS // c.num_hidden_groups,
            f"{MAX_LAYERS} distinct layers over {{c.num_hidden_groups}} groups"),
    ConfigRule("hidden_size", lambda v, c: v % c.num_attention_heads == 0,
         "hidden_size {value} is not divisible by num_attention_heads {c.num_attention_heads}"),
    *_count("num_labels", lambda c: MAX_SIZE, str(MAX_SIZE)),
    *(_probability(name) for name in _PROBABILITIES),
    # up to 1 (transformers' tests set 1.0 to steady LayerNorm); 10**20 overflows in Flax's compiled LayerNorm
    ConfigRule("layer_norm_eps", lambda v, c: _is_number(v) and 0 < v <= 1,
         "layer_norm_eps must be a positive number no larger than 1, got {value!r}"),
    ConfigRule("initializer_range", lambda v, c: _is_number(v) and v >= 0,
         "initializer_range must be a non-negative number, got {value!r}"),
    ConfigRule("hidden_act", lambda v, c: isinstance(v, str) and v in ACTIVATIONS,
         f"unknown hidden_act {{value!r}} (known: {', '.join(ACTIVATIONS)})"),
    ConfigRule("position_embedding_type", lambda v, c: v == "absolute",
         "position_embedding_type {value!r} is not supported (only 'absolute')"),
    ConfigRule("architectures", lambda v, c: v is None or (isinstance(v, list) and all(isinstance(a, str) for a in v)),
         "architectures must be a list of class names, got {value!r}"),
    _optional_int("bos_token_id"),  # carried, never used by the model
    _optional_int("eos_token_id"),
    ConfigRule("problem_type", lambda v, c: v is None or v in PROBLEM_TYPES,
         f"problem_type {{value!r}} is not one of {', '.join(PROBLEM_TYPES)}"),
    ConfigRule("dtype", lambda v, c: v is None or isinstance(v, str),
         "dtype must be a dtype name such as 'float32', got {value!r}"),
    ConfigRule("pruned_heads", _pruned_heads_ok,
         # a negative layer index counts from the last distinct layer, as Python's (and transformers') indexing
         lambda v, c: f"pruned_heads must map layer indices in [-{c.num_hidden_groups * c.inner_group_num}, "
                      f"{c.num_hidden_groups * c.inner_group_num}) to lists "
                      f"of head indices below {c.num_attention_heads}, got {v!r}"),
    # the embeddings' padding index
    ConfigRule("pad_token_id", lambda v, c: v is None or (_is_int(v) and 0 <= v < c.vocab_size),
         "pad_token_id must be a token id below vocab_size {c.vocab_size}, got {value!r}"),
)
