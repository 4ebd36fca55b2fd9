"""keras-hub presets (keras-hub 0.32, Keras 3), read and written with h5py alone.

A preset is a directory: `config.json` (the `AlbertBackbone`'s Keras config: `registered_name` tells keras-hub it is
a Keras preset, not a transformers config), `metadata.json`, `model.weights.h5` (the backbone), and for a task
`task.json` + `task.weights.h5` (`AlbertMaskedLM` or `AlbertTextClassifier`: the head's own weights only), the
tokenizer as `tokenizer.json` + `assets/tokenizer/vocabulary.spm`, and a task's `preprocessor.json`.

Keras 3 names weights by the path of layer *attributes* (class names in snake case plus a per-model counter:
`layers/transformer_encoder_3/_self_attention_layer/query_dense/vars/0`), not by `layer.name`. keras-hub builds one
`TransformerEncoder` per (group, inner layer), in group-major order: counter `g * K + k` (none for the first). The
mapping table names them `layers/group_{g}_inner_layer_{k}/...` (keras-hub's own `layer.name`), and the file I/O
translates between the two. Attention kernels are [H, heads, head_dim] (output: [heads, head_dim, H]), biases
[heads, head_dim]: reshapes of the canonical [in, out] kernels, so the bytes are the same in both layouts.

What keras-hub computes and transformers' config can differ in (`prepare`, before anything is written):
- keras-hub hard-codes the tanh GELU and LayerNorm eps 1e-12 in the backbone: another `hidden_act` or
  `layer_norm_eps` is refused unless forced, and then the difference is measured and reported;
- its MLM head normalises with eps 1e-5 where transformers uses `layer_norm_eps` (1e-12) everywhere: always
  reported, with the difference it makes measured by the NumPy reference forward on the validation inputs;
- its backbone always has the pooler: a masked-lm checkpoint (transformers' has none) gets a zero pooler, and a
  masked-lm preset's pooler is dropped on reading (reported);
- heads: base -> AlbertBackbone, masked-lm -> AlbertMaskedLM, pretraining -> AlbertMaskedLM (the sentence-order
  head dropped, named), sequence-classification -> AlbertTextClassifier; the others have no keras-hub task.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..checkpoint import Checkpoint, LazyTensor, LoadReport
from ..config import AlbertConfig, parse_json
from ..errors import BridgeError, ConfigMissing
from ..inputs import make_inputs
from ..numpy_forward import forward
from ..schema import HeadKind
from .h5_io import _MAX_EXPANSION, _dataset_reader, _first_line, _open, _stored_dtype, _write_dataset
from .mapping import Mapping, Rule, Transform

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
MODEL_WEIGHTS = "model.weights.h5"
TASK_FILE = "task.json"
TASK_WEIGHTS = "task.weights.h5"
TOKENIZER_CONFIG = "tokenizer.json"
PREPROCESSOR_FILE = "preprocessor.json"
VOCABULARY = "assets/tokenizer/vocabulary.spm"
FILES = (CONFIG_FILE, METADATA_FILE, MODEL_WEIGHTS, TASK_FILE, TASK_WEIGHTS, TOKENIZER_CONFIG, PREPROCESSOR_FILE,
         VOCABULARY)
# The versions whose saving layout this reproduces (what keras-hub writes into metadata.json; nothing checks them).
KERAS_VERSION, KERAS_HUB_VERSION = "3.15.1", "0.32.0"

BACKBONE = "AlbertBackbone"
TASKS = {HeadKind.MASKED_LM: "AlbertMaskedLM", HeadKind.SEQUENCE_CLASSIFICATION: "AlbertTextClassifier"}
PREPROCESSORS = {HeadKind.MASKED_LM: "AlbertMaskedLMPreprocessor",
                 HeadKind.SEQUENCE_CLASSIFICATION: "AlbertTextClassifierPreprocessor"}
# Where each head goes: pretraining loses its sentence-order head (keras-hub has no task for it).
TARGET_HEADS = {HeadKind.BASE: HeadKind.BASE, HeadKind.MASKED_LM: HeadKind.MASKED_LM,
                HeadKind.PRETRAINING: HeadKind.MASKED_LM,
                HeadKind.SEQUENCE_CLASSIFICATION: HeadKind.SEQUENCE_CLASSIFICATION}
# What keras-hub computes with, whatever a config says.
GELU_TANH = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
BACKBONE_EPS, MLM_HEAD_EPS = 1e-12, 1e-5

# ---- the mapping table ---------------------------------------------------------------------------------------------
# Native names: `<file>:<dataset path>`, the encoders under keras-hub's layer names (see the module's docstring).
_M, _T = "model:layers/", "task:layers/"
_ENC = _M + "group_{g}_inner_layer_{k}/"
_LAYER = "encoder.group.{g}.inner.{k}."


def _attention(kind: str, name: str) -> list[Rule]:
    return [Rule(_LAYER + f"attention.{kind}.kernel", _ENC + f"_self_attention_layer/{name}_dense/vars/0"),
            Rule(_LAYER + f"attention.{kind}.bias", _ENC + f"_self_attention_layer/{name}_dense/vars/1")]


def _pair(canonical: str, native: str, names: tuple[str, str] = ("kernel", "bias")) -> list[Rule]:
    return [Rule(f"{canonical}.{names[0]}", f"{native}/vars/0"), Rule(f"{canonical}.{names[1]}", f"{native}/vars/1")]


RULES: tuple[Rule, ...] = (
    Rule("embeddings.word", _M + "reversible_embedding/vars/0"),
    Rule("embeddings.position", _M + "position_embedding/vars/0"),
    Rule("embeddings.token_type", _M + "embedding/vars/0"),
    *_pair("embeddings.norm", _M + "layer_normalization", ("gamma", "beta")),
    *_pair("encoder.projection", _M + "dense"),
    *_attention("query", "query"), *_attention("key", "key"), *_attention("value", "value"),
    *_attention("output", "output"),
    *_pair(_LAYER + "attention.norm", _ENC + "_self_attention_layer_norm", ("gamma", "beta")),
    *_pair(_LAYER + "ffn.intermediate", _ENC + "_feedforward_intermediate_dense"),
    *_pair(_LAYER + "ffn.output", _ENC + "_feedforward_output_dense"),
    *_pair(_LAYER + "ffn.norm", _ENC + "_feedforward_layer_norm", ("gamma", "beta")),
    *_pair("pooler", _M + "dense_1"),
    *_pair("head.mlm.transform", _T + "masked_lm_head/_intermediate_dense"),
    *_pair("head.mlm.norm", _T + "masked_lm_head/_intermediate_layer_norm", ("gamma", "beta")),
    Rule("head.mlm.output_bias", _T + "masked_lm_head/vars/0"),
    *_pair("head.classifier", _T + "dense"),
)
_SKIP = ((r"\Atask:optimizer/", "optimizer state saved with the task (not weights)"),)


def _per_head_shape(rule: Rule, config: AlbertConfig) -> tuple[int, ...] | None:
    """keras-hub's shape for the attention tensors (the others are stored as the canonical schema has them)."""
    heads = config.num_attention_heads
    size = config.hidden_size // heads
    if "_self_attention_layer/output_dense/vars/0" in rule.native:
        return heads, size, config.hidden_size
    if re.search(r"_self_attention_layer/(query|key|value)_dense/vars/0\Z", rule.native):
        return config.hidden_size, heads, size
    if re.search(r"_self_attention_layer/(query|key|value)_dense/vars/1\Z", rule.native):
        return heads, size
    return None


