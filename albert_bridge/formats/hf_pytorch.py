"""Hugging Face PyTorch checkpoints: `model.safetensors` and `pytorch_model.bin`, single or sharded.

The names are transformers' `state_dict()` names, which our PyTorch models share. Linear weights are
[out, in] (transposed from the canonical [in, out]); embeddings and LayerNorms are stored as they are.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Sequence

import numpy as np

from ..arrays import arrays_equal, writable
from ..checkpoint import Checkpoint, LazyTensor, LoadReport
from ..config import AlbertConfig
from ..errors import BridgeError, truncated
from ..schema import HeadKind
from .hf_layout import HFWeights, find_weights, load_hf, save_config, write_sharded
from .mapping import TRANSPOSE, HFSpelling
from .safetensors_io import read_safetensors, write_safetensors

# transformers' state_dict() names: "." between parts, Linear weights [out, in].
PYTORCH_NAMES = HFSpelling(sep=".", index=".", dense=("weight", "bias"), norm=("weight", "bias"),
                           embeddings=dict.fromkeys(("embeddings.word", "embeddings.position", "embeddings.token_type"),
                                                    "weight"),
                           mlm_bias=("bias",), dense_transform=TRANSPOSE)
MAPPING = PYTORCH_NAMES.mapping(
    skip=[
        (r"embeddings\.(position_ids|token_type_ids)$", "buffer, not a weight"),
        (r"^predictions\.decoder\.weight$", "tied to the word embeddings"),
        (r"^predictions\.decoder\.bias$", "tied to predictions.bias"),
    ],
)

# Tied copies transformers keeps in pytorch_model.bin (and drops from model.safetensors).
TIED = {"predictions.decoder.weight": "embeddings.word", "predictions.decoder.bias": "head.mlm.output_bias"}


def _tied_check(native: dict[str, LazyTensor], report: LoadReport) -> None:
    """transformers computes with decoder.bias after loading; say so when a file's two biases disagree."""
    bias, decoder_bias = native.get("predictions.bias"), native.get("predictions.decoder.bias")
    if bias is not None and decoder_bias is not None and not arrays_equal(bias.read(), decoder_bias.read()):
        report.warnings.append(
            f"{report.source}: predictions.decoder.bias differs from predictions.bias; using predictions.bias"
        )


def _decoder_bias(native: dict[str, LazyTensor], report: LoadReport) -> dict[str, LazyTensor]:
    """Very old files hold only the tied decoder bias: it is the bias. Otherwise say when the two disagree."""
    if "predictions.bias" not in native and "predictions.decoder.bias" in native:
        native = {**native, "predictions.bias": native.pop("predictions.decoder.bias")}
    _tied_check(native, report)
    return native


# --- model.safetensors -----------------------------------------------------------------------
SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"


def detect_safetensors(path: Path) -> Path | None:
    found = find_weights(path, SAFETENSORS_NAME, SAFETENSORS_INDEX)
    if found and found.suffix == ".safetensors":
        _, metadata = read_safetensors(found)
        if metadata.get("format") == "albert-bridge":
            return None  # our canonical form, not the HF layout
    return found


SAFETENSORS = HFWeights("safetensors", SAFETENSORS_NAME, SAFETENSORS_INDEX, MAPPING,
                        lambda path, report: (read_safetensors(path)[0], {}), fixup=_decoder_bias)


def load_safetensors(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    return load_hf(SAFETENSORS, detect_safetensors(path), path, head, config)


def save_safetensors(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    ckpt = ckpt.with_projection()
    native = MAPPING.to_native(ckpt.tensors, ckpt.head)

    def write(path: Path, items: Sequence[tuple[str, LazyTensor]]) -> None:
        write_safetensors(path, items, {"format": "pt"})

    return [save_config(ckpt, directory), *write_sharded(directory, native, SAFETENSORS_NAME, max_shard_size, write)]


# --- pytorch_model.bin -----------------------------------------------------------------------
BIN_NAME = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"


def detect_bin(path: Path) -> Path | None:
    return find_weights(path, BIN_NAME, BIN_INDEX)


def torch_to_numpy(tensor) -> np.ndarray:
    import torch

    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype is torch.bfloat16:
        import ml_dtypes

        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


def numpy_to_torch(array: np.ndarray, contiguous: bool = True):
    """A torch tensor sharing the array's memory (a copy only where `contiguous` asks for one, or for bfloat16
    stored with strides torch cannot view); a read-only file map becomes a lazy copy-on-write one (torch tensors
    are writable)."""
    import torch

    array = writable(array)
    if array.dtype.name == "bfloat16":
        array = array if array.flags.c_contiguous else np.ascontiguousarray(array)
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array) if contiguous else array)


def read_bin(path: Path) -> dict[str, LazyTensor]:
    """A pytorch_model.bin as lazy tensors; `weights_only=True` refuses anything but tensors."""
    import torch

    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc) and "zip" not in str(exc):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)  # legacy (pre-zip) format
    except pickle.UnpicklingError as exc:
        reason = str(exc).splitlines()[0][:200]
        raise BridgeError(f"refused: holds objects other than tensors ({reason})", file=path) from None
    except Exception as exc:  # torch.load fails in many ways on damaged files; all mean the same to the user
        if "central directory" in str(exc):  # a zip whose end (its directory) is missing: cut short
            raise truncated(path, path.stat().st_size) from None
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        reason = reason if len(reason) <= 200 else reason[:reason.rfind(". ", 0, 200) + 1] or reason[:200]
        raise BridgeError(f"not a readable PyTorch checkpoint ({reason})", file=path) from None
    if not isinstance(state, dict):
        raise BridgeError(f"holds a {type(state).__name__}, not a state dict", file=path)
    tensors = {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise BridgeError(f"value is a {type(value).__name__}, not a tensor", file=path, tensor=str(name))
        dtype = torch_to_numpy(torch.empty(0, dtype=value.dtype)).dtype
        tensors[name] = LazyTensor(tuple(value.shape), dtype, lambda v=value: torch_to_numpy(v), f"{path}: {name}")
    return tensors


BIN = HFWeights("pytorch", BIN_NAME, BIN_INDEX, MAPPING, lambda path, report: (read_bin(path), {}),
                fixup=_decoder_bias)


def load_bin(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    return load_hf(BIN, detect_bin(path), path, head, config)


def save_bin(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    ckpt = ckpt.with_projection()
    native = MAPPING.to_native(ckpt.tensors, ckpt.head)
    # transformers keeps the tied decoder copies in .bin files; they share storage, so they cost nothing.
    tied_copies = {}
    if ckpt.head in (HeadKind.PRETRAINING, HeadKind.MASKED_LM):
        tied_copies = {MAPPING.native_name(canonical, ckpt.head)[0]: tied for tied, canonical in TIED.items()}

    def write(path: Path, items: Sequence[tuple[str, LazyTensor]]) -> None:
        import torch

        state = {name: numpy_to_torch(tensor.read()) for name, tensor in items}
        state.update({tied_copies[name]: state[name] for name in list(state) if name in tied_copies})
        torch.save(state, path)

    return [save_config(ckpt, directory), *write_sharded(directory, native, BIN_NAME, max_shard_size, write)]
