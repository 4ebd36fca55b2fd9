"""The model <-> checkpoint bridge the three backends share: `from_pretrained`, `save_pretrained` (files),
`load_checkpoint`, `to_checkpoint`.

A backend supplies only what differs: its naming table (`mapping`, the HF format whose parameter names it uses),
the format `save_pretrained` writes, and three hooks over its parameters by native name (list them as numpy, say
their shapes, assign them). Everything a user sees in between (warnings, argument handling, the loading info,
atomic writes, stale files) is written here once.
"""

from __future__ import annotations

import inspect
import math
import os
import shutil
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..checkpoint import Checkpoint, LazyTensor, LoadReport
from ..config import AlbertConfig
from ..errors import BridgeError
from ..formats import get_format
from ..formats import load as load_checkpoint
from ..formats.hf_layout import parse_size, stale_weight_files
from ..formats.mapping import Mapping
from ..hub import resolve_pretrained
from ..schema import HeadKind, expected_tensors

# transformers' from_pretrained arguments about fetching and caching: a Hub id honours revision, token, cache_dir and
# local_files_only (hub.resolve_pretrained); for local files they mean nothing and are accepted silently.
LOADER_ONLY = frozenset({
    "from_pt", "from_tf", "from_flax", "local_files_only", "cache_dir", "revision", "token", "use_auth_token",
    "use_safetensors", "force_download", "resume_download", "proxies", "trust_remote_code", "subfolder",
    "low_cpu_mem_usage", "device_map", "_fast_init", "mirror", "_commit_hash",
})


class CheckpointBridge:
    """Mixin for the model classes of every backend; see the module docstring."""

    head: ClassVar[HeadKind] = HeadKind.BASE
    mapping: ClassVar[Mapping]            # native parameter names <-> canonical keys
    weights_format: ClassVar[str]         # what save_pretrained writes by default
    tied_parameters: ClassVar[frozenset[str]] = frozenset()  # native names that alias another parameter
    config: AlbertConfig

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
        ckpt = ckpt.with_projection()
        own = self._native_shapes()
        found: dict[str, LazyTensor] = {}
        unexpected: list[str] = []
        for name, tensor in self.mapping.to_native(ckpt.tensors, self.head).items():
            if name not in own:
                unexpected.append(name)
            elif tuple(tensor.shape) != tuple(own[name]):
                raise BridgeError(f"shape {list(tensor.shape)} but the model has {list(own[name])}",
                                  file=ckpt.report.source, tensor=name)
            else:
                found[name] = tensor
        missing = sorted(set(own) - set(found) - self.tied_parameters)
        # Largest first: a mapped tensor's file pages count in the process while it is copied, so the big ones are
        # copied while little else is held, and peak memory stays near the model's own size.
        found = dict(sorted(found.items(), key=lambda item: -item[1].nbytes))
        self._assign_native(found, missing, **options)
        name = type(self).__name__
        if missing:
            warnings.warn(f"{name}: weights not in the checkpoint were newly initialised: {', '.join(missing)}",
                          stacklevel=3)
        if unexpected:
            warnings.warn(f"{name}: checkpoint weights not used: {', '.join(sorted(unexpected))}", stacklevel=3)
        return {"missing_keys": missing, "unexpected_keys": sorted(unexpected), "mismatched_keys": [],
                "error_msgs": []}

    # --- files ----------------------------------------------------------------------------------------------
    @classmethod
    def _pretrained(cls, path: str | os.PathLike, config: AlbertConfig | None, format: str | None,
                    kwargs: dict[str, Any]) -> tuple[Checkpoint, AlbertConfig, dict[str, Any]]:
        """Read a checkpoint for from_pretrained: (checkpoint, config, keyword arguments left for the constructor).

        As in transformers, keyword arguments naming config fields update the config (unless `config` is given),
        fetching arguments are ignored, and the rest go to the model's constructor; the config is validated."""
        ckpt = load_checkpoint(resolve_pretrained(path, kwargs, format), format)
        for message in ckpt.report.warnings:  # e.g. a tf_model.h5 whose two MLM biases disagree
            warnings.warn(message, stacklevel=3)
        if ckpt.report.unknown:  # `convert` refuses these; a model load goes on without them, but says so
            warnings.warn(f"{ckpt.report.source}: tensors that are no ALBERT weight were ignored: "
                          f"{', '.join(ckpt.report.unknown)}", stacklevel=3)
        rest = {k: v for k, v in kwargs.items() if k not in LOADER_ONLY}
        if config is None:
            fields = {k: rest.pop(k) for k in list(rest) if ckpt.config.has_field(k)}
            config = ckpt.config.updated(**fields) if fields else AlbertConfig.from_dict(ckpt.config.to_dict())
        unknown = sorted(set(rest) - cls._constructor_arguments())
        if unknown:
            raise TypeError(f"{cls.__name__}.from_pretrained() got unexpected keyword arguments "
                            f"{', '.join(unknown)}: neither AlbertConfig fields nor {cls.__name__} arguments")
        _check_before_building(ckpt, config.validate(), cls.head)
        return ckpt, config, rest

    @classmethod
    def _constructor_arguments(cls) -> set[str]:
        """Keyword arguments from_pretrained may pass to the constructor (a backend adds what its **kwargs take)."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self", "config"}

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


def _check_before_building(ckpt: Checkpoint, config: AlbertConfig, head: HeadKind) -> None:
    """A model allocates what its config says: before building one, every checkpoint tensor must have the shape the
    config implies, and what the checkpoint lacks (initialised afresh, e.g. a new head) must not outweigh what it
    holds, so a config claiming a huge model beside a small file is refused rather than allocated."""
    replace(ckpt, config=config, head=head).validate(kinds=("shape",))  # what the model would be built as
    expected = expected_tensors(config, head)
    held = sum(math.prod(t.shape) for t in ckpt.tensors.values())
    lacking = sum(math.prod(e.shape) for key, e in expected.items() if key not in ckpt.tensors and e.required)
    if lacking > max(held, 1 << 20):
        raise BridgeError(f"the config implies {lacking:,} parameters more than the checkpoint holds ({held:,})",
                          file=ckpt.report.source)
