"""Hugging Face TF2 checkpoints: `tf_model.h5` (Keras 2 `save_weights` layout), single or sharded; h5py only.

What transformers 4.x writes, and what `save` reproduces:
- a single file: root attributes `layer_names` (the model's top-level layers: `albert`, then the head's layers,
  e.g. `predictions`, `sop_classifier`, `dropout`, `classifier`, `qa_outputs`), `backend` and `keras_version`; one
  group per layer (in sorted order) with attribute `weight_names` (`tf_albert_for_masked_lm/albert/embeddings/
  word_embeddings/weight:0`, ...) and the datasets at `<layer>/<weight name>`; an empty `top_level_model_weights`
  group. The MLM head keeps a reference to the embeddings layer, so Keras also lists (and stores) the five embedding
  weights under `predictions`: they are written twice, as Keras does, and read once.
- sharded (`tf_model-00001-of-0000N.h5` + `tf_model.h5.index.json`): each shard holds flat datasets named without the
  model name (`albert/pooler/kernel:0`), listed in the root attribute `layer_names`; the index maps full names.
- attribute lists over HDF5's 64 KiB object-header limit are split into `layer_names0`, `layer_names1`, ... (read too).
- bfloat16 (which HDF5 lacks) is stored as Keras 3 stores it: 2-byte opaque data with the dataset attribute
  `dtype="bfloat16"`. albert-bridge and Keras 3 read it back; transformers' TF loader cannot.

The first name component (the Keras model name) varies per class and per session; loaders ignore it, and so does
`load`. Dense kernels are [in, out] as in the canonical schema: every rule is the identity.

MLM bias: transformers' TF head computes logits with `predictions/decoder/bias` and ignores `predictions/bias`, and
its PyTorch->TF loading leaves the decoder bias at zero. `save` writes both (equal); `load` uses decoder/bias, the one
the published TF logits were computed with, and warns, naming the file, when the two differ.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..arrays import arrays_equal
from ..checkpoint import Checkpoint, LazyTensor, LoadReport
from ..config import AlbertConfig
from ..errors import BridgeError
from ..schema import ARCHITECTURES, HeadKind
from .h5_io import _MAX_EXPANSION, _attribute, _dataset_reader, _first_line, _open, _stored_dtype, _write_dataset
from .hf_layout import HFWeights, find_weights, load_hf, save_config, write_sharded
from .mapping import HFSpelling

H5_NAME = "tf_model.h5"
H5_INDEX = "tf_model.h5.index.json"
HDF5_OBJECT_HEADER_LIMIT = 64512  # Keras' limit for one attribute; longer lists are split (module-level for tests)
KERAS_VERSION = "2.21.0"  # the tf-keras whose save_weights layout this reproduces (no loader checks it)

# Keras weight names: "/" between parts, "_._" before a list index, ":0" after. Every TF class, TFAlbertModel
# included, keeps the backbone under `albert/`, so the prefix is in every backbone name.
KERAS_NAMES = HFSpelling(sep="/", index="_._", dense=("kernel", "bias"), norm=("gamma", "beta"),
                         embeddings={"embeddings.word": "weight", "embeddings.position": "embeddings",
                                     "embeddings.token_type": "embeddings"},
                         mlm_bias=("decoder", "bias"),  # what transformers' TF MLM head computes with
                         suffix=":0", backbone_in_names=True)
# In the order transformers' Keras model creates the weights (the order of `weight_names`).
MAPPING = KERAS_NAMES.mapping(
    skip=[(r"^predictions/bias:0$", "tied copy: transformers' TF MLM head computes with predictions/decoder/bias")],
)

MLM_BIAS, MLM_DECODER_BIAS = "predictions/bias:0", "predictions/decoder/bias:0"
_MLM_HEADS = (HeadKind.PRETRAINING, HeadKind.MASKED_LM)

# Top-level layers of each transformers TF class, in creation order (= `layer_names`). "dropout" stands for the
# weightless Dropout of the classifier heads, which Keras 2 names with a per-process counter (see `layer_names`).
LAYERS: dict[HeadKind, tuple[str, ...]] = {
    HeadKind.BASE: ("albert",),
    HeadKind.PRETRAINING: ("albert", "predictions", "sop_classifier"),
    HeadKind.MASKED_LM: ("albert", "predictions"),
    HeadKind.SEQUENCE_CLASSIFICATION: ("albert", "dropout", "classifier"),
    HeadKind.MULTIPLE_CHOICE: ("albert", "dropout", "classifier"),
    HeadKind.TOKEN_CLASSIFICATION: ("albert", "dropout", "classifier"),
    HeadKind.QUESTION_ANSWERING: ("albert", "qa_outputs"),
}


def keras_model_name(class_name: str) -> str:
    """Keras 2's default name for a model class: `TFAlbertForMaskedLM` -> `tf_albert_for_masked_lm`."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


MODEL_NAMES = {head: keras_model_name("TF" + arch) for head, arch in ARCHITECTURES.items()}