def mapping(config: AlbertConfig) -> Mapping:
    """The table with the attention tensors' reshapes for this config (its head count); a reshape keeps the bytes,
    so the digests of a conversion's read-back need no layout of their own."""
    rules = []
    for rule in RULES:
        shape = _per_head_shape(rule, config)
        if shape is not None:
            canonical = (config.hidden_size,) * (2 if rule.native.endswith("/0") else 1)
            rule = replace(rule, transform=Transform(
                f"reshape {list(canonical)} <-> {list(shape)}",
                lambda a, s=shape: a.reshape(s), lambda a, s=canonical: a.reshape(s),
                lambda _, s=shape: s, lambda _, s=canonical: s))
        rules.append(rule)
    return Mapping(rules, skip=_SKIP)


# ---- files: encoder counters <-> keras-hub's layer names -----------------------------------------------------------
_ENCODER = re.compile(r"\Alayers/transformer_encoder(?:_(\d+))?/")
_NAMED = re.compile(r"\Alayers/group_(\d+)_inner_layer_(\d+)/")


def _named(path: str, inner: int) -> str:
    """`layers/transformer_encoder_5/...` -> `layers/group_2_inner_layer_1/...` (K = 2)."""
    match = _ENCODER.match(path)
    if not match:
        return path
    n = int(match.group(1) or 0)
    return f"layers/group_{n // inner}_inner_layer_{n % inner}/" + path[match.end():]


