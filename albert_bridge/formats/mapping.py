"""Mapping tables: canonical key template <-> native name template, with a transform and its inverse.

One table serves both directions: a load applies `transform.to_canonical`, a save `transform.to_native`,
so a round trip is exact by construction. Templates use named placeholders `{g}` and `{k}`; a native template
without them (a layout with one shared layer) reads as group 0, inner layer 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ..checkpoint import LazyTensor, LoadReport
from ..schema import SPECS_BY_TEMPLATE, HeadKind


@dataclass(frozen=True)
class Transform:
    name: str
    to_native: Callable[[np.ndarray], np.ndarray]
    to_canonical: Callable[[np.ndarray], np.ndarray]
    native_shape: Callable[[tuple[int, ...]], tuple[int, ...]]
    canonical_shape: Callable[[tuple[int, ...]], tuple[int, ...]]


def _same(x):
    return x


def _transpose(a: np.ndarray) -> np.ndarray:
    # A view, not a copy: a load-then-save pair of transposes cancels out, and writers make data contiguous.
    return a.T


IDENTITY = Transform("identity", _same, _same, _same, _same)
# Self-inverse: PyTorch Linear stores [out, in], the canonical kernel is [in, out].
TRANSPOSE = Transform("transpose", _transpose, _transpose, lambda s: s[::-1], lambda s: s[::-1])


@dataclass(frozen=True)
class Rule:
    canonical: str
    native: str
    transform: Transform = IDENTITY
    backbone: bool = True  # backbone names take the format's head prefix (e.g. `albert.`)


def _template_regex(template: str) -> re.Pattern:
    pattern = re.escape(template).replace(r"\{g\}", r"(?P<g>\d+)").replace(r"\{k\}", r"(?P<k>\d+)")
    return re.compile(pattern + r"\Z")


class Mapping:
    """A format's names for the canonical tensors, plus names it skips on purpose."""

    def __init__(self, rules: Iterable[Rule], *, backbone_prefix: str = "", skip: Iterable[tuple[str, str]] = ()):
        self.rules = tuple(rules)
        unknown = [r.canonical for r in self.rules if r.canonical not in SPECS_BY_TEMPLATE]
        if unknown:
            raise ValueError(f"mapping names tensors the schema lacks: {unknown}")
        self.backbone_prefix = backbone_prefix
        self._by_canonical = [(_template_regex(r.canonical), r) for r in self.rules]
        self._by_native = [(_template_regex(r.native), r) for r in self.rules]
        self._skip = [(re.compile(pattern), why) for pattern, why in skip]

    def prefix_for(self, head: HeadKind) -> str:
        return "" if head is HeadKind.BASE else self.backbone_prefix

    def native_name(self, canonical_key: str, head: HeadKind) -> tuple[str, Rule]:
        for regex, rule in self._by_canonical:
            match = regex.match(canonical_key)
            if match:
                name = rule.native.format(**match.groupdict())
                return (self.prefix_for(head) + name if rule.backbone else name), rule
        raise KeyError(f"no native name for canonical tensor {canonical_key!r}")

    def canonical_name(self, native: str) -> tuple[str, Rule] | None:
        for candidate, backbone_only in self._candidates(native):
            for regex, rule in self._by_native:
                if backbone_only and not rule.backbone:
                    continue
                match = regex.match(candidate)
                if match:
                    return rule.canonical.format(**{"g": 0, "k": 0, **match.groupdict()}), rule
        return None

    def _candidates(self, native: str):
        yield native, False
        if self.backbone_prefix and native.startswith(self.backbone_prefix):
            yield native[len(self.backbone_prefix):], True

    def skip_reason(self, native: str) -> str | None:
        for regex, why in self._skip:
            if regex.search(native):
                return why
        return None

    def account_unmapped(self, name: str, report: LoadReport, lookup: str | None = None) -> None:
        """A source tensor no rule maps (looked up as `lookup`, default its name): skipped on purpose, with the
        reason, or reported unknown."""
        why = self.skip_reason(name if lookup is None else lookup)
        if why:
            report.skip(name, why)
        else:
            report.unknown.append(name)

    # --- the two directions, applied to whole tensor sets ----------------------------------
    def to_canonical(self, native: dict[str, LazyTensor], report: LoadReport) -> dict[str, LazyTensor]:
        """Map native tensors to canonical ones; every name is consumed, skipped or reported unknown."""
        out: dict[str, LazyTensor] = {}
        for name in sorted(native):
            found = self.canonical_name(name)
            if found is None:
                self.account_unmapped(name, report)
                continue
            key, rule = found
            if key in out:
                report.warnings.append(f"{name}: a second source for {key} (ignored)")
                report.skip(name, f"duplicate of {key}")
                continue
            tensor = native[name]
            out[key] = tensor.map(rule.transform.to_canonical, rule.transform.canonical_shape(tensor.shape))
            report.consumed += 1
        return out

    def to_native(self, tensors: dict[str, LazyTensor], head: HeadKind) -> dict[str, LazyTensor]:
        out: dict[str, LazyTensor] = {}
        for key in sorted(tensors):
            name, rule = self.native_name(key, head)
            tensor = tensors[key]
            out[name] = tensor.map(rule.transform.to_native, rule.transform.native_shape(tensor.shape))
        return out


