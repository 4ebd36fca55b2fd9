"""safetensors without a framework: lazy reads through `safe_open`, streamed writes one tensor at a time.

Reads open the file for each tensor: `safe_open` memory-maps the whole file, and pages it touched stay in the
process's resident set until the map is closed, so one long-lived handle would grow to the model's size.
The safetensors library writes only from a dict of tensors held in memory; a conversion must not hold the
whole model, so the writer lays out the header from shapes and dtypes first, then streams the bytes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

from ..checkpoint import LazyTensor
from ..errors import BridgeError

_TO_ST = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64", "int64": "I64",
          "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}
_FROM_ST = {v: k for k, v in _TO_ST.items()}


def _np_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def read_safetensors(path: Path) -> tuple[dict[str, LazyTensor], dict[str, str]]:
    """Lazy tensors and the metadata of one safetensors file."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            tensors = {}
            for name in handle.keys():
                view = handle.get_slice(name)
                st_dtype = view.get_dtype()
                if st_dtype not in _FROM_ST:
                    raise BridgeError(f"unsupported dtype {st_dtype}", file=path, tensor=name)
                tensors[name] = LazyTensor(
                    tuple(view.get_shape()), _np_dtype(_FROM_ST[st_dtype]), _reader(path, name), f"{path}: {name}"
                )
    except (SafetensorError, OSError) as exc:
        raise BridgeError(f"not a readable safetensors file ({exc})", file=path) from None
    return tensors, metadata


def _reader(path: Path, name: str):
    def load() -> np.ndarray:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as handle:
                return handle.get_tensor(name)
        except Exception as exc:  # the library raises several types for damaged or changed files
            raise BridgeError(f"cannot read tensor data ({exc})", file=path, tensor=name) from None

    return load


def write_safetensors(path: Path, tensors: Sequence[tuple[str, LazyTensor]], metadata: dict[str, str]) -> None:
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for name, tensor in tensors:
        if tensor.dtype.name not in _TO_ST:
            raise BridgeError(f"dtype {tensor.dtype} cannot be stored in safetensors", file=path, tensor=name)
        header[name] = {"dtype": _TO_ST[tensor.dtype.name], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + tensor.nbytes]}
        offset += tensor.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header to 8 bytes with spaces
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for _, tensor in tensors:
            array = tensor.read()
            if array.dtype.byteorder == ">":
                array = array.astype(array.dtype.newbyteorder("<"))
            array = np.ascontiguousarray(array)
            out.write(array.view(np.uint8).reshape(-1).data if array.size else b"")