def _counted(path: str, inner: int) -> str:
    match = _NAMED.match(path)
    if not match:
        return path
    n = int(match.group(1)) * inner + int(match.group(2))
    return f"layers/transformer_encoder{'_' + str(n) if n else ''}/" + path[match.end():]


def _read_h5(path: Path, prefix: str, inner: int) -> dict[str, LazyTensor]:
    """Every dataset of a Keras 3 `*.weights.h5` under its native name, read lazily; headers checked first."""
    import h5py

    size = path.stat().st_size
    found: dict[str, LazyTensor] = {}

    def visit(name: str, obj) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        claimed = math.prod(obj.shape or ()) * obj.dtype.itemsize
        if claimed > size * (_MAX_EXPANSION if obj.compression else 1):
            raise BridgeError(f"dataset claims {claimed} bytes, the file has {size}", file=path, tensor=name)
        dtype = _stored_dtype(obj)
        found[prefix + _named(name, inner)] = LazyTensor(tuple(obj.shape), dtype, _dataset_reader(path, name, dtype),
                                                         f"{path}: {name}")

    with _open(path) as f:
        try:
            f.visititems(visit)
        except BridgeError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged file fails inside h5py in many ways
            raise BridgeError(f"damaged HDF5 file ({_first_line(exc)})", file=path) from None
    if not found:
        raise BridgeError("no weights in this Keras weights file", file=path)
    return found


def _write_h5(path: Path, tensors: list[tuple[str, LazyTensor]], inner: int, name: str) -> None:
    """A Keras 3 weights file: one dataset per variable, each read when written (the writer holds one at a time)."""
    import h5py

    with h5py.File(path, "w") as f:
        f.create_group("vars").attrs["name"] = name
        for native, tensor in tensors:
            group, _, index = _counted(native.split(":", 1)[1], inner).rpartition("/")
            _write_dataset(f.require_group(group), index, tensor)


# ---- configs -------------------------------------------------------------------------------------------------------
def _dtype_policy(name: str) -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def backbone_config(config: AlbertConfig, dtype: str = "float32") -> dict:
    return {
        "module": "keras_hub.src.models.albert.albert_backbone", "class_name": BACKBONE,
        "config": {"name": "albert_backbone", "trainable": True, "dtype": _dtype_policy(dtype),
                   "vocabulary_size": config.vocab_size, "num_layers": config.num_hidden_layers,
                   "num_heads": config.num_attention_heads, "num_groups": config.num_hidden_groups,
                   "num_inner_repetitions": config.inner_group_num, "embedding_dim": config.embedding_size,
                   "hidden_dim": config.hidden_size, "intermediate_dim": config.intermediate_size,
                   "dropout": config.hidden_dropout_prob, "max_sequence_length": config.max_position_embeddings,
                   "num_segments": config.type_vocab_size},
        "registered_name": f"keras_hub>{BACKBONE}"}


def _tokenizer_config() -> dict:
    return {"module": "keras_hub.src.models.albert.albert_tokenizer", "class_name": "AlbertTokenizer",
            "config": {"name": "albert_tokenizer", "trainable": True, "dtype": _dtype_policy("int32"),
                       "config_file": TOKENIZER_CONFIG, "proto": None, "sequence_length": None, "add_bos": False,
                       "add_eos": False},
            "registered_name": "keras_hub>AlbertTokenizer"}


