"""`model_quantized.onnx` (optimum's name): our fp32 ONNX export, dynamically quantized to int8 by ONNX Runtime's
quantization tools, each shared weight quantized ONCE.

Why it matters for ALBERT: layer i reuses group `group_of_layer(i)`'s weights, and a graph that holds a separate copy
(or a separate quantization) per use loses the model (onnxruntime issue 11701: F1 0.80 -> 0.05 on albert-base-v2) and
grows 7x. Our export keeps one initializer per canonical tensor, used by every layer of its group; ONNX Runtime's
quantizer then quantizes each initializer once (one `<key>_quantized` int8 tensor, one scale, one zero point)
and every MatMulInteger of that group reads it. `check_quantized_once` proves it on the written file.

Weights: int8, per output channel for the dense kernels (`per_channel`, the default); activations quantized at run
time (DynamicQuantizeLinear). The word embedding is one int8 table: the Gather reads it, and the tied MLM decoder
reads its dequantized transpose.

A tier, not a checkpoint: it is written from a checkpoint and read only for its config and head (`load`), never
converted from (`convert` refuses, naming the fp32 source to use).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import onnx

from ..checkpoint import Checkpoint, LoadReport
from ..config import AlbertConfig
from ..errors import BridgeError
from ..export.onnx import QUANTIZED, build_model, check_file, first_line, save_model
from ..export.onnx_runtime import run
from ..formats.hf_layout import save_config, tokenizer_assets
from ..formats.onnx_model import parse_metadata
from ..schema import HeadKind
from .agreement import run_agreement

FILE_NAME = "model_quantized.onnx"
_QUANTIZED_SUFFIX = "_quantized"        # ONNX Runtime's name for the int8 copy of an initializer
_QUANTIZED_OPS = {"MatMulInteger", "DynamicQuantizeLinear", "QLinearMatMul", "QuantizeLinear", "DequantizeLinear",
                  "ConvInteger", "QLinearConv", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QAttention"}


def detect(path: Path) -> Path | None:
    path = Path(path)
    if path.is_dir():
        return path / FILE_NAME if (path / FILE_NAME).is_file() else None
    return path if path.is_file() and path.name == FILE_NAME else None


def already_quantized(model: onnx.ModelProto) -> str | None:
    """Why `model` is already quantized (our metadata, quantized operators, integer weights), or None."""
    meta = {p.key: p.value for p in model.metadata_props}
    if QUANTIZED in meta:
        return f"already quantized ({meta[QUANTIZED]}, by albert-bridge)"
    ops = sorted({n.op_type for n in model.graph.node} & _QUANTIZED_OPS)
    if ops:
        return f"already quantized (it has {', '.join(ops)} nodes)"
    ints = [t.name for t in model.graph.initializer if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)]
    return f"already quantized (int8 weights such as {ints[0]})" if ints else None


def quantize(model: onnx.ModelProto, *, per_channel: bool = True, where: object = None) -> onnx.ModelProto:
    """Dynamic int8 quantization of an fp32 model (ONNX Runtime's `quantize_dynamic`); our metadata is kept and
    `albert_bridge.quantized` added. Refuses a model that is already quantized."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    why = already_quantized(model)
    if why:
        raise BridgeError(f"{why}: nothing to quantize, quantize the fp32 model.onnx it came from", file=where)
    with tempfile.TemporaryDirectory(prefix="albert-int8-") as tmp:
        src, dst = Path(tmp) / "model.onnx", Path(tmp) / FILE_NAME
        save_model(model, src, check=False)
        logging.disable(logging.WARNING)  # its advice to run pre-processing goes to the root logger on every call
        try:
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel,
                             extra_options={"MatMulConstBOnly": True})
        except Exception as exc:  # onnxruntime's quantizer raises plain exceptions on graphs it cannot handle
            raise BridgeError(f"ONNX Runtime cannot quantize it ({first_line(exc)})", file=where) from None
        finally:
            logging.disable(logging.NOTSET)
        quantized = onnx.load(str(dst))
    props = {p.key: p.value for p in model.metadata_props if not p.key.startswith("onnx.")}
    props[QUANTIZED] = json.dumps({"weights": "int8", "per_channel": per_channel, "activations": "dynamic uint8"})
    del quantized.metadata_props[:]
    onnx.helper.set_model_props(quantized, props)
    quantized.producer_name, quantized.producer_version = model.producer_name, model.producer_version
    return quantized


def check_quantized_once(model: onnx.ModelProto, where: object = None) -> dict[str, int]:
    """Each quantized weight once: one int8 initializer per canonical tensor (no per-use copies), none left in
    float beside it. Returns {canonical key: how many nodes read its int8 initializer}."""
    names = [t.name for t in model.graph.initializer]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise BridgeError("initializer stored more than once", file=where, tensor=duplicated[0])
    quantized = [n[: -len(_QUANTIZED_SUFFIX)] for n in names if n.endswith(_QUANTIZED_SUFFIX)]
    if not quantized:
        raise BridgeError("no int8 weights: nothing was quantized", file=where)
    still_float = sorted(set(quantized) & set(names))
    if still_float:
        raise BridgeError("kept in float beside its int8 copy", file=where, tensor=still_float[0])
    uses = {key: 0 for key in quantized}
    for node in model.graph.node:
        for name in node.input:
            if name.endswith(_QUANTIZED_SUFFIX) and name[: -len(_QUANTIZED_SUFFIX)] in uses:
                uses[name[: -len(_QUANTIZED_SUFFIX)]] += 1
    return uses


def save(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    """config.json + model_quantized.onnx: the fp32 graph (float16 or bfloat16 weights are widened first),
    quantized, checked (onnx.checker, each shared weight quantized once)."""
    file = Path(directory) / FILE_NAME
    model = quantize(build_model(ckpt, dtype="float32"), where=ckpt.report.source or None)
    check_quantized_once(model, file)
    save_model(model, file, external_data=False, check=False)
    check_file(file)
    return [save_config(ckpt, directory), file]


def load(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    """The config and head of a quantized file (no tensors: a tier is run, not converted from)."""
    file = detect(path)
    if file is None:
        raise BridgeError(f"no {FILE_NAME} here", file=path)
    model = onnx.load_model(str(file), load_external_data=False)
    config, stored_head = parse_metadata(model, file, config, tier=True)
    report = LoadReport(format="onnx-int8", source=str(file), layout="albert-bridge int8 ONNX (deployment tier)")
    ckpt = Checkpoint(config, stored_head, {}, report, tokenizer_assets(file.parent))
    return ckpt.with_head(head) if head and head is not stored_head else ckpt


def validate(directory: Path, ckpt: Checkpoint) -> dict[str, float]:
    """Run the written file in ONNX Runtime against the float64 NumPy reference: agreement per output."""
    return run_agreement(Path(directory) / FILE_NAME, ckpt, run)
