"""The format registry: one adapter per file format, each imported only when used.

Adding a format = one module with detect/load/save and its mapping table, and one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..checkpoint import Checkpoint
from ..config import AlbertConfig, unknown_keys
from ..errors import BridgeError, NotFound, NotYetSupported
from .hf_layout import hub_patterns
from .mapping import IDENTITY, Transform
from ..schema import HeadKind


@dataclass(frozen=True)
class Format:
    name: str
    module: str | None          # None: announced, arrives with a later release
    describe: str
    functions: tuple[str, str, str] = ("detect", "load", "save")
    marker_files: tuple[str, ...] = ()  # names that identify it in a directory (used for "not yet" messages)
    needs: str | None = None    # the extra whose framework load/save import
    issue: str = ""
    hf_layout: bool = True      # keeps tokenizer files under transformers' names (else its save writes its own)
    validator: str | None = None  # a function (directory, checkpoint) running a written model (ONNX) numerically
    hub_files: tuple[str, ...] = ()  # its files in a Hub repo (fnmatch patterns): what to fetch for it
    framework: str | None = None  # whose transformers class loads it, and whose parity backends check it
    publish: bool = False       # one of the files `push --formats all` publishes (own_directory ones: alone, by name)
    streams_writes: bool = False  # its save is done with each tensor's array before it reads the next
    family: str = "transformers"  # the family of names it holds (an adapter reading several says which per load)
    preparer: str | None = None  # a function (checkpoint, force) -> (checkpoint it holds, notes); refuses what it can't
    own_directory: bool = False  # its files name themselves like another format's (config.json): it shares no DST
    explainer: str | None = None  # a function (checkpoint) -> {output: (expected max |diff|, why)}: what it computes
                                  # differently by design, which parity accepts only at that measured size
    tier: bool = False          # a reduced-precision deployment copy (int8, fp16, TFLite): written and run, never
    #                             read back bit for bit nor converted from; its validator measures agreement

    @property
    def in_all(self) -> bool:
        """Whether `--to all` / `--formats all` include it: a tier or a format needing its own directory is asked
        for by name."""
        return not (self.tier or self.own_directory)

    def require(self) -> "Format":
        if self.module is None:
            raise NotYetSupported(f"format {self.name!r} ({self.describe}) is not available yet: it arrives with {self.issue}")
        return self

    def _fn(self, i: int) -> Callable:
        if self.needs and i > 0:  # detection never needs the framework; reading and writing may
            try:
                importlib.import_module(self.needs)
            except ImportError:
                raise BridgeError(f"format {self.name!r} needs {self.needs}: pip install 'albert-bridge[{self.needs}]'") \
                    from None
        return getattr(importlib.import_module(self.require().module), self.functions[i])

    def detect(self, path: Path) -> Path | None:
        return self._fn(0)(path)

    def load(self, path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
        """Read a checkpoint; `config` replaces the one stored beside the weights (or supplies a missing one)."""
        return self._fn(1)(path, head, config)

    def save(self, ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
        save = self._fn(2)
        Path(directory).mkdir(parents=True, exist_ok=True)
        return save(ckpt, Path(directory), max_shard_size)

    def validate(self, directory: Path, ckpt: Checkpoint) -> dict[str, float] | None:
        """Run what was just written against a reference forward pass (formats that hold a runnable model)."""
        if self.validator is None:
            return None
        return getattr(importlib.import_module(self.require().module), self.validator)(Path(directory), ckpt)

    def prepare(self, ckpt: Checkpoint, force: bool = False) -> tuple[Checkpoint, list[str]]:
        """The checkpoint this format will hold (a head it lacks re-targeted, what it cannot compute refused unless
        `force`), and the notes to tell the user."""
        if self.preparer is None:
            return ckpt, []
        return getattr(importlib.import_module(self.require().module), self.preparer)(ckpt, force)

    def expected_differences(self, ckpt: Checkpoint) -> dict[str, tuple[float, str]]:
        """Outputs this format's runtime computes differently from the checkpoint by design, with the difference
        measured by the NumPy reference both ways and why (keras-hub's MLM head eps)."""
        if self.explainer is None:
            return {}
        return getattr(importlib.import_module(self.require().module), self.explainer)(ckpt)

    def native_transform(self, key: str, head: HeadKind) -> Transform:
        """How the canonical tensor `key` is laid out in this format's files (a transpose, or as is): conversions
        digest each tensor in the layout written, so neither the writer nor the read-back transposes it twice."""
        mapping = getattr(importlib.import_module(self.require().module), "MAPPING", None)
        try:
            return mapping.native_name(key, head)[1].transform if mapping is not None else IDENTITY
        except KeyError:
            return IDENTITY

    @property
    def available(self) -> bool:
        return self.module is not None


# Detection order: what a directory holding several formats is read as.
FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        Format("safetensors", "albert_bridge.formats.hf_pytorch", "HF PyTorch model.safetensors",
               ("detect_safetensors", "load_safetensors", "save_safetensors"), ("model.safetensors",),
               hub_files=hub_patterns("model.safetensors"), framework="torch", publish=True, streams_writes=True),
        Format("pytorch", "albert_bridge.formats.hf_pytorch", "HF PyTorch pytorch_model.bin",
               ("detect_bin", "load_bin", "save_bin"), ("pytorch_model.bin",), needs="torch",
               hub_files=hub_patterns("pytorch_model.bin"), framework="torch"),
        Format("canonical", "albert_bridge.formats.canonical", "albert-bridge canonical safetensors",
               hub_files=("albert.canonical.safetensors",), streams_writes=True, family="albert-bridge canonical"),
        # Before tf: its model.weights.h5 ends in .h5 too; only a config.json that is a Keras object (`registered_name`,
        # never in transformers' configs) makes a directory a preset.
        Format("keras-hub", "albert_bridge.formats.keras_hub_preset", "keras-hub preset (Keras 3, AlbertBackbone)",
               marker_files=("model.weights.h5",), hf_layout=False,
               hub_files=("model.weights.h5", "task.weights.h5", "metadata.json", "task.json", "preprocessor.json",
                          "assets/tokenizer/*"),
               framework="keras-hub", streams_writes=True, family="keras-hub (Keras 3 preset)",
               preparer="prepare", own_directory=True, explainer="expected_differences"),
        Format("tf", "albert_bridge.formats.hf_keras_h5", "HF TF2 tf_model.h5", marker_files=("tf_model.h5",),
               hub_files=hub_patterns("tf_model.h5"), framework="tf", publish=True, streams_writes=True),
        Format("flax", "albert_bridge.formats.hf_flax_msgpack", "HF Flax flax_model.msgpack",
               marker_files=("flax_model.msgpack",), hub_files=hub_patterns("flax_model.msgpack"), framework="flax",
               publish=True, streams_writes=True),
        Format("tf1", "albert_bridge.formats.tf1_original", "original google-research TF1 checkpoint",
               marker_files=("albert_config.json",), hf_layout=False,
               hub_files=("albert_config.json", "checkpoint", "*.index", "*.data-*-of-*", "variables/*", "assets/*"),
               streams_writes=True, family="TF1 tensor bundle"),
        Format("onnx", "albert_bridge.formats.onnx_model", "ONNX model.onnx (albert-bridge export)",
               marker_files=("model.onnx",), needs="onnx", validator="validate",
               hub_files=("model.onnx*",), framework="onnx", publish=True, family="albert-bridge ONNX export"),
        # Deployment tiers (albert_bridge.deploy): lossy copies, each pushed with its size, latency and agreement.
        Format("onnx-int8", "albert_bridge.deploy.onnx_int8", "int8 ONNX model_quantized.onnx (dynamic quantization)",
               marker_files=("model_quantized.onnx",), needs="onnxruntime", validator="validate",
               hub_files=("model_quantized.onnx",), framework="onnx", publish=True, family="albert-bridge int8 ONNX",
               tier=True),
        Format("tflite", "albert_bridge.deploy.tflite", "LiteRT/TFLite model.tflite (model_fp16.tflite with --dtype "
               "float16)", marker_files=("model.tflite", "model_fp16.tflite"), needs="tensorflow", validator="validate",
               hub_files=("model.tflite", "model_fp16.tflite"), framework="tflite", publish=True,
               family="albert-bridge TFLite", tier=True),
        Format("tflite-int8", "albert_bridge.deploy.tflite", "LiteRT/TFLite model_int8.tflite (dynamic-range int8)",
               ("detect_int8", "load_int8", "save_int8"), marker_files=("model_int8.tflite",), needs="tensorflow",
               validator="validate_int8", hub_files=("model_int8.tflite",), framework="tflite", publish=True,
               family="albert-bridge TFLite", tier=True),
    )
}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise BridgeError(f"unknown format {name!r} (known: {', '.join(FORMATS)})") from None


