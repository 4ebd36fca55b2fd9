"""HDF5 reading and writing that every Keras weights file shares (transformers' Keras 2 `tf_model.h5`, Keras 3's
`*.weights.h5` in keras-hub presets): opening with one-line errors, headers checked against the file's size before
anything is allocated from them, datasets read lazily (mapped when contiguous), bfloat16 tagged as Keras 3 tags it.
h5py only; imported by the adapters that read such files."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..arrays import contiguous, map_tensor, rows_per_write
from ..checkpoint import LazyTensor
from ..errors import BridgeError, truncated


def _attribute(obj, name: str):
    """An attribute's value, refused before h5py allocates it when its header claims more than the file holds."""
    aid = obj.attrs.get_id(name)
    claimed = math.prod(aid.shape or ()) * max(1, aid.dtype.itemsize)
    size = obj.file.id.get_filesize()
    if claimed > size:
        raise ValueError(f"attribute {name!r} claims {claimed} bytes, the file has {size}")
    return obj.attrs[name]


def _open(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, ValueError, RuntimeError, ... on damaged files
        cut = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", str(exc))
        if cut:
            raise truncated(path, int(cut.group(1)), int(cut.group(2))) from None
        raise BridgeError(f"not a readable HDF5 file ({_first_line(exc)})", file=path) from None


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _stored_dtype(ds) -> np.dtype:
    """The dataset's dtype; bfloat16 is stored as 2-byte opaque data tagged `dtype="bfloat16"` (Keras 3's way)."""
    if "dtype" in ds.attrs and _attribute(ds, "dtype") in ("bfloat16", b"bfloat16") and ds.dtype.itemsize == 2:
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return ds.dtype


def _dataset_reader(path: Path, dataset: str, dtype: np.dtype):
    def load() -> np.ndarray:
        with _open(path) as f:
            try:
                ds = f[dataset]
                array = _mapped(path, ds)
                if array is None:
                    array = np.asarray(ds[()])
            except BridgeError:
                raise
            except Exception as exc:  # noqa: BLE001 - as in _open
                raise BridgeError(f"cannot read dataset ({_first_line(exc)})", file=path, tensor=dataset) from None
        return array.view(dtype) if array.dtype != dtype else array
    return load


def _mapped(path: Path, ds) -> np.ndarray | None:
    """A contiguous, unfiltered dataset (what transformers and we write) as a read-only map of its bytes in the file,
    as safetensors are read: nothing is copied until used, and pages already cached cost no allocation. Else None."""
    offset = ds.id.get_offset()
    if offset is None or ds.chunks is not None or ds.id.get_create_plist().get_nfilters() or not ds.shape:
        return None
    return map_tensor(path, offset, ds.dtype, ds.shape, ds.name)


# DEFLATE expands at most 1032:1; a dataset claiming more than that over the file's size is a lie.
_MAX_EXPANSION = 1032

def _write_dataset(group, name: str, tensor: LazyTensor) -> None:
    array = contiguous(tensor.read())
    if array.dtype.name == "bfloat16":  # HDF5 has no bfloat16: opaque 2-byte data, tagged as Keras 3 tags it
        group.create_dataset(name, data=array).attrs["dtype"] = "bfloat16"
        return
    dataset = group.create_dataset(name, array.shape, dtype=array.dtype)
    if not array.shape:
        dataset[()] = array
        return
    step = rows_per_write(array)  # slabs of ~1 MiB: HDF5 writes each with one call (see arrays.WRITE_CHUNK)
    for start in range(0, array.shape[0], step):
        dataset[start:start + step] = array[start:start + step]