def layer_names(config: AlbertConfig, head: HeadKind) -> list[str]:
    """`layer_names` as transformers writes them from a fresh process. Keras 2 numbers Dropout names per process
    (`dropout`, `dropout_1`, ...) and transformers builds one in the embeddings and three in each of the G*K layers
    before the classifier heads' own, which a fresh process therefore names `dropout_{1 + 3*G*K}`: a model built
    there loads the file with nothing unexpected (elsewhere only this weightless layer's name differs)."""
    dropout = f"dropout_{1 + 3 * config.num_hidden_groups * config.inner_group_num}"
    return [dropout if layer == "dropout" else layer for layer in LAYERS[head]]


# --- attributes (Keras' save/load_attributes_to/from_hdf5_group) -----------------------------------------------
def write_name_list(group, name: str, values: Sequence[str]) -> None:
    """Store a list of names as Keras does: one attribute, or `name0`, `name1`, ... when over the header limit."""
    data = [v.encode("utf8") for v in values]
    too_long = [v for v in data if len(v) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise BridgeError(f"name longer than the HDF5 attribute limit: {too_long[0][:80]!r}...", file=group.file.filename)
    array = np.asarray(data)
    chunks = 1
    split = np.array_split(array, chunks)
    while any(part.nbytes > HDF5_OBJECT_HEADER_LIMIT for part in split):
        chunks += 1
        split = np.array_split(array, chunks)
    if chunks > 1:
        for i, part in enumerate(split):
            group.attrs[f"{name}{i}"] = part
    else:
        group.attrs[name] = data


def read_name_list(group, name: str) -> list[str] | None:
    """The list `write_name_list` stored (single or split attribute), or None when neither is there."""
    attrs = group.attrs
    if name in attrs:
        parts = [_attribute(group, name)]
    elif f"{name}0" in attrs:
        parts, i = [], 0
        while f"{name}{i}" in attrs:
            parts.append(_attribute(group, f"{name}{i}"))
            i += 1
    else:
        return None
    values: list[str] = []
    for part in parts:
        items = [part] if isinstance(part, (str, bytes)) else np.asarray(part).reshape(-1).tolist()
        values.extend(v.decode("utf8") if isinstance(v, bytes) else str(v) for v in items)
    return values


# --- reading ------------------------------------------------------------------------------------------------------
def _strip_model_name(weight_name: str) -> str:
    return weight_name.split("/", 1)[1] if "/" in weight_name else weight_name



def read_h5(path: Path, report: LoadReport | None = None) -> dict[str, LazyTensor]:
    """A full `tf_model.h5` or one shard: native names (model name stripped) -> lazy tensors.

    Datasets are read when a tensor is; names repeated under a second layer (the MLM head's embeddings) are
    checked against the first copy and skipped. Headers are checked against the file's size before anything is
    allocated from them."""
    import h5py

    native: dict[str, LazyTensor] = {}
    where: dict[str, str] = {}
    size = path.stat().st_size
    with _open(path) as f:
        try:
            layers = read_name_list(f, "layer_names")
            if layers is None:
                raise BridgeError("no `layer_names` attribute: not a Keras weights file", file=path)
            for layer in dict.fromkeys(layers):  # a name listed twice is one layer (and no quadratic walk)
                obj = f.get(layer)
                if obj is None:
                    raise BridgeError(f"layer {layer!r} listed in layer_names is missing", file=path)
                if isinstance(obj, h5py.Dataset):  # a shard: flat datasets named without the model name
                    entries = [(layer, layer)]
                else:
                    names = read_name_list(obj, "weight_names") or []
                    entries = [(_strip_model_name(w), f"{layer}/{w}") for w in dict.fromkeys(names)]
                for name, dataset in entries:
                    ds = f.get(dataset)
                    if not isinstance(ds, h5py.Dataset):
                        raise BridgeError(f"weight {dataset!r} listed in weight_names is missing", file=path)
                    claimed = math.prod(ds.shape or ()) * ds.dtype.itemsize
                    if claimed > size * (_MAX_EXPANSION if ds.compression else 1):
                        raise BridgeError(f"dataset claims {claimed} bytes, the file has {size}", file=path,
                                          tensor=dataset)
                    dtype = _stored_dtype(ds)
                    tensor = LazyTensor(tuple(ds.shape), dtype, _dataset_reader(path, dataset, dtype),
                                        f"{path}: {dataset}")
                    if name in native:
                        _check_repeat(native[name], tensor, dataset, where[name], report)
                        continue
                    native[name] = tensor
                    where[name] = dataset
        except BridgeError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged file fails inside h5py in many ways (RuntimeError too)
            raise BridgeError(f"damaged HDF5 file ({_first_line(exc)})", file=path) from None
    return native


def _check_repeat(first: LazyTensor, again: LazyTensor, dataset: str, first_dataset: str,
                  report: LoadReport | None) -> None:
    if report is None:
        return
    layer = dataset.split("/", 1)[0]
    report.skip(dataset, f"second copy under layer {layer!r} (Keras saves the MLM head's tied embeddings there too)")
    if first.shape != again.shape or not arrays_equal(first.read(), again.read()):
        report.warnings.append(f"{again.origin} differs from {first_dataset}; using {first_dataset}")


def _mlm_bias(native: dict[str, LazyTensor], report: LoadReport) -> dict[str, LazyTensor]:
    """Use decoder/bias (what transformers' TF logits use); say so when predictions/bias disagrees with it."""
    bias, decoder_bias = native.get(MLM_BIAS), native.get(MLM_DECODER_BIAS)
    if decoder_bias is None:
        if bias is not None:  # only one of the two: it is the bias
            native = {k: v for k, v in native.items() if k != MLM_BIAS}
            native[MLM_DECODER_BIAS] = bias
        return native
    if bias is not None:
        a, b = bias.read(), decoder_bias.read()
        if a.shape != b.shape or not arrays_equal(a, b):
            diff = (f"max |diff| {np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))):.3g}"
                    if a.shape == b.shape else f"shapes {list(b.shape)} and {list(a.shape)}")
            report.warnings.append(
                f"{report.source}: {MLM_DECODER_BIAS} differs from {MLM_BIAS} ({diff}); using "
                f"{MLM_DECODER_BIAS}, which transformers' TF MLM head computes with. A zero decoder bias is what "
                "transformers' PyTorch->TF conversion leaves: the TF logits published with this file lack the bias")
    return native


def detect(path: Path) -> Path | None:
    return find_weights(path, H5_NAME, H5_INDEX)


TF_H5 = HFWeights("tf", H5_NAME, H5_INDEX, MAPPING, lambda path, report: (read_h5(path, report), {}),
                  listed_as=_strip_model_name, fixup=_mlm_bias)


def load(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    return load_hf(TF_H5, detect(path), path, head, config)


# --- writing ------------------------------------------------------------------------------------------------------
def _order(config: AlbertConfig) -> dict[str, int]:
    """Every native name in the order transformers' model creates its weights (group by group, layer by layer)."""
    names: list[str] = []
    layer_rules = [r for r in MAPPING.rules if "{g}" in r.native]
    for rule in MAPPING.rules:
        if rule is layer_rules[0]:
            for g in range(config.num_hidden_groups):
                for k in range(config.inner_group_num):
                    names.extend(r.native.format(g=g, k=k) for r in layer_rules)
        elif rule not in layer_rules:
            if rule.native == MLM_DECODER_BIAS:
                names.append(MLM_BIAS)
            names.append(rule.native)
    return {name: i for i, name in enumerate(names)}


def native_tensors(ckpt: Checkpoint) -> list[tuple[str, LazyTensor]]:
    """The checkpoint under transformers' TF names (model name not included), in transformers' weight order,
    with the MLM bias under both names."""
    ckpt = ckpt.with_projection()
    native = MAPPING.to_native(ckpt.tensors, ckpt.head)
    if MLM_DECODER_BIAS in native:
        native[MLM_BIAS] = native[MLM_DECODER_BIAS]
    order = _order(ckpt.config)
    return sorted(native.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def _write_full(path: Path, config: AlbertConfig, head: HeadKind, items: Sequence[tuple[str, LazyTensor]]) -> None:
    """One file in Keras 2's save_weights layout, as transformers' `save_pretrained` writes it."""
    import h5py

    model = MODEL_NAMES[head]
    layers = layer_names(config, head)
    by_layer: dict[str, list[tuple[str, LazyTensor]]] = {layer: [] for layer in layers}
    for name, tensor in items:
        by_layer[name.split("/", 1)[0]].append((name, tensor))
    if "predictions" in by_layer:  # the MLM head tracks the embeddings layer it decodes with
        by_layer["predictions"] += [(n, t) for n, t in items if n.startswith("albert/embeddings/")]
    with h5py.File(path, "w") as f:
        write_name_list(f, "layer_names", layers)
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
        for layer in sorted(layers):
            group = f.create_group(layer)
            weight_names = [f"{model}/{name}" for name, _ in by_layer[layer]]
            write_name_list(group, "weight_names", weight_names)
            for full, (_, tensor) in zip(weight_names, by_layer[layer]):
                _write_dataset(group, full, tensor)
        write_name_list(f.create_group("top_level_model_weights"), "weight_names", [])


def _write_shard(path: Path, items: Iterable[tuple[str, LazyTensor]]) -> None:
    """One shard as transformers writes it: flat datasets without the model name, listed in `layer_names`."""
    import h5py

    named = sorted((_strip_model_name(full), tensor) for full, tensor in items)
    with h5py.File(path, "w") as f:
        for name, tensor in named:
            _write_dataset(f, name, tensor)
        write_name_list(f, "layer_names", [name for name, _ in named])


def save(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    items = native_tensors(ckpt)
    model = MODEL_NAMES[ckpt.head]

    def write(path: Path, shard: Sequence[tuple[str, LazyTensor]]) -> None:
        if path.name == H5_NAME:  # everything fits in one file: the full Keras layout, in transformers' order
            _write_full(path, ckpt.config, ckpt.head, items)
        else:
            _write_shard(path, shard)

    full_names = {f"{model}/{name}": tensor for name, tensor in items}
    return [save_config(ckpt, directory), *write_sharded(directory, full_names, H5_NAME, max_shard_size,
                                                                        write)]
