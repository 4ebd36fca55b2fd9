"""LiteRT (TFLite) files from our TF2 classes, with TensorFlow's converter; run by the LiteRT interpreter.

Three files, one per precision, so they can sit side by side in one repo:
- `model.tflite` (`--to tflite`): float32, within fp32 tolerance of our TF2 model;
- `model_fp16.tflite` (`--to tflite --dtype float16`): float16 weights (the converter's float16 quantization;
  the interpreter computes in float32 on CPUs);
- `model_int8.tflite` (`--to tflite-int8`): dynamic-range int8 weights, float activations.
One signature, `serving_default`, takes int32 `input_ids`, `attention_mask`, `token_type_ids` of DYNAMIC shape
[batch, seq] ([batch, choices, seq] for multiple choice; the interpreter resizes on each call) and returns the head's
outputs by transformers' names. A sequence longer than max_position_embeddings is refused before it runs.
The config and head are read from `config.json` beside the file (written with it).

Only builtin TFLite operators are allowed (no TF Select / Flex kernels, which the LiteRT runtime on a phone lacks):
a head the converter cannot express that way is refused in one line and nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import albert_bridge

from ..checkpoint import Checkpoint, LoadReport
from ..config import CONFIG_NAME, AlbertConfig
from ..errors import BridgeError
from ..formats.hf_layout import save_config, tokenizer_assets
from ..inputs import INPUT_NAMES
from ..schema import ARCHITECTURES, HeadKind, head_from_architecture
from .agreement import run_agreement

FILE_NAMES = {"float32": "model.tflite", "float16": "model_fp16.tflite", "int8": "model_int8.tflite"}
SIGNATURE = "serving_default"


def _detect(path: Path, names: tuple[str, ...]) -> Path | None:
    path = Path(path)
    if path.is_dir():
        return next((path / n for n in names if (path / n).is_file()), None)
    return path if path.is_file() and path.name in names else None


def detect(path: Path) -> Path | None:
    return _detect(path, (FILE_NAMES["float32"], FILE_NAMES["float16"]))


def detect_int8(path: Path) -> Path | None:
    return _detect(path, (FILE_NAMES["int8"],))


def first_line(exc: BaseException) -> str:
    """The converter's message worth showing: the line naming the operator it could not express, else the first."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "TF Select ops" in line or "neither a custom op nor a flex op" in line or "not supported" in line:
            return line[:300]
    return lines[0][:300] if lines else type(exc).__name__


def to_tflite(ckpt: Checkpoint, precision: str) -> bytes:
    """The checkpoint's head as a TFLite flatbuffer: precision float32, float16 (weights) or int8 (dynamic range)."""
    cls = getattr(albert_bridge, "TF" + ARCHITECTURES[ckpt.head])
    model = cls(ckpt.config)
    model.load_checkpoint(ckpt.cast("float32"))
    signature = model.input_signature

    @tf.function(input_signature=[signature])
    def serve(inputs):
        return model._serve(inputs)

    # The converter freezes the variables it can reach from the trackable it is given: the tf.Variables behind
    # Keras 3's variables (without them it keeps resource variables the interpreter never initializes).
    holder = tf.Module()
    holder.variables_ = [v.value for v in model.weights]
    holder.serve = serve
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision in ("float16", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        return converter.convert()
    except Exception as exc:  # ConverterError and friends: many lines of MLIR, one of which names the operator
        raise BridgeError(f"TensorFlow's converter cannot express head {ckpt.head.value} with builtin TFLite "
                          f"operators ({first_line(exc)}); nothing written", file=ckpt.report.source or None) from None


def _precision(ckpt: Checkpoint) -> str:
    dtypes = {t.dtype for t in ckpt.tensors.values()}
    return "float16" if dtypes == {np.dtype("float16")} else "float32"


def _write(ckpt: Checkpoint, directory: Path, precision: str) -> list[Path]:
    data = to_tflite(ckpt, precision)
    file = Path(directory) / FILE_NAMES[precision]
    file.write_bytes(data)
    interpreter(file)  # the interpreter reads it back: a file it cannot load is never published
    return [save_config(ckpt, directory), file]


def save(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    """model.tflite, or model_fp16.tflite for a float16 checkpoint (`--dtype float16`), + config.json."""
    return _write(ckpt, directory, _precision(ckpt))


def save_int8(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    return _write(ckpt, directory, "int8")


def _load(file: Path | None, path: Path, head: HeadKind | None, config: AlbertConfig | None, fmt: str) -> Checkpoint:
    if file is None:
        raise BridgeError("no TFLite model here", file=path)
    if config is None:
        if not (file.parent / CONFIG_NAME).is_file():
            raise BridgeError(f"a TFLite model needs the {CONFIG_NAME} written beside it", file=file)
        config = AlbertConfig.from_pretrained(file.parent / CONFIG_NAME)
    stored = next((h for a in (config.architectures or []) if (h := head_from_architecture(a))), None)
    if stored is None:
        raise BridgeError(f"{CONFIG_NAME} names no ALBERT architecture: which head the model has is unknown", file=file)
    report = LoadReport(format=fmt, source=str(file), layout="albert-bridge TFLite (deployment tier)")
    ckpt = Checkpoint(config, stored, {}, report, tokenizer_assets(file.parent))
    return ckpt.with_head(head) if head and head is not stored else ckpt


def load(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    """The config and head of a TFLite file (no tensors: a tier is run, not converted from)."""
    return _load(detect(path), Path(path), head, config, "tflite")


def load_int8(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    return _load(detect_int8(path), Path(path), head, config, "tflite-int8")


# --- running ----------------------------------------------------------------------------------------------------
def interpreter(file: str | os.PathLike, threads: int | None = None) -> Any:
    """The LiteRT interpreter (ai-edge-litert), else TensorFlow's own tf.lite.Interpreter."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter  # noqa: N806 - the class
    try:
        return Interpreter(model_path=str(file), num_threads=threads)
    except Exception as exc:  # ValueError / RuntimeError on a file that is not a TFLite model
        raise BridgeError(f"the LiteRT interpreter cannot load it ({str(exc).splitlines()[0][:200]})", file=file) \
            from None


def run(file: str | os.PathLike, inputs: dict[str, np.ndarray], *, runner: Any = None,
        max_positions: int | None = None) -> dict[str, np.ndarray]:
    """Run the serving signature on int inputs (resized to their shape); outputs by name."""
    runner = runner or interpreter(file).get_signature_runner(SIGNATURE)
    ids = np.asarray(inputs["input_ids"])
    if max_positions is not None and ids.shape[-1] > max_positions:
        raise BridgeError(f"sequence length {ids.shape[-1]} exceeds max_position_embeddings {max_positions}",
                          file=file, tensor="input_ids")
    feed = {name: np.asarray(inputs[name]).astype(np.int32) for name in INPUT_NAMES}
    return {name: np.asarray(value) for name, value in runner(**feed).items()}


def validate(directory: Path, ckpt: Checkpoint) -> dict[str, float]:
    """The written file in the interpreter against the float64 NumPy reference: agreement per output (fp32 is
    held to fp32 tolerance by the parity harness and tests; here a NaN or Inf is what fails)."""
    return run_agreement(detect(directory), ckpt, run)


def validate_int8(directory: Path, ckpt: Checkpoint) -> dict[str, float]:
    return run_agreement(detect_int8(directory), ckpt, run)