# --- transformers' module tree, shared by its PyTorch, Keras and Flax classes ---------------------------------------
_LAYER = "encoder.group.{g}.inner.{k}."

# (kind, canonical name, native path parts) in the order transformers' Keras model creates its weights (which
# hf_keras_h5 writes in; the other formats do not depend on the order). "layer" stands for one shared layer's path.
HF_TREE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("embedding", "embeddings.word", ("embeddings", "word_embeddings")),
    ("embedding", "embeddings.token_type", ("embeddings", "token_type_embeddings")),
    ("embedding", "embeddings.position", ("embeddings", "position_embeddings")),
    ("norm", "embeddings.norm", ("embeddings", "LayerNorm")),
    ("dense", "encoder.projection", ("encoder", "embedding_hidden_mapping_in")),
    ("dense", _LAYER + "attention.query", ("layer", "attention", "query")),
    ("dense", _LAYER + "attention.key", ("layer", "attention", "key")),
    ("dense", _LAYER + "attention.value", ("layer", "attention", "value")),
    ("dense", _LAYER + "attention.output", ("layer", "attention", "dense")),
    ("norm", _LAYER + "attention.norm", ("layer", "attention", "LayerNorm")),
    ("dense", _LAYER + "ffn.intermediate", ("layer", "ffn")),
    ("dense", _LAYER + "ffn.output", ("layer", "ffn_output")),
    ("norm", _LAYER + "ffn.norm", ("layer", "full_layer_layer_norm")),
    ("dense", "pooler", ("pooler",)),
    ("mlm_bias", "head.mlm.output_bias", ("predictions",)),
    ("dense", "head.mlm.transform", ("predictions", "dense")),
    ("norm", "head.mlm.norm", ("predictions", "LayerNorm")),
    ("dense", "head.sop", ("sop_classifier", "classifier")),
    ("dense", "head.classifier", ("classifier",)),
    ("dense", "head.qa", ("qa_outputs",)),
)


@dataclass(frozen=True)
class HFSpelling:
    """How one transformers framework spells HF_TREE: separators, leaf names, the dense layout."""

    sep: str  # between path parts
    index: str  # between a layer list and its index ("albert_layers" + index + "{k}")
    dense: tuple[str, str]  # a Dense/Linear's (kernel, bias) leaves
    norm: tuple[str, str]  # a LayerNorm's (gamma, beta) leaves
    embeddings: dict[str, str]  # canonical embedding -> its leaf
    mlm_bias: tuple[str, ...]  # the leaf path, under `predictions`, of the MLM output bias
    dense_transform: Transform = IDENTITY  # how a kernel is laid out relative to the canonical [in, out]
    suffix: str = ""  # after every name (Keras' ":0")
    backbone: str = "albert"  # the backbone module's name
    backbone_in_names: bool = False  # True: every backbone name carries it; False: only heads' files do (prefix)

    def rules(self) -> list[Rule]:
        """One Rule per tensor of HF_TREE, in its order."""
        layer = self.sep.join(("encoder", f"albert_layer_groups{self.index}{{g}}", f"albert_layers{self.index}{{k}}"))
        rules = []
        for kind, canonical, parts in HF_TREE:
            head = canonical.startswith("head.")
            path = self.sep.join(layer if part == "layer" else part for part in parts)
            if not head and self.backbone_in_names:
                path = self.backbone + self.sep + path
            leaves = {"embedding": [("", self.embeddings.get(canonical), IDENTITY)],
                      "mlm_bias": [("", self.sep.join(self.mlm_bias), IDENTITY)],
                      "norm": [(".gamma", self.norm[0], IDENTITY), (".beta", self.norm[1], IDENTITY)],
                      "dense": [(".kernel", self.dense[0], self.dense_transform), (".bias", self.dense[1], IDENTITY)],
                      }[kind]
            rules += [Rule(canonical + key, path + self.sep + leaf + self.suffix, transform, backbone=not head)
                      for key, leaf, transform in leaves]
        return rules

    def mapping(self, skip: Iterable[tuple[str, str]] = ()) -> Mapping:
        prefix = "" if self.backbone_in_names else self.backbone + self.sep
        return Mapping(self.rules(), backbone_prefix=prefix, skip=skip)
