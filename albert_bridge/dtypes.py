"""The dtype names of every file format, in one table: numpy's name <-> safetensors' code <-> TF's DataType.

Each format reads its names from here (formats/safetensors_io.py, formats/tf_bundle.py, formats/hf_flax_msgpack.py),
and checkpoint casts (`--dtype`) parse theirs with `numpy_dtype`. numpy has no bfloat16 (nor float8, int4, ...):
those come from ml_dtypes, imported only when one is asked for.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DType(NamedTuple):
    name: str | None  # numpy's (or ml_dtypes') name; None: TF knows the type, but it holds no array of numbers
    safetensors: str | None  # the safetensors header's code; None: we neither read nor write it there
    tf_code: int | None  # TF's DataType enum value (types.proto)
    tf_name: str | None


TABLE: tuple[DType, ...] = (
    DType("float32", "F32", 1, "DT_FLOAT"),
    DType("float64", "F64", 2, "DT_DOUBLE"),
    DType("int32", "I32", 3, "DT_INT32"),
    DType("uint8", "U8", 4, "DT_UINT8"),
    DType("int16", "I16", 5, "DT_INT16"),
    DType("int8", "I8", 6, "DT_INT8"),
    DType(None, None, 7, "DT_STRING"),
    DType(None, None, 8, "DT_COMPLEX64"),
    DType("int64", "I64", 9, "DT_INT64"),
    DType("bool", "BOOL", 10, "DT_BOOL"),
    DType("bfloat16", "BF16", 14, "DT_BFLOAT16"),
    DType("uint16", None, 17, "DT_UINT16"),
    DType(None, None, 18, "DT_COMPLEX128"),
    DType("float16", "F16", 19, "DT_HALF"),
    DType(None, None, 20, "DT_RESOURCE"),
    DType(None, None, 21, "DT_VARIANT"),
    DType("uint32", None, 22, "DT_UINT32"),
    DType("uint64", None, 23, "DT_UINT64"),
)

# Names numpy cannot resolve itself; ml_dtypes defines them.
_ML_DTYPES_PREFIXES = ("bfloat16", "float8_", "float6_", "float4_", "int2", "int4", "uint2", "uint4")


def dtype_from_name(name: str) -> np.dtype:
    """numpy's dtype names, plus ml_dtypes' (bfloat16, float8_*, int4, ...). Raises TypeError, ValueError or
    AttributeError for a name that is neither."""
    if name.startswith(_ML_DTYPES_PREFIXES):
        import ml_dtypes  # only for the dtypes numpy lacks

        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


# What a checkpoint can be cast to (`--dtype`), and the spellings users write for them.
CAST_TARGETS = ("float32", "float16", "bfloat16")
_CAST_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "float": "float32", "bf16": "bfloat16"}


def numpy_dtype(name: str) -> np.dtype:
    """`float32`, `float16` or `bfloat16` (via ml_dtypes: numpy has no bfloat16 of its own)."""
    name = _CAST_ALIASES.get(name, name)
    if name not in CAST_TARGETS:
        raise ValueError(f"unknown dtype {name!r} (expected float32, float16 or bfloat16)")
    return dtype_from_name(name)


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype.name == "bfloat16"