def detect_format(path: Path) -> Format:
    """The format of a file or directory; announced-but-missing formats say when they arrive."""
    path = Path(path)
    for fmt in FORMATS.values():
        if fmt.available and fmt.detect(path):  # some sources are no single file (a TF1 checkpoint prefix)
            return fmt
    if not path.exists():
        raise NotFound("no such file or directory", file=path)
    for fmt in FORMATS.values():
        names = {path.name} if path.is_file() else {p.name for p in path.iterdir()}
        if not fmt.available and names & set(fmt.marker_files):
            fmt.require()  # raises NotYetSupported with the explanation
    raise NotFound("no ALBERT checkpoint found (looked for " + ", ".join(
        f.describe for f in FORMATS.values() if f.available) + ")", file=path)


def load(path: str | Path, fmt: str | None = None, head: HeadKind | str | None = None,
         config: AlbertConfig | str | Path | None = None) -> Checkpoint:
    """Read a checkpoint from a local path (a Hub repo id is resolved to one first: `sources.resolve_source`)."""
    path = Path(path)
    head = HeadKind.parse(head) if head else None
    if config is not None and not isinstance(config, AlbertConfig):
        config = AlbertConfig.from_json_file(config)
    adapter = get_format(fmt) if fmt else detect_format(path)
    ckpt = adapter.load(path, head, config)
    ckpt.report.layout = ckpt.report.layout or adapter.family
    for key, hint in unknown_keys(ckpt.config).items():
        ckpt.report.warnings.append(unknown_key_warning(key, hint))
    return ckpt


def unknown_key_warning(key: str, hint: str) -> str:
    return f"unknown config key {key!r}{hint}: no model reads it (--strict refuses it)"
