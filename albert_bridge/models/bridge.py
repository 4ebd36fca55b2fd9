"""The model <-> checkpoint bridge the three backends share: `from_pretrained`, `save_pretrained` (files),
`load_checkpoint`, `to_checkpoint`.

A backend supplies only what differs: its naming table (`mapping`, the HF format whose parameter names it uses),
the format `save_pretrained` writes, and three hooks over its parameters by native name (list them as numpy, say
their shapes, assign them). Everything a user sees in between (warnings, argument handling, the loading info,
atomic writes, stale files) is written here once.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..checkpoint import Checkpoint, LazyTensor, LoadReport
from ..config import LOADER_ONLY, AlbertConfig, to_albert_config
from ..errors import BridgeError, ConfigMissing, NotFound, NotYetSupported, ShapeMismatch
from ..formats import get_format
from ..formats import load as load_checkpoint
from ..formats.hf_layout import parse_size, stale_weight_files
from ..formats.mapping import Mapping
from ..sources import resolve_pretrained
from ..schema import HeadKind, expected_tensors

# Why a checkpoint tensor was set aside by from_pretrained(ignore_mismatched_sizes=True) (LoadReport.skipped).
MISMATCHED = "shape differs from the model's (ignore_mismatched_sizes)"
# Frameworks whose transformers classes give TF's loading info: mismatched_keys as (name, checkpoint shape, model
# shape), not names, and no error_msgs.
_TF_LOADING_INFO = frozenset({"tf"})
# Model arguments in every backend (the compute or parameter dtype), never config overrides.
_NOT_CONFIG = frozenset({"dtype", "torch_dtype"})
# The logger transformers' loading messages go to, per framework: where transformers' logging is set up in this
# process, ours go there too (besides the Python warning), so `transformers.logging` verbosity and capture see them.
_TRANSFORMERS_LOGGERS = {"torch": "transformers.modeling_utils", "tf": "transformers.modeling_tf_utils",
                         "flax": "transformers.modeling_flax_utils"}


class CheckpointNotFoundError(NotFound, ValueError):
    """No checkpoint at this path or Hub id: the OSError transformers raises for a missing model (and the
    ValueError it raises for a path that is no valid repo id)."""


class CheckpointBridge:
    """Mixin for the model classes of every backend; see the module docstring."""

    head: ClassVar[HeadKind] = HeadKind.BASE
    mapping: ClassVar[Mapping]            # native parameter names <-> canonical keys
    weights_format: ClassVar[str]         # what save_pretrained writes by default
    tied_parameters: ClassVar[frozenset[str]] = frozenset()  # native names that alias another parameter
    # transformers' names: regex patterns (re.search) of native names left out of the loading info's missing /
    # unexpected keys and of their warnings.
    _keys_to_ignore_on_load_missing: ClassVar[list[str] | None] = None
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str] | None] = None
    config: AlbertConfig

    def __init_subclass__(cls, **kwargs: Any):
        """Every model constructor takes any config with ALBERT's fields (transformers' AlbertConfig, AutoConfig's):
        it is converted once, before the constructor's body or its submodules read it."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_converts_config", False):
            return

        @functools.wraps(init)
        def __init__(self, config: Any, *args: Any, **kw: Any) -> None:
            init(self, to_albert_config(config), *args, **kw)

        __init__._converts_config = True
        cls.__init__ = __init__

    @classmethod
    def can_generate(cls) -> bool:
        """False in every backend: ALBERT is an encoder (transformers' answer too; save_pretrained writes no
        generation_config.json)."""
        return False

    # --- the backend's hooks ------------------------------------------------------------------------------
    def _native_arrays(self) -> dict[str, np.ndarray]:
        """The current weights by native name (tied aliases left out)."""
        raise NotImplementedError

    def _native_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter the model has, by native name, with its shape."""
        raise NotImplementedError

    def _assign_native(self, tensors: dict[str, LazyTensor], missing: list[str], **options: Any) -> None:
        """Set the named parameters (read one tensor at a time); `missing` ones keep or get an initialisation."""
        raise NotImplementedError

    # --- checkpoints ----------------------------------------------------------------------------------------
    def _checkpoint_of(self, arrays: dict[str, np.ndarray]) -> Checkpoint:
        native = {name: LazyTensor.of(array, name) for name, array in arrays.items()}
        report = LoadReport(format=f"{type(self).__name__} parameters")
        tensors = self.mapping.to_canonical(native, report)
        if report.unknown:
            raise ValueError(f"{type(self).__name__} has parameters the schema lacks: {report.unknown}")
        return Checkpoint(AlbertConfig.from_dict(self.config.to_dict()), self.head, tensors, report)

    def to_checkpoint(self) -> Checkpoint:
        """This model's weights as a canonical checkpoint (tied copies left out)."""
        return self._checkpoint_of(self._native_arrays())

    def load_checkpoint(self, ckpt: Checkpoint, **options: Any) -> dict[str, list[str]]:
        """Set the weights from a canonical checkpoint; what this head lacks is initialised, with a warning naming it,
        and checkpoint tensors this head has no place for are reported (transformers' loading-info keys)."""
        # The original code's E == H models have no projection: the identity is exact. Weights are not scanned for
        # NaN/Inf here (convert does): PyTorch maps them lazily, and a scan would read every byte.
        # ignore_mismatched_sizes (transformers' fine-tuning recipe: a new head for new labels): a tensor whose shape
        # differs from the model's is not loaded; that weight is initialised afresh and named in `mismatched_keys`.
        ignore = options.pop("ignore_mismatched_sizes", False) or MISMATCHED in ckpt.report.skipped.values()
        ckpt = ckpt.with_projection()
        own = self._native_shapes()
        found: dict[str, LazyTensor] = {}
        unexpected: list[str] = []
        mismatched: dict[str, str] = {}
        for name, tensor in self.mapping.to_native(ckpt.tensors, self.head).items():
            if name not in own:
                unexpected.append(name)
            elif tuple(tensor.shape) != tuple(own[name]):
                if not ignore:
                    raise ShapeMismatch(f"shape {list(tensor.shape)} but the model has {list(own[name])} "
                                      "(ignore_mismatched_sizes=True initialises it afresh)",
                                      file=ckpt.report.source, tensor=name)
                mismatched[name] = (tuple(tensor.shape), tuple(own[name]))
            else:
                found[name] = tensor
        missing = sorted(set(own) - set(found) - set(mismatched) - self.tied_parameters)
        reported_missing = _not_ignored(missing, self._keys_to_ignore_on_load_missing)
        unexpected = _not_ignored(unexpected, self._keys_to_ignore_on_load_unexpected)
        # Largest first: a mapped tensor's file pages count in the process while it is copied, so the big ones are
        # copied while little else is held, and peak memory stays near the model's own size.
        found = dict(sorted(found.items(), key=lambda item: -item[1].nbytes))
        self._assign_native(found, sorted([*missing, *mismatched]), **options)
        name = type(self).__name__
        framework = get_format(self.weights_format).framework
        messages = []
        if reported_missing:
            messages.append(f"{name}: weights not in the checkpoint were newly initialised: "
                            f"{', '.join(reported_missing)}")
        if mismatched:
            messages.append(f"{name}: weights newly initialised because the shapes did not match: " + "; ".join(
                f"{k}: {list(found)} in the checkpoint, {list(model)} in the model"
                for k, (found, model) in sorted(mismatched.items())))
        if unexpected:
            messages.append(f"{name}: checkpoint weights not used: {', '.join(sorted(unexpected))}")
        for message in messages:
            warnings.warn(message, stacklevel=3)
            _log_where_transformers_logs(framework, message)
        missing = reported_missing
        if framework in _TF_LOADING_INFO:
            return {"missing_keys": missing, "unexpected_keys": sorted(unexpected),
                    "mismatched_keys": [(k, *mismatched[k]) for k in sorted(mismatched)]}
        return {"missing_keys": missing, "unexpected_keys": sorted(unexpected), "mismatched_keys": sorted(mismatched),
                "error_msgs": []}

    # --- files ----------------------------------------------------------------------------------------------
    @classmethod
    def _pretrained(cls, path: str | os.PathLike | None, config: Any, format: str | None, kwargs: dict[str, Any],
                    native: dict[str, LazyTensor] | None = None) -> tuple[Checkpoint, AlbertConfig, dict[str, Any]]:
        """Read a checkpoint for from_pretrained: (checkpoint, config, keyword arguments left for the constructor).

        As in transformers: keyword arguments naming config fields update the config (unless `config` is given:
        an AlbertConfig, any config with ALBERT's fields, or a path to one), fetching arguments are ignored, and the
        rest go to the model's constructor; the config is validated. `native`: weights by this backend's names
        (PyTorch's `state_dict=`), used instead of the files' (`path` may then be None, given a config)."""
        kwargs = dict(kwargs)
        if not kwargs.get("adapter_kwargs"):  # transformers' Auto classes pass an empty one (no PEFT adapter)
            kwargs.pop("adapter_kwargs", None)
        ignore_mismatched = bool(kwargs.pop("ignore_mismatched_sizes", False))
        attn = kwargs.pop("attn_implementation", None)
        if isinstance(config, (str, os.PathLike)):
            config = AlbertConfig.from_pretrained(resolve_pretrained(config, kwargs))
        elif config is not None:
            config = to_albert_config(config).updated()  # a copy: the caller's config stays as it is
        if native is not None:
            if config is None:
                if path is None:
                    raise TypeError(f"{cls.__name__}.from_pretrained(None, state_dict=...) needs config=")
                config = AlbertConfig.from_pretrained(resolve_pretrained(path, kwargs))
            ckpt = cls._checkpoint_from_native(native, config)
        elif path is None:
            raise TypeError(f"{cls.__name__}.from_pretrained() needs a path, a Hub id, or state_dict= with config=")
        else:
            ckpt = _load_or_not_found(path, kwargs, format, config)
        for message in ckpt.report.warnings:  # e.g. a tf_model.h5 whose two MLM biases disagree
            warnings.warn(message, stacklevel=3)
        if ckpt.report.unknown:  # `convert` refuses these; a model load goes on without them, but says so
            warnings.warn(f"{ckpt.report.source}: tensors that are no ALBERT weight were ignored: "
                          f"{', '.join(ckpt.report.unknown)}", stacklevel=3)
        rest = {k: v for k, v in kwargs.items() if k not in LOADER_ONLY}
        if config is None:
            fields = {k: rest.pop(k) for k in list(rest) if ckpt.config.has_field(k) and k not in _NOT_CONFIG}
            config = ckpt.config.updated(**fields) if fields else AlbertConfig.from_dict(ckpt.config.to_dict())
        if attn is not None:
            config._attn_implementation = attn
        unknown = sorted(set(rest) - cls._constructor_arguments())
        if unknown:
            raise TypeError(f"{cls.__name__}.from_pretrained() got unexpected keyword arguments "
                            f"{', '.join(unknown)}: neither AlbertConfig fields nor {cls.__name__} arguments")
        if ignore_mismatched:
            ckpt = _mark_mismatched(ckpt, config, cls.head)
        _check_before_building(ckpt, config.validate(), cls.head)
        return ckpt, config, rest

    @classmethod
    def _checkpoint_from_native(cls, native: dict[str, LazyTensor], config: AlbertConfig,
                                source: str = "state_dict") -> Checkpoint:
        """Weights by this backend's parameter names (tied copies allowed) as a canonical checkpoint."""
        report = LoadReport(format=f"{cls.__name__} parameters", source=source)
        tensors = cls.mapping.to_canonical(native, report)
        return Checkpoint(config, cls.head, tensors, report)

    @classmethod
    def _constructor_arguments(cls) -> set[str]:
        """Keyword arguments from_pretrained may pass to the constructor (a backend adds what its **kwargs take)."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self", "config"}

    def push_to_hub(self, repo_id: str, commit_message: str | None = None, private: bool | None = None,
                    token: str | None = None, max_shard_size: int | str | None = "5GB", create_pr: bool = False,
                    revision: str | None = None, **save_options: Any):
        """transformers' push_to_hub: save_pretrained into a temporary folder, then upload config.json and the weights
        in one commit (publish.push: the uploaded file is first run against this model's weights by the parity
        harness, and a model card is written). Returns publish.PushResult (commit_url, pr_url, files)."""
        from ..publish import push  # the one import that runs back up: publish stands on convert and parity

        for name in ("use_temp_dir", "commit_description", "tags", "safe_serialization", "repo_url", "organization"):
            save_options.pop(name, None)  # transformers' options with no counterpart here (a temp dir is always used)
        with tempfile.TemporaryDirectory(prefix="albert-push-") as folder:
            self.save_pretrained(folder, max_shard_size=max_shard_size, **save_options)
            return push(folder, repo_id, formats=[self.weights_format], create_pr=create_pr, revision=revision,
                        private=bool(private), commit_message=commit_message, token=token)

    def _save_weights(self, save_directory: str | os.PathLike, ckpt: Checkpoint, max_shard_size: int | str | None,
                      format_name: str | None = None) -> list[Path]:
        """Write config.json + the weights in a staging directory, then move them in, one file at a time;
        weight files of an earlier save in the same format (a single file or shards) are removed first, so a
        directory never holds two saves that from_pretrained could confuse."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        fmt = get_format(format_name or self.weights_format)
        staging = Path(tempfile.mkdtemp(prefix=".albert-save-", dir=directory))
        try:
            written = fmt.save(ckpt, staging, parse_size(max_shard_size))
            for stale in stale_weight_files(directory, fmt.marker_files[0], keep={f.name for f in written}):
                stale.unlink()
            for file in written:
                os.replace(file, directory / file.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return [directory / file.name for file in written]


def _not_ignored(names: list[str], patterns: list[str] | None) -> list[str]:
    """The names no pattern matches (re.search, as transformers applies _keys_to_ignore_on_load_*)."""
    return [n for n in names if not any(re.search(p, n) for p in patterns or ())]


def _log_where_transformers_logs(framework: str | None, message: str) -> None:
    """Also log a loading message on the logger transformers uses for it, when transformers has set up its logging
    in this process (it adds a handler to the "transformers" logger on import): code that reads or silences
    transformers' loading messages sees ours. Without transformers, the Python warning alone is given."""
    logger_name = _TRANSFORMERS_LOGGERS.get(framework or "")
    if logger_name and logging.getLogger("transformers").handlers:
        logging.getLogger(logger_name).warning(message)


def _load_or_not_found(path: str | os.PathLike, options: dict[str, Any], format: str | None,
                       config: AlbertConfig | None = None) -> Checkpoint:
    """The checkpoint at a path or Hub id; nothing there is transformers' OSError (a CheckpointNotFoundError). Weights
    without a config beside them (what Trainer saves for a model that is not transformers' own) are read with
    `config`, and without one the error names from_pretrained's argument."""
    try:
        source = resolve_pretrained(path, options, format)
        try:
            return load_checkpoint(source, format)
        except ConfigMissing as exc:
            if config is None:
                raise exc.with_remedy("pass config=, e.g. the trained model's config or a config.json path") from None
            return load_checkpoint(source, format, config=config)
    except BridgeError as exc:
        if Path(path).exists() or type(exc) not in (BridgeError, NotFound):
            raise
        raise CheckpointNotFoundError(f"{exc.message}: not a local folder or file, nor a Hub model this machine can "
                                      "reach", file=exc.file) from None


def _mark_mismatched(ckpt: Checkpoint, config: AlbertConfig, head: HeadKind) -> Checkpoint:
    """ignore_mismatched_sizes: tensors whose shape differs from what the model will have are marked (load_checkpoint
    initialises those weights afresh and lists them in `mismatched_keys`)."""
    expected = expected_tensors(config, head)
    report = replace(ckpt.report, skipped=dict(ckpt.report.skipped))
    for key, tensor in ckpt.tensors.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            report.skip(key, MISMATCHED)
    return replace(ckpt, report=report)


def _check_before_building(ckpt: Checkpoint, config: AlbertConfig, head: HeadKind) -> None:
    """A model allocates what its config says: before building one, every checkpoint tensor must have the shape the
    config implies, and what the checkpoint lacks (initialised afresh, e.g. a new head) must not outweigh what it
    holds, so a config claiming a huge model beside a small file is refused rather than allocated."""
    if config.pruned_heads:  # as saving a pruned model: the canonical schema has no pruned shapes
        raise NotYetSupported("a config with pruned_heads cannot be loaded: pruned attention shapes are not supported",
                              file=ckpt.report.source)
    kept = {k: t for k, t in ckpt.tensors.items() if ckpt.report.skipped.get(k) != MISMATCHED}
    replace(ckpt, config=config, head=head, tensors=kept).validate(kinds=("shape",))  # the model to be built
    expected = expected_tensors(config, head)
    held = sum(math.prod(t.shape) for t in kept.values())
    lacking = sum(math.prod(e.shape) for key, e in expected.items() if key not in kept and e.required)
    if lacking > max(held, 1 << 20):
        raise BridgeError(f"the config implies {lacking:,} parameters more than the checkpoint holds ({held:,})",
                          file=ckpt.report.source)
