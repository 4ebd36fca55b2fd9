"""Running and validating an exported ONNX model in ONNX Runtime (imported only when called: onnxruntime is optional).

`session` and `run` serve the parity harness and benchmarks; `validate` is the conversion-time check: the model in
ONNX Runtime against the float64 NumPy reference forward from the same weights.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx

from ..checkpoint import Checkpoint
from ..errors import BridgeError, ParityError
from ..inputs import validation_inputs
from ..numpy_forward import forward
from .onnx import META, first_line

# Validation of an export against the float64 NumPy reference: max |onnx - reference| <= TOL * max(1, max |reference|),
# i.e. absolute for outputs within [-1, 1], relative to the largest value beyond.
VALIDATION_TOLERANCE = {"float32": 1e-5, "float16": 1e-2}


# --- running --------------------------------------------------------------------------------------------------------
def session(model: str | os.PathLike | bytes | onnx.ModelProto, device: str = "cpu", *,
            options: Any = None, optimized_model_path: str | os.PathLike | None = None):
    """An ONNX Runtime session on `device` ("cpu", or "cuda" through CUDAExecutionProvider, which must be there)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise BridgeError("running ONNX models needs onnxruntime: pip install 'albert-bridge[onnx]'") from None
    if device == "cpu":
        providers = ["CPUExecutionProvider"]
    elif device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BridgeError("device cuda: this onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu; "
                              f"available: {', '.join(ort.get_available_providers())})")
        # float32 stays float32 (ORT's CUDA provider would round matmul inputs to TF32 on Ampere and later, ~1e-3);
        # shape ops may stay on the CPU.
        providers = [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]
    else:
        raise BridgeError(f"unknown device {device!r} (expected cpu or cuda)")
    options = options or ort.SessionOptions()
    if optimized_model_path is not None:
        options.optimized_model_filepath = str(optimized_model_path)
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    where = None if isinstance(source, bytes) else source
    try:
        sess = ort.InferenceSession(source if isinstance(source, bytes) else str(source), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable or invalid models
        raise BridgeError(f"ONNX Runtime cannot load it ({first_line(exc)})", file=where) from None
    if device == "cuda" and "CUDAExecutionProvider" not in sess.get_providers():
        raise BridgeError("ONNX Runtime could not start CUDAExecutionProvider (check CUDA and cuDNN)", file=where)
    return sess


def run(model: str | os.PathLike | bytes | onnx.ModelProto, inputs: dict[str, np.ndarray], device: str = "cpu",
        *, sess: Any = None) -> dict[str, np.ndarray]:
    """Run an ONNX model in ONNX Runtime: every output by name (hidden states as `hidden_states.0`, ...).

    `inputs` must give each input the model declares (integers are passed as int64) and nothing else."""
    sess = sess or session(model, device)
    declared = [i.name for i in sess.get_inputs()]
    missing, extra = sorted(set(declared) - set(inputs)), sorted(set(inputs) - set(declared))
    if missing or extra:
        raise BridgeError(f"the model takes {', '.join(declared)}; " +
                          (f"missing {', '.join(missing)}" if missing else f"it has no input {', '.join(extra)}"),
                          file=model if isinstance(model, (str, os.PathLike)) else None)
    feed = {name: np.asarray(inputs[name]).astype(np.int64, copy=False) for name in declared}
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feed)))


# --- validating an export -------------------------------------------------------------------------------------------
def compare(got: dict[str, np.ndarray], want: dict[str, np.ndarray], dtype: str, where: object = None) -> dict[str, float]:
    """Max abs difference per output; ParityError naming the first output beyond VALIDATION_TOLERANCE[dtype]."""
    diffs = {}
    for name, value in got.items():
        if name not in want:
            raise ParityError(f"output {name!r} has no reference", file=where)
        reference = np.asarray(want[name], np.float64)
        value = np.asarray(value, np.float64)
        if value.shape != reference.shape:
            raise ParityError(f"output {name!r} has shape {list(value.shape)}, the reference {list(reference.shape)}",
                              file=where)
        diff = float(np.max(np.abs(value - reference))) if value.size else 0.0
        tolerance = VALIDATION_TOLERANCE[dtype] * max(1.0, float(np.max(np.abs(reference))) if value.size else 1.0)
        if not diff <= tolerance:  # NaN fails too
            raise ParityError(f"output {name!r} differs from the NumPy reference forward by {diff:.3g} (tolerance "
                              f"{tolerance:.3g}, {dtype})", file=where)
        diffs[name] = diff
    return diffs


def validate(model: str | os.PathLike | bytes | onnx.ModelProto, ckpt: Checkpoint, device: str = "cpu") -> dict[str, float]:
    """Run the model in ONNX Runtime and compare every output with `albert_bridge.numpy_forward` (float64,
    from the same weights). Returns the max abs difference per output; raises ParityError beyond tolerance."""

    sess = session(model, device)
    meta = sess.get_modelmeta().custom_metadata_map
    dtype = meta.get(META + "dtype", "float32")
    inputs = validation_inputs(ckpt, [i.name for i in sess.get_inputs()])
    got = run(model, inputs, device, sess=sess)
    want = forward(ckpt, inputs, output_hidden_states=any(name.startswith("hidden_states.") for name in got))
    return compare(got, want, dtype, model if isinstance(model, (str, os.PathLike)) else None)
