"""ONNX models written by albert-bridge: `model.onnx` (+ `model.onnx_data` when the weights are over 2 GB).

The graph is built by `albert_bridge.export.onnx` from the canonical tensors, each stored as ONE initializer named by
its canonical key, so reading takes the initializers back (the graph itself is rebuilt on every export) and the
config from `config.json` beside the file, else from the model's `albert_bridge.config` metadata. Only files that
carry our metadata are read: an ONNX model from another exporter or of another architecture is refused by name.

Detection looks at file names only (no onnx import); reading parses the protobuf with onnx, external data lazily.
`max_shard_size` does not apply: ONNX keeps the weights in the model, or in one external data file over 2 GB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import Checkpoint, LazyTensor, LoadReport
from ..config import CONFIG_NAME, AlbertConfig
from ..errors import BridgeError
from ..schema import HeadKind, expected_tensors
from .hf_layout import save_config, tokenizer_assets

FILE_NAME = "model.onnx"


def detect(path: Path) -> Path | None:
    path = Path(path)
    if path.is_dir():
        return path / FILE_NAME if (path / FILE_NAME).is_file() else None
    # model_quantized.onnx is the int8 tier's file (albert_bridge.deploy.onnx_int8), read by that format
    return path if path.is_file() and path.suffix == ".onnx" and path.name != "model_quantized.onnx" else None


def _parse(file: Path) -> Any:
    import onnx

    from ..export.onnx import first_line  # imports onnx (heavy, optional) at its top

    try:
        size = file.stat().st_size
        with open(file, "rb") as stream:
            head = stream.read(32)
    except OSError as exc:
        raise BridgeError(f"cannot read ({exc.strerror or exc})", file=file) from None
    if size == 0:
        raise BridgeError("empty file, not an ONNX model", file=file)
    if head.startswith(b"version https://git-lfs"):
        raise BridgeError("a Git LFS pointer, not the model (run `git lfs pull`)", file=file)
    try:
        return onnx.load_model(str(file), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and onnx's own errors for truncated or corrupt files
        raise BridgeError(f"not a readable ONNX model ({first_line(exc)})", file=file) from None


def parse_metadata(model: Any, file: Path, config: AlbertConfig | None, tier: bool = False
                   ) -> tuple[AlbertConfig, HeadKind]:
    """(config, head) from our metadata (config.json beside the file wins). A quantized file is a deployment tier
    (`tier`): read for its config and head only, never converted from."""
    from ..export.onnx import FORMAT_VERSION, META, QUANTIZED, first_line  # imports onnx (heavy, optional) at its top

    meta = {prop.key: prop.value for prop in model.metadata_props}
    if QUANTIZED in meta and not tier:
        raise BridgeError("already quantized to int8 (an albert-bridge deployment tier, not a checkpoint): convert "
                          "from the fp32 model it was made from", file=file)
    version = meta.get(META + "format_version")
    if version is None:
        producer = " ".join(filter(None, (model.producer_name, model.producer_version))) or "an unknown exporter"
        raise BridgeError(f"not an ALBERT model written by albert-bridge (no {META}* metadata; made by {producer})",
                          file=file)
    if version != FORMAT_VERSION:
        raise BridgeError(f"{META}format_version {version!r}: this albert-bridge reads version {FORMAT_VERSION}",
                          file=file)
    try:
        head = HeadKind.parse(meta[META + "head"])
        if config is None and (file.parent / CONFIG_NAME).is_file():
            config = AlbertConfig.from_pretrained(file.parent / CONFIG_NAME)
        if config is None:
            config = AlbertConfig.from_dict(json.loads(meta[META + "config"]), file)
    except (KeyError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise BridgeError(f"bad {META}* metadata ({first_line(exc)})", file=file) from None
    return config, head


def _lazy(file: Path, tensor: Any) -> LazyTensor:
    """One initializer as a lazy tensor; sizes and external data are checked now, bytes are read when asked for."""
    from onnx import TensorProto, helper, numpy_helper

    from ..export.onnx import first_line  # imports onnx (heavy, optional) at its top

    name = tensor.name
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type))
    except (KeyError, TypeError, ValueError):
        raise BridgeError(f"unsupported ONNX data type {tensor.data_type}", file=file, tensor=name) from None
    shape = tuple(int(d) for d in tensor.dims)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    origin = f"{file}: {name}"
    if tensor.data_location != TensorProto.EXTERNAL:
        if tensor.HasField("raw_data") and len(tensor.raw_data) != nbytes:
            raise BridgeError(f"holds {len(tensor.raw_data)} bytes for {dtype}{list(shape)}", file=file, tensor=name)

        def embedded() -> np.ndarray:
            try:
                return np.array(numpy_helper.to_array(tensor), dtype=dtype)  # a writable copy
            except Exception as exc:  # a typed field of the wrong length
                raise BridgeError(f"cannot read tensor data ({first_line(exc)})", file=file, tensor=name) from None

        return LazyTensor(shape, dtype, embedded, origin)

    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    data = file.parent / location
    if not location or Path(location).name != location or location in (".", ".."):
        raise BridgeError(f"external data location {location!r} is not a file beside the model", file=file, tensor=name)
    try:
        offset, length = int(info.get("offset", 0)), int(info.get("length", nbytes))
        size = data.stat().st_size
    except ValueError:
        raise BridgeError(f"bad external data offset or length {info}", file=file, tensor=name) from None
    except OSError:
        raise BridgeError(f"its external data file {location} is missing", file=file, tensor=name) from None
    if length != nbytes or offset < 0 or offset + length > size:
        raise BridgeError(f"external data [{offset}, {offset + length}) for {dtype}{list(shape)} does not fit "
                          f"{location} ({size} bytes)", file=file, tensor=name)

    def external() -> np.ndarray:
        out = np.empty(shape, dtype)
        try:
            with open(data, "rb") as stream:
                stream.seek(offset)
                if stream.readinto(memoryview(out.reshape(-1).view(np.uint8))) != length:
                    raise BridgeError("truncated since it was opened", file=data, tensor=name)
        except OSError as exc:
            raise BridgeError(f"cannot read ({exc.strerror or exc})", file=data, tensor=name) from None
        return out

    return LazyTensor(shape, dtype, external, origin)


def load(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    path = Path(path)
    file = detect(path)
    if file is None:
        raise BridgeError(f"no {FILE_NAME} here", file=path)
    model = _parse(file)
    config, stored_head = parse_metadata(model, file, config)
    report = LoadReport(format="onnx", source=str(file))
    expected = expected_tensors(config, stored_head)
    tensors: dict[str, LazyTensor] = {}
    for tensor in model.graph.initializer:
        if tensor.name in tensors:
            raise BridgeError("two initializers of this name", file=file, tensor=tensor.name)
        if tensor.name not in expected:  # our exporter writes canonical tensors only
            report.unknown.append(tensor.name)
            continue
        tensors[tensor.name] = _lazy(file, tensor)
        report.consumed += 1
    report.unknown.extend(t.values.name for t in model.graph.sparse_initializer)
    ckpt = Checkpoint(config, stored_head, tensors, report, tokenizer_assets(file.parent))
    return ckpt.with_head(head) if head else ckpt


def save(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    """config.json + model.onnx (+ model.onnx_data over 2 GB), checked with onnx.checker's full check."""
    from ..export.onnx import export  # imports onnx (heavy, optional) at its top

    files = export(ckpt, directory / FILE_NAME)
    return [save_config(ckpt, directory), *files]


def validate(directory: Path, ckpt: Checkpoint) -> dict[str, float]:
    """Run the written model in ONNX Runtime against the NumPy reference forward; ParityError beyond tolerance."""
    from ..export.onnx_runtime import validate as run_and_compare  # imports onnx (heavy, optional) at its top

    return run_and_compare(Path(directory) / FILE_NAME, ckpt)