def _preprocessor_config(head: HeadKind, config: AlbertConfig) -> dict:
    cls = PREPROCESSORS[head]
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower()
    body = {"name": snake, "trainable": True, "dtype": _dtype_policy("float32"), "tokenizer": _tokenizer_config(),
            "config_file": PREPROCESSOR_FILE, "sequence_length": config.max_position_embeddings,
            "truncate": "round_robin"}
    if head is HeadKind.MASKED_LM:
        body.update({"mask_selection_rate": 0.15, "mask_selection_length": 96, "mask_token_rate": 0.8,
                     "random_token_rate": 0.1})
    module = re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower()
    return {"module": f"keras_hub.src.models.albert.{module}", "class_name": cls, "config": body,
            "registered_name": f"keras_hub>{cls}"}


def _task_config(head: HeadKind, config: AlbertConfig, tokenizer: bool, dtype: str) -> dict:
    cls = TASKS[head]
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower()
    body = {"backbone": backbone_config(config, dtype),
            "preprocessor": _preprocessor_config(head, config) if tokenizer else None, "name": snake}
    if head is HeadKind.SEQUENCE_CLASSIFICATION:
        body.update({"num_classes": config.num_labels, "activation": "linear",
                     "dropout": config.classifier_dropout_prob if config.classifier_dropout_prob is not None
                     else config.hidden_dropout_prob})
    return {"module": f"keras_hub.src.models.albert.{snake}", "class_name": cls, "config": body,
            "registered_name": f"keras_hub>{cls}"}


def _read_json(path: Path) -> dict:
    try:
        data = parse_json(path.read_bytes(), path)
    except OSError as exc:
        raise BridgeError(f"cannot read ({exc.strerror or exc})", file=path) from None
    if not isinstance(data, dict):
        raise BridgeError("not a JSON object", file=path)
    return data


def _albert_config(preset: dict, where: Path) -> AlbertConfig:
    """transformers' config for what keras-hub computes: tanh GELU, eps 1e-12, no dropout at inference."""
    body = preset.get("config")
    fields = ("vocabulary_size", "num_layers", "num_heads", "embedding_dim", "hidden_dim", "intermediate_dim")
    if not isinstance(body, dict) or any(not isinstance(body.get(f), int) for f in fields):
        missing = next((f for f in fields if not isinstance(body, dict) or not isinstance(body.get(f), int)), "config")
        raise BridgeError(f"no integer {missing!r} in the backbone's config", file=where)
    dropout = body.get("dropout", 0.0)
    try:
        return AlbertConfig.from_dict({
            "vocab_size": body["vocabulary_size"], "num_hidden_layers": body["num_layers"],
            "num_attention_heads": body["num_heads"], "embedding_size": body["embedding_dim"],
            "hidden_size": body["hidden_dim"], "intermediate_size": body["intermediate_dim"],
            "num_hidden_groups": body.get("num_groups", 1), "inner_group_num": body.get("num_inner_repetitions", 1),
            "max_position_embeddings": body.get("max_sequence_length", 512),
            "type_vocab_size": body.get("num_segments", 2), "hidden_dropout_prob": dropout,
            "attention_probs_dropout_prob": dropout, "hidden_act": "gelu_new", "layer_norm_eps": BACKBONE_EPS})
    except BridgeError as exc:
        raise BridgeError(exc.message, file=where) from None


