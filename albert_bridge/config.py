"""AlbertConfig: the HF `config.json` (every field kept) and the original `albert_config.json`."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from .errors import BridgeError

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
# Generic PretrainedConfig fields the models read; kept out of to_dict() while at their defaults.
_GENERIC: dict[str, Any] = {
    "output_attentions": False,
    "output_hidden_states": False,
    "return_dict": True,
    "problem_type": None,
    "architectures": None,
    "torch_dtype": None,
}
_ORIGINAL_KEYS = (
    "attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "embedding_size", "hidden_size",
    "initializer_range", "intermediate_size", "max_position_embeddings", "num_attention_heads",
    "num_hidden_layers", "num_hidden_groups", "net_structure_type", "layers_to_keep", "gap_size",
    "num_memory_blocks", "inner_group_num", "down_scale_factor", "type_vocab_size", "vocab_size",
)


class AlbertConfig:
    """Same constructor arguments and attributes as transformers' AlbertConfig."""

    model_type = "albert"

    def __init__(self, **kwargs: Any):
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        kwargs.pop("model_type", None)
        for name, default in {**_DEFAULTS, **_GENERIC}.items():
            setattr(self, name, kwargs.pop(name, copy.copy(default)))
        # Unknown keys are kept, as transformers does, and written back by to_dict().
        self._extra = dict(kwargs)
        for name, value in kwargs.items():
            setattr(self, name, value)
        if id2label is not None:
            self.id2label = {int(k): v for k, v in id2label.items()}
        else:
            self.id2label = {i: f"LABEL_{i}" for i in range(2 if num_labels is None else num_labels)}
        if num_labels is not None and num_labels != len(self.id2label):
            self.id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
        self.label2id = (
            {k: int(v) for k, v in label2id.items()}
            if label2id is not None and len(label2id) == len(self.id2label)
            else {v: k for k, v in self.id2label.items()}
        )

    # --- transformers-compatible conveniences -------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value: int) -> None:
        if value != len(self.id2label):
            self.id2label = {i: f"LABEL_{i}" for i in range(value)}
            self.label2id = {v: k for k, v in self.id2label.items()}

    @property
    def use_return_dict(self) -> bool:
        return bool(self.return_dict)

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
        return type(self).from_dict({**data, **changes})

    def validate(self, source: object = None) -> "AlbertConfig":
        def fail(msg: str) -> None:
            raise BridgeError(f"invalid config: {msg}", file=source)

        for name in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_hidden_groups",
                     "num_attention_heads", "intermediate_size", "inner_group_num", "max_position_embeddings",
                     "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                fail(f"{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            fail(f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}")
        if self.num_hidden_groups > self.num_hidden_layers:
            fail(f"num_hidden_groups {self.num_hidden_groups} exceeds num_hidden_layers {self.num_hidden_layers}")
        if self.hidden_act not in ACTIVATIONS:
            fail(f"unknown hidden_act {self.hidden_act!r} (known: {', '.join(ACTIVATIONS)})")
        if self.position_embedding_type != "absolute":
            fail(f"position_embedding_type {self.position_embedding_type!r} is not supported (only 'absolute')")
        if self.num_labels <= 0:
            fail("num_labels must be positive")
        return self

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
    def from_dict(cls, data: dict[str, Any], source: object = None) -> "AlbertConfig":
        if not isinstance(data, dict):
            raise BridgeError("config is not a JSON object", file=source)
        model_type = data.get("model_type", "albert")
        if model_type != "albert":
            raise BridgeError(f"model_type is {model_type!r}, not 'albert'", file=source)
        try:
            return cls(**data).validate(source)
        except (TypeError, ValueError, AttributeError) as exc:
            raise BridgeError(f"invalid config: {exc}", file=source) from None

    @classmethod
    def from_original_dict(cls, data: dict[str, Any], source: object = None) -> "AlbertConfig":
        data = dict(data)
        if data.get("hidden_act") == "gelu":
            data["hidden_act"] = "gelu_new"  # the original gelu is the tanh approximation
        return cls.from_dict(data, source)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "AlbertConfig":
        path = Path(path)
        data = read_json(path)
        # transformers always writes model_type; the original code never does.
        if path.name == ORIGINAL_CONFIG_NAME or (isinstance(data, dict) and "model_type" not in data):
            return cls.from_original_dict(data, path)
        return cls.from_dict(data, path)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides: Any) -> "AlbertConfig":
        path = Path(path)
        if path.is_dir():
            for name in (CONFIG_NAME, ORIGINAL_CONFIG_NAME):
                if (path / name).is_file():
                    path = path / name
                    break
            else:
                raise BridgeError(f"no {CONFIG_NAME} or {ORIGINAL_CONFIG_NAME} here", file=path)
        config = cls.from_json_file(path)
        for name, value in overrides.items():
            setattr(config, name, value)
        return config

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


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BridgeError("file not found", file=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BridgeError(f"not valid JSON ({exc})", file=path) from None
