"""Model outputs shared by every backend: transformers' field names, and transformers' `ModelOutput` behaviour.

As transformers' ModelOutput, an output is a dataclass that is also a mapping of its fields that are not None (in
field order), indexable like the tuple of their values (`output[0]`, `output[:2]`, `to_tuple()`), which takes keys
added by item assignment (`output["input_ids"] = ...`, what the fill-mask pipeline does) and can be built from a
mapping or an iterator of (key, value) pairs as its one positional argument (how transformers' pipelines, Trainer
and `tf.nest` rebuild an output of the same class).

It is a `collections.abc.Mapping`, not a `dict` subclass: transformers' pipelines turn any dict that is not their own
ModelOutput into a plain dict and then index it by position (feature-extraction). Tracers accept only dicts and
tuples at a model's output, so while tracing the PyTorch classes return a plain dict (albert_torch), as a model of
transformers traced with `strict=False` does.

The Flax classes (`albert_flax`) are frozen `flax.struct` dataclasses, so they are JAX pytrees as transformers'
are (item assignment is refused there); this module imports no framework."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import FrozenInstanceError, dataclass, fields
from typing import Any


class OutputAccess(Mapping):
    """transformers' ModelOutput for any dataclass (see the module docstring)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_added", {})  # keys set by item assignment that are not fields, in order
        first, *rest = fields(self)
        value = getattr(self, first.name)
        if isinstance(value, (Mapping, Iterator)) and all(getattr(self, f.name) is None for f in rest):
            object.__setattr__(self, first.name, None)
            for key, item in (value.items() if isinstance(value, Mapping) else value):
                self._put(key, item)

    def _put(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"{type(self).__name__} keys are strings, got {key!r}")
        if key not in self.__dataclass_fields__:
            self._added[key] = value
        object.__setattr__(self, key, value)

    def __setitem__(self, key: str, value: Any) -> None:
        if type(self).__dataclass_params__.frozen:
            raise FrozenInstanceError(f"cannot assign to {type(self).__name__}[{key!r}]: the output is frozen")
        self._put(key, value)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)  # a frozen dataclass refuses it here
        if name in self.__dict__.get("_added", ()):
            self._added[name] = value

    def keys(self) -> list[str]:
        present = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        return present + list(self.__dict__.get("_added", ()))

    def values(self) -> list[Any]:
        return [self[k] for k in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self[k]) for k in self.keys()]

    def to_tuple(self) -> tuple:
        return tuple(self.values())

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())


@dataclass
class ModelOutput(OutputAccess):
    """The outputs of the PyTorch and TF2 classes (mutable dataclasses)."""


@dataclass
class BaseModelOutput(ModelOutput):
    last_hidden_state: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: Any = None
    pooler_output: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass
class AlbertForPreTrainingOutput(ModelOutput):
    loss: Any = None
    prediction_logits: Any = None
    sop_logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass
class SequenceClassifierOutput(MaskedLMOutput):
    pass


@dataclass
class TokenClassifierOutput(MaskedLMOutput):
    pass


@dataclass
class MultipleChoiceModelOutput(MaskedLMOutput):
    pass


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Any = None
    start_logits: Any = None
    end_logits: Any = None
    hidden_states: Any = None
    attentions: Any = None