# ---- detect / load -------------------------------------------------------------------------------------------------
def detect(path: Path) -> Path | None:
    """The backbone's weights file of a directory whose config.json is a Keras object (`registered_name`), as
    keras-hub decides."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent if path.name in FILES else None
    if folder is None or not (folder / CONFIG_FILE).is_file() or not (folder / MODEL_WEIGHTS).is_file():
        return None
    try:
        with open(folder / CONFIG_FILE, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    return folder / MODEL_WEIGHTS if b'"registered_name"' in head else None


def _task_head(task: dict, where: Path) -> HeadKind:
    name = str(task.get("registered_name") or task.get("class_name") or "")
    for head, cls in TASKS.items():
        if name in (cls, f"keras_hub>{cls}"):
            return head
    raise BridgeError(f"task {name or '(unnamed)'!r} is not an ALBERT task albert-bridge reads "
                      f"(known: {', '.join(TASKS.values())})", file=where)


def load(path: Path, head: HeadKind | None = None, config: AlbertConfig | None = None) -> Checkpoint:
    weights = detect(path)
    if weights is None:
        raise ConfigMissing(f"not a keras-hub preset (no {CONFIG_FILE} with registered_name beside "
                            f"{MODEL_WEIGHTS})", file=path)
    folder = weights.parent
    preset = _read_json(folder / CONFIG_FILE)
    name = str(preset.get("registered_name"))
    if name not in (BACKBONE, f"keras_hub>{BACKBONE}"):
        raise BridgeError(f"a keras-hub preset of {name!r}, not an ALBERT backbone", file=folder / CONFIG_FILE)
    found_head, task = HeadKind.BASE, None
    if (folder / TASK_FILE).is_file():
        task = _read_json(folder / TASK_FILE)
        found_head = _task_head(task, folder / TASK_FILE)
        if not (folder / TASK_WEIGHTS).is_file():
            raise BridgeError(f"{TASK_FILE} names {TASKS[found_head]} but {TASK_WEIGHTS} is missing", file=folder)
    stated = _albert_config(preset, folder / CONFIG_FILE)
    if found_head is HeadKind.SEQUENCE_CLASSIFICATION:
        classes = task["config"].get("num_classes") if isinstance(task.get("config"), dict) else None
        if not isinstance(classes, int) or classes < 1:
            raise BridgeError("no positive integer num_classes in the task's config", file=folder / TASK_FILE)
        stated = stated.updated(num_labels=classes)
    config = config or stated
    report = LoadReport(format="keras-hub", source=str(folder))
    native = _read_h5(folder / MODEL_WEIGHTS, "model:", config.inner_group_num)
    if task is not None:
        native.update(_read_h5(folder / TASK_WEIGHTS, "task:", config.inner_group_num))
        activation = task["config"].get("activation") if isinstance(task.get("config"), dict) else None
        if found_head is HeadKind.SEQUENCE_CLASSIFICATION and activation not in (None, "linear"):
            report.warnings.append(f"{folder / TASK_FILE}: the classifier applies {activation!r} to its logits; "
                                   "transformers' AlbertForSequenceClassification returns them as they are")
    table = mapping(config)
    tensors = table.to_canonical(native, report)
    if found_head is HeadKind.MASKED_LM:
        for key in ("pooler.kernel", "pooler.bias"):
            if key in tensors:
                tensors.pop(key)
                report.skip(table.native_name(key, found_head)[0], "keras-hub's backbone always has a pooler; "
                            "transformers' AlbertForMaskedLM has none")
        report.warnings.append(mlm_eps_note(Checkpoint(config, found_head, tensors), reading=True))
    assets = {"spiece.model": folder / VOCABULARY} if (folder / VOCABULARY).is_file() else {}
    ckpt = Checkpoint(config, found_head, tensors, report, assets)
    return ckpt.with_head(head) if head and head is not found_head else ckpt


# ---- what keras-hub computes differently ---------------------------------------------------------------------------
def _differences(config: AlbertConfig) -> list[str]:
    out = []
    if config.hidden_act not in GELU_TANH:
        out.append(f"hidden_act {config.hidden_act!r} (keras-hub computes the tanh GELU, transformers' gelu_new)")
    if config.layer_norm_eps != BACKBONE_EPS:
        out.append(f"layer_norm_eps {config.layer_norm_eps:g} (keras-hub's backbone uses {BACKBONE_EPS:g})")
    return out


def as_keras_hub_computes(ckpt: Checkpoint) -> tuple[Checkpoint, float]:
    """The checkpoint under the config keras-hub computes it with, and the MLM head's eps there."""
    config = ckpt.config.updated(hidden_act="gelu_new", layer_norm_eps=BACKBONE_EPS)
    return replace(ckpt, config=config), MLM_HEAD_EPS


def measure(ckpt: Checkpoint) -> dict[str, float]:
    """Max |difference| per output between what this checkpoint computes (its config) and what keras-hub computes
    from the same weights (tanh GELU, eps 1e-12, MLM head eps 1e-5): the NumPy reference forward run both ways, in
    float64, on the parity harness's default inputs (batch 3, 16 tokens)."""
    inputs = make_inputs(ckpt.head, vocab_size=ckpt.config.vocab_size, seq_len=min(16, ckpt.config.max_position_embeddings))
    inputs["token_type_ids"] = np.minimum(inputs["token_type_ids"], ckpt.config.type_vocab_size - 1)
    want = forward(ckpt, inputs, output_hidden_states=False)
    theirs, mlm_eps = as_keras_hub_computes(ckpt)
    got = forward(theirs, inputs, output_hidden_states=False, mlm_norm_eps=mlm_eps)
    return {name: float(np.max(np.abs(got[name] - want[name]))) for name in want if want[name] is not None}


def mlm_eps_note(ckpt: Checkpoint, reading: bool) -> str:
    diff = max(measure(ckpt).values())
    if reading:
        return (f"keras-hub's AlbertMaskedLM normalises its MLM transform with eps {MLM_HEAD_EPS:g}; transformers "
                f"(and albert-bridge) use layer_norm_eps {ckpt.config.layer_norm_eps:g} there: the MLM logits differ "
                f"from keras-hub's by max |diff| {diff:.2e} (NumPy reference, both ways)")
    return (f"keras-hub's AlbertMaskedLM normalises its MLM transform with eps {MLM_HEAD_EPS:g}, this checkpoint "
            f"with {ckpt.config.layer_norm_eps:g}: keras-hub's logits differ by max |diff| {diff:.2e} (NumPy "
            "reference, both ways)")


def expected_differences(ckpt: Checkpoint) -> dict[str, tuple[float, str]]:
    """What keras-hub's run of a preset of this checkpoint differs in by design: the MLM logits (its head's eps)."""
    if ckpt.head is not HeadKind.MASKED_LM or _differences(ckpt.config):
        return {}
    return {"logits": (measure(ckpt)["logits"], f"keras-hub's MLM head LayerNorm eps {MLM_HEAD_EPS:g} "
                       f"(this checkpoint: {ckpt.config.layer_norm_eps:g})")}


def prepare(ckpt: Checkpoint, force: bool) -> tuple[Checkpoint, list[str]]:
    """The checkpoint a preset will hold, and what to tell the user; refuses what keras-hub cannot compute
    (`force`: writes it anyway, with the measured difference)."""
    where = ckpt.report.source
    target = TARGET_HEADS.get(ckpt.head)
    if target is None:
        raise BridgeError(f"head {ckpt.head.value} has no keras-hub task (keras-hub has AlbertBackbone, "
                          "AlbertMaskedLM, AlbertTextClassifier): convert with --head base to keep the encoder",
                          file=where)
    layers, groups = ckpt.config.num_hidden_layers, ckpt.config.num_hidden_groups
    if layers % groups:
        raise BridgeError(f"keras-hub's AlbertBackbone needs num_hidden_layers ({layers}) to be a multiple of "
                          f"num_hidden_groups ({groups}); it cannot hold this checkpoint", file=where)
    notes: list[str] = []
    if target is not ckpt.head:
        dropped = sorted(set(ckpt.tensors) - set(ckpt.with_head(target).tensors))
        ckpt = ckpt.with_head(target)
        for key in dropped:
            ckpt.report.skip(key, "keras-hub's AlbertMaskedLM has no sentence-order head: dropped" if
                             key.startswith("head.sop.") else "transformers' AlbertForMaskedLM has no pooler")
        sop = [key for key in dropped if key.startswith("head.sop.")]
        notes.append(f"sentence-order head dropped ({', '.join(sop)}): keras-hub's AlbertMaskedLM has none")
    differences = _differences(ckpt.config)
    if differences:
        what = "; ".join(differences)
        if not force:
            raise BridgeError(f"keras-hub would compute this checkpoint differently: {what} (--force writes it "
                              "anyway and prints the difference)", file=where)
        diffs = measure(ckpt)
        notes.append(f"written with --force although keras-hub computes it differently ({what}): its outputs "
                     "differ by max |diff| " + ", ".join(f"{name} {d:.2e}" for name, d in diffs.items())
                     + " (NumPy reference, both ways)")
    elif ckpt.head is HeadKind.MASKED_LM:
        notes.append(mlm_eps_note(ckpt, reading=False))
    if ckpt.head is HeadKind.MASKED_LM and "pooler.kernel" not in ckpt.tensors:
        notes.append("keras-hub's backbone always has a pooler; this masked-lm checkpoint has none: written as zeros "
                     "(the backbone's pooled_output is 0)")
    return ckpt, notes


# ---- save ----------------------------------------------------------------------------------------------------------
def _zero_pooler(ckpt: Checkpoint) -> dict[str, LazyTensor]:
    h, dtype = ckpt.config.hidden_size, ckpt.tensors["embeddings.word"].dtype
    return {"pooler.kernel": LazyTensor((h, h), dtype, lambda: np.zeros((h, h), dtype), "zero pooler (masked-lm)"),
            "pooler.bias": LazyTensor((h,), dtype, lambda: np.zeros(h, dtype), "zero pooler (masked-lm)")}


def _dump(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=4) + "\n")
    return path


def save(ckpt: Checkpoint, directory: Path, max_shard_size: int | None = None) -> list[Path]:
    """A preset as keras-hub's `save_to_preset` writes it. `prepare` ran first (heads, refusals)."""
    head = TARGET_HEADS.get(ckpt.head)
    if head is not ckpt.head:
        ckpt, _ = prepare(ckpt, force=False)
    ckpt = ckpt.with_projection()
    tensors = dict(ckpt.tensors)
    if head is HeadKind.MASKED_LM and "pooler.kernel" not in tensors:
        tensors.update(_zero_pooler(ckpt))
    native = mapping(ckpt.config).to_native(tensors, head)
    inner = ckpt.config.inner_group_num
    dtype = ckpt.tensors["embeddings.word"].dtype.name
    dtype = dtype if dtype in ("float32", "float16", "bfloat16") else "float32"
    written = [_dump(directory / CONFIG_FILE, backbone_config(ckpt.config, dtype))]
    model = sorted((n, t) for n, t in native.items() if n.startswith("model:"))
    _write_h5(directory / MODEL_WEIGHTS, model, inner, "albert_backbone")
    written.append(directory / MODEL_WEIGHTS)
    tokenizer = "spiece.model" in ckpt.assets
    if head is not HeadKind.BASE:
        task = _task_config(head, ckpt.config, tokenizer, dtype)
        written.append(_dump(directory / TASK_FILE, task))
        _write_h5(directory / TASK_WEIGHTS, sorted((n, t) for n, t in native.items() if n.startswith("task:")),
                  inner, task["config"]["name"])
        written.append(directory / TASK_WEIGHTS)
    if tokenizer:
        (directory / VOCABULARY).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ckpt.assets["spiece.model"], directory / VOCABULARY)
        written += [directory / VOCABULARY, _dump(directory / TOKENIZER_CONFIG, _tokenizer_config())]
        if head is not HeadKind.BASE:
            written.append(_dump(directory / PREPROCESSOR_FILE, _preprocessor_config(head, ckpt.config)))
    parameters = sum(math.prod(t.shape) for n, t in native.items() if n.startswith("model:"))
    written.append(_dump(directory / METADATA_FILE, {
        "keras_version": KERAS_VERSION, "keras_hub_version": KERAS_HUB_VERSION, "parameter_count": parameters,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"), "tasks": ["MaskedLM", "TextClassifier"]}))
    return written
