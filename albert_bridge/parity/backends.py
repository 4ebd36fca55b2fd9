"""The backend registry: what can run an ALBERT checkpoint, and how, one entry per backend.

A backend is a framework (torch, tf, flax, ...) and an implementation (ours, or transformers' own classes as the
reference peer). Its jobs run in a worker process (`worker.py`) of the environment it needs (`PROCESSES`): backends
that can share an interpreter share one (PyTorch, ONNX Runtime and NumPy; ours and transformers' Flax; Keras 3,
TFLite and keras-hub), those that cannot (Keras 3 beside tf-keras) never meet; the registry says which modules a
backend needs (checked without importing them). `run_job` (called inside the worker) loads the checkpoint, places
it on the device, runs the inputs and writes every output as numpy. Adding a backend is one `Backend(...)` line,
plus a runner when its framework is new.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

import albert_bridge

from ..convert import convert
from ..errors import BridgeError, did_you_mean
from ..formats import FORMATS, detect_format, load
from ..formats.hf_layout import read_index
from ..inputs import flatten_outputs
from ..numpy_forward import forward
from ..schema import ARCHITECTURES, HeadKind

DEVICES = ("cpu", "cuda", "tpu")
DTYPES = ("float32", "bfloat16", "float16")
# Outputs the harness compares; attentions and losses are left out (no labels are given).
SKIPPED_OUTPUTS = ("loss", "attentions")


class Skip(Exception):
    """The backend cannot run here (no such device, dtype unsupported): reported as skipped, never as a failure."""


@dataclass(frozen=True)
class Process:
    """A worker process's environment. Backends whose frameworks live together in one interpreter share it: their
    jobs run one after the other in one process, which imports each framework (and transformers) once. Frameworks
    that cannot share stay apart: Keras 3 and tf-keras are one process-wide `tf.keras`, and JAX takes most of a
    GPU's memory when it starts."""
    name: str
    env: dict[str, str] = field(default_factory=dict)  # set in its environment
    unset: tuple[str, ...] = ()                         # removed from its environment

    def environment(self, device: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in self.unset}
        env.update(self.env)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env.setdefault("TRANSFORMERS_VERBOSITY", "error")
        if self.name == "jax" and device == "cpu":
            env["JAX_PLATFORMS"] = "cpu"  # else JAX probes for accelerators first
        return env


PROCESSES: dict[str, Process] = {p.name: p for p in (
    Process("torch", env={"USE_TORCH": "1", "USE_TF": "0", "USE_FLAX": "0"}),  # transformers: PyTorch classes only
    Process("jax", env={"USE_FLAX": "1", "USE_TF": "0", "USE_TORCH": "0"}),
    Process("keras-3", env={"KERAS_BACKEND": "tensorflow"}, unset=("TF_USE_LEGACY_KERAS",)),
    Process("tf-keras", env={"TF_USE_LEGACY_KERAS": "1", "USE_TF": "1", "USE_TORCH": "0", "USE_FLAX": "0"}),
)}


@dataclass(frozen=True)
class Backend:
    name: str
    framework: str                       # which runner: torch, tf, flax, onnx, numpy
    describe: str
    requires: tuple[str, ...]            # modules that must be importable
    transformers: bool = False           # transformers' own classes (the reference peer), not ours
    process: str = ""                    # the PROCESSES entry its jobs run in; "" a plain process of its own
    heads: tuple[str, ...] | None = None  # the heads it can run (None: all); others are skipped without a worker
    hidden_states: bool = True           # False: it gives its head's outputs only (a TFLite file's signature)

    def unsupported(self, head: HeadKind) -> str | None:
        """Why this backend cannot run `head`, known before any worker starts (a worker would import its framework
        only to say so), or None."""
        if self.heads is not None and head.value not in self.heads:
            return f"{self.name} has no task for head {head.value}"
        return None

    def missing(self) -> str | None:
        """Why this backend cannot run in this installation (checked without importing anything), or None."""
        absent = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if absent:
            return f"not installed: {', '.join(absent)}"
        if self.transformers and self.framework in ("tf", "flax"):
            version = importlib.metadata.version("transformers")
            if int(version.split(".")[0]) >= 5:
                return f"transformers {version} has no {self.framework} classes (they ended with 4.x)"
        return None

    @property
    def worker(self) -> str:
        """The name of the worker process its jobs go to."""
        return self.process or self.name

    def environment(self, device: str) -> dict[str, str]:
        return PROCESSES.get(self.process, Process(self.name)).environment(device)


# keras-hub's class for each head it has a task for (its runner gives the outputs transformers' class of that head
# gives)
_KERAS_HUB_TASKS = {HeadKind.BASE: "AlbertBackbone", HeadKind.MASKED_LM: "AlbertMaskedLM",
                    HeadKind.SEQUENCE_CLASSIFICATION: "AlbertTextClassifier"}
BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("torch", "torch", "albert_bridge PyTorch", ("torch",), process="torch"),
    Backend("tf", "tf", "albert_bridge TF2 (Keras 3)", ("tensorflow", "keras"), process="keras-3"),
    Backend("flax", "flax", "albert_bridge Flax", ("jax", "flax"), process="jax"),
    Backend("hf-torch", "torch", "transformers PyTorch (reference)", ("torch", "transformers"), transformers=True,
            process="torch"),
    Backend("hf-tf", "tf", "transformers TF2 (tf-keras, reference)", ("tensorflow", "tf_keras", "transformers"),
            transformers=True, process="tf-keras"),
    Backend("hf-flax", "flax", "transformers Flax (reference)", ("jax", "flax", "transformers"), transformers=True,
            process="jax"),
    Backend("onnx", "onnx", "albert_bridge ONNX export on ONNX Runtime (any of our ONNX files, int8 included)",
            ("onnx", "onnxruntime"), process="torch"),
    Backend("tflite", "tflite", "albert_bridge LiteRT/TFLite file on the LiteRT interpreter", ("tensorflow",),
            process="keras-3", hidden_states=False),
    Backend("numpy", "numpy", "albert_bridge NumPy reference forward pass (float64, CPU)", (), process="torch"),
    Backend("keras-hub", "keras-hub", "keras-hub's own classes from a preset (Keras 3, TensorFlow backend)",
            ("keras_hub", "tensorflow", "keras"), process="keras-3", heads=tuple(h.value for h in _KERAS_HUB_TASKS)),
)}
DEFAULT_BACKENDS = ("torch", "tf", "flax", "onnx")


# Other names people give the frameworks: `--backends pytorch` is our torch backend.
BACKEND_ALIASES = {"pytorch": "torch", "pt": "torch", "tensorflow": "tf", "tf2": "tf", "keras": "tf", "jax": "flax",
                   "ort": "onnx", "onnxruntime": "onnx"}


def parse_backends(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """`torch,tf` or a list; `all` is every registered backend; None the default (our own backends)."""
    if value is None:
        return list(DEFAULT_BACKENDS)
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    if names == ["all"]:
        return list(BACKENDS)
    names = [BACKEND_ALIASES.get(n.lower(), n) for n in names]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        hint = did_you_mean(unknown[0], [*BACKENDS, *BACKEND_ALIASES]) if unknown else ""
        raise ValueError(f"unknown backend {', '.join(unknown) or value!r}{hint} (known: {', '.join(BACKENDS)}, "
                         "or all)")
    return list(dict.fromkeys(names))


# --- inside the worker ------------------------------------------------------------------------------------------
@dataclass
class Job:
    backend: str
    checkpoint: str                      # a path in any supported format
    head: str
    inputs: str                          # .npz of int64 input_ids, attention_mask, token_type_ids
    outputs: str                         # a directory to write the outputs into, one .npy file each
    device: str = "cpu"
    dtype: str = "float32"
    emulate_device: bool = False         # run the device's code path on the CPU (tests of that path)


@dataclass
class JobResult:
    device: str = ""                     # what actually ran it, e.g. "cuda:0 (NVIDIA H200)"
    load_seconds: float = 0.0
    forward_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # their names, in the order the model gives them


def run_job(job: Job) -> JobResult:
    backend = BACKENDS[job.backend]
    head = HeadKind.parse(job.head)
    data = np.load(job.inputs)
    inputs = {name: data[name] for name in data.files}
    result = JobResult()
    source = Path(job.checkpoint)
    fmt = detect_format(source)
    if fmt.tier and fmt.framework != backend.framework:
        raise Skip(f"a {fmt.name} file (a deployment tier) runs on the {fmt.framework} backend only")
    with tempfile.TemporaryDirectory(prefix="albert-parity-") as tmp:
        if backend.transformers:  # transformers reads only its own layout: give it the file its class loads
            source = _hf_directory(source, backend.framework, Path(tmp), head, result)
        outputs = RUNNERS[backend.framework](backend, source, head, inputs, job, result)
    write_outputs(Path(job.outputs), outputs)
    result.outputs = list(outputs)
    return result


def write_outputs(directory: Path, outputs: dict[str, np.ndarray]) -> None:
    """Each output as `<directory>/<i>.npy` (plain .npy files: no zip to checksum on either side)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, value in enumerate(outputs.values()):
        np.save(directory / f"{i}.npy", np.asarray(value), allow_pickle=False)


def read_outputs(directory: Path, names: list[str]) -> dict[str, np.ndarray]:
    """What write_outputs wrote, under the names the worker answered with."""
    return {name: np.load(directory / f"{i}.npy", allow_pickle=False) for i, name in enumerate(names)}


def _hf_directory(source: Path, framework: str, tmp: Path, head: HeadKind, result: JobResult) -> Path:
    """The checkpoint as transformers' layout for this framework. When the source is that framework's HF file (or a
    directory holding it) with config.json beside it: a directory of links to just those files, so transformers
    reads that very file (its TF classes prefer a model.safetensors beside tf_model.h5, converting it at load).
    Otherwise a conversion by our adapters (which also tests that transformers reads them)."""
    fmt = next(f for f in FORMATS.values() if f.framework == framework and f.publish)
    name, index = fmt.marker_files[0], f"{fmt.marker_files[0]}.index.json"
    directory = source if source.is_dir() else source.parent
    weights = next((directory / n for n in (name, index) if (source.is_dir() or source.name == n) and
                    (directory / n).is_file()), None)
    if weights is not None and (directory / "config.json").is_file():
        view = tmp / "hf-files"
        view.mkdir()
        shards = list(read_index(weights)) if weights.name == index else []
        for file in ("config.json", weights.name, *shards):
            (view / file).symlink_to((directory / file).resolve())
        return view

    target = tmp / "hf"
    convert(source, target, [fmt.name], head=head, verify=False)
    result.notes.append(f"read as {name} written by albert_bridge")
    return target


def _model_class(backend: Backend, head: HeadKind, prefix: str):
    name = prefix + ARCHITECTURES[head]
    if backend.transformers:
        import transformers

        return getattr(transformers, name)
    return getattr(albert_bridge, name)  # its lazy exports import the framework of the class asked for


def _cpu_label(job: Job, name: str = "cpu") -> str:
    """How a run on the CPU is reported, saying so when it stands in for the device asked for."""
    return name + (f" (emulating {job.device})" if job.device != "cpu" else "")


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    import time

    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _outputs(output: Any) -> dict[str, np.ndarray]:
    return flatten_outputs(output, skip=SKIPPED_OUTPUTS)


def _run_torch(backend: Backend, source: Path, head: HeadKind, inputs: dict, job: Job, result: JobResult) -> dict:
    import torch

    if job.device == "cuda" and not job.emulate_device:
        if not torch.cuda.is_available():
            raise Skip("no CUDA device visible to torch")
        device = torch.device("cuda")
        result.device = f"cuda:0 ({torch.cuda.get_device_name(0)})"
    elif job.device == "tpu" and not job.emulate_device:
        if importlib.util.find_spec("torch_xla") is None:
            raise Skip("torch on TPU needs torch_xla")
        import torch_xla.core.xla_model as xm

        device = xm.xla_device()
        result.device = str(device)
    else:
        device = torch.device("cpu")
        result.device = _cpu_label(job)
    # fp32 means fp32: no TF32 matmuls on GPUs that have them.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dtype = getattr(torch, job.dtype)

    def load():
        model = _model_class(backend, head, "").from_pretrained(source)
        return model.to(device=device, dtype=dtype).eval()

    model, result.load_seconds = _timed(load)
    feed = {k: torch.from_numpy(v).long().to(device) for k, v in inputs.items()}

    def forward():
        with torch.no_grad():
            out = model(**feed, output_hidden_states=True, return_dict=True)
        return _outputs(out)

    outputs, result.forward_seconds = _timed(forward)
    return outputs


def _tf_placement(job: Job, result: JobResult, what: str) -> str:
    """The TensorFlow device a run places its model on (TensorFlow and keras-hub alike), said in `result.device`."""
    import tensorflow as tf

    if job.device == "tpu" and not job.emulate_device:
        raise Skip(f"TPU runs of {what} need a distribution strategy, which the harness does not set up")
    if job.device == "cuda" and not job.emulate_device:
        if not tf.config.list_physical_devices("GPU"):
            raise Skip("no GPU visible to TensorFlow")
        result.device = "GPU:0"
        tf.config.experimental.enable_tensor_float_32_execution(False)  # fp32 means fp32
        return "/GPU:0"
    tf.config.set_visible_devices([], "GPU")
    result.device = _cpu_label(job)
    return "/CPU:0"


def _run_tf(backend: Backend, source: Path, head: HeadKind, inputs: dict, job: Job, result: JobResult) -> dict:
    import tensorflow as tf

    placement = _tf_placement(job, result, "TensorFlow")
    # The policy is global to the worker, which serves jobs of every dtype: set it for each one.
    policy = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[job.dtype]
    if backend.transformers:
        import tf_keras

        tf_keras.mixed_precision.set_global_policy(policy)
    else:
        import keras

        keras.config.set_dtype_policy(policy)
    if job.dtype != "float32":
        result.notes.append(f"Keras policy {policy} (float32 variables, {job.dtype} compute)")
    cls = _model_class(backend, head, "TF")
    with tf.device(placement):
        model, result.load_seconds = _timed(lambda: cls.from_pretrained(source))
        feed = {k: tf.constant(v.astype(np.int32)) for k, v in inputs.items()}
        outputs, result.forward_seconds = _timed(
            lambda: _outputs(model(**feed, output_hidden_states=True, return_dict=True, training=False)))
    return outputs


def _run_flax(backend: Backend, source: Path, head: HeadKind, inputs: dict, job: Job, result: JobResult) -> dict:
    import jax
    import jax.numpy as jnp

    if job.device != "cpu" and not job.emulate_device:
        platform = {"cuda": "gpu", "tpu": "tpu"}[job.device]
        try:
            devices = jax.devices(platform)
        except RuntimeError:
            raise Skip(f"no {job.device} device visible to JAX") from None
        device = devices[0]
    else:
        device = jax.devices("cpu")[0]
    result.device = _cpu_label(job, f"{device.platform}:{device.id}") if job.emulate_device else \
        f"{device.platform}:{device.id}"
    # fp32 means fp32 (JAX's GPU default is TF32-like); global to the worker, so set for every job.
    jax.config.update("jax_default_matmul_precision", "highest" if job.dtype == "float32" else None)
    dtype = getattr(jnp, job.dtype)
    cls = _model_class(backend, head, "Flax")
    with jax.default_device(device):
        def load():
            if backend.transformers:  # without the random initialisation it runs first (20x the load on a tiny model)
                model, params = cls.from_pretrained(source, dtype=dtype, _do_init=False)
            else:
                model = cls.from_pretrained(source, dtype=dtype)
                params = model.params
            if job.dtype != "float32":  # parameters in the compute dtype too, as the other backends run
                params = model.to_bf16(params) if job.dtype == "bfloat16" else model.to_fp16(params)
            return model, params

        (model, params), result.load_seconds = _timed(load)
        feed = {k: jnp.asarray(v, dtype=jnp.int32) for k, v in inputs.items()}

        def forward():
            out = model(**feed, params=params, output_hidden_states=True, return_dict=True)
            return _outputs(jax.device_get(out))

        outputs, result.forward_seconds = _timed(forward)
    return outputs


def _checkpoint(source: Path, head: HeadKind):
    ckpt = load(source)
    return ckpt if ckpt.head is head else ckpt.with_head(head)


def _run_onnx(backend: Backend, source: Path, head: HeadKind, inputs: dict, job: Job, result: JobResult) -> dict:
    """Our ONNX graph on ONNX Runtime. An ONNX source runs as it is when it has hidden-state outputs; otherwise
    (any other format, or an export without them) the graph is built from the weights with them."""
    import onnxruntime

    from ..export import onnx as onnx_export  # imports onnx (a heavy optional framework) at its top
    from ..export import onnx_runtime

    if job.device == "tpu" and not job.emulate_device:
        raise Skip("ONNX Runtime has no TPU execution provider")
    if job.device == "cuda" and not job.emulate_device \
            and "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        raise Skip("this onnxruntime has no CUDA execution provider (install onnxruntime-gpu)")
    if job.dtype == "bfloat16":
        raise Skip("the ONNX export computes in float32 or float16, not bfloat16")
    device = "cpu" if job.emulate_device else job.device
    result.device = _cpu_label(job) if job.emulate_device else device

    def load():
        file = source if source.suffix == ".onnx" else source / "model.onnx"
        if not file.is_file() and (source / "model_quantized.onnx").is_file():
            file = source / "model_quantized.onnx"
        if file.is_file():
            import onnx

            model = onnx.load(str(file), load_external_data=False)
            if any(p.key == onnx_export.QUANTIZED for p in model.metadata_props):
                result.notes.append("int8 file run as it is (its head's outputs, no hidden states)")
                return str(file)  # a deployment tier: what runs is the file, whatever the dtype asked
            names = [o.name for o in model.graph.output]
            if job.dtype == "float32" and any(n.startswith("hidden_states.") for n in names):
                return str(file)
        result.notes.append("graph built from the checkpoint's weights with hidden-state outputs")
        dtype = None if job.dtype == "float32" else job.dtype
        return onnx_export.build_model(_checkpoint(source, head), hidden_states=True, dtype=dtype)

    model, result.load_seconds = _timed(load)
    session, seconds = _timed(lambda: onnx_runtime.session(model, device))
    result.load_seconds += seconds
    outputs, result.forward_seconds = _timed(lambda: onnx_runtime.run(model, inputs, device, sess=session))
    return outputs


def _run_numpy(backend: Backend, source: Path, head: HeadKind, inputs: dict, job: Job, result: JobResult) -> dict:
    """The framework-free reference: float64 NumPy on the CPU, whatever the device and dtype asked for."""

    if job.device != "cpu" and not job.emulate_device:
        raise Skip(f"the NumPy reference runs on the CPU only, not {job.device}")
    if job.dtype != "float32":
        raise Skip("the NumPy reference computes in float64: compare it with float32 runs")
    result.device = "cpu (float64)"
    ckpt, result.load_seconds = _timed(lambda: _checkpoint(source, head))
    outputs, result.forward_seconds = _timed(lambda: forward(ckpt, inputs, output_hidden_states=True))
    return outputs


# keras-hub's classes: _KERAS_HUB_TASKS (above the registry, which declares its heads).


def _run_keras_hub(backend: Backend, source: Path, head: HeadKind, inputs: dict, job: Job, result: JobResult) -> dict:
    """keras-hub's own classes, `from_preset(dir)`: a keras-hub preset as it is, any other source converted to one
    first (with --force: a checkpoint keras-hub computes differently runs as keras-hub computes it, and the comparison
    shows the difference). Outputs under transformers' names: the MLM logits at every position (`mask_positions` =
    all of them); the hidden states from the backbone's own layers, called in the order its forward calls them."""
    if head not in _KERAS_HUB_TASKS:  # the harness skips these before starting a worker (Backend.heads)
        raise Skip(f"keras-hub has no task for head {head.value}")
    import keras_hub
    import tensorflow as tf

    if job.dtype != "float32":
        raise Skip("the keras-hub backend runs the preset's float32 weights only")
    placement = _tf_placement(job, result, "keras-hub")
    with tempfile.TemporaryDirectory(prefix="albert-parity-keras-hub-") as tmp, tf.device(placement):
        weights = FORMATS["keras-hub"].detect(source)
        preset = weights.parent if weights is not None else None
        if preset is None:
            preset = Path(tmp) / "preset"
            convert(source, preset, ["keras-hub"], head=head, force=True, verify=False, validate=False)
            result.notes.append("read as a keras-hub preset written by albert_bridge")
        cls = getattr(keras_hub.models, _KERAS_HUB_TASKS[head])
        options = {} if head is HeadKind.BASE else {"preprocessor": None}
        model, result.load_seconds = _timed(lambda: cls.from_preset(str(preset), **options))
        feed = {"token_ids": tf.constant(inputs["input_ids"], tf.int32),
                "segment_ids": tf.constant(inputs["token_type_ids"], tf.int32),
                "padding_mask": tf.constant(inputs["attention_mask"], tf.int32)}

        def forward() -> dict[str, np.ndarray]:
            backbone = model if head is HeadKind.BASE else model.backbone
            if head is HeadKind.BASE:
                got = model(feed, training=False)
                out = {"last_hidden_state": got["sequence_output"], "pooler_output": got["pooled_output"]}
            elif head is HeadKind.MASKED_LM:
                positions = np.broadcast_to(np.arange(inputs["input_ids"].shape[1]), inputs["input_ids"].shape)
                out = {"logits": model({**feed, "mask_positions": tf.constant(positions, tf.int32)}, training=False)}
            else:
                out = {"logits": model(feed, training=False)}
            out.update({f"hidden_states.{i}": h for i, h in enumerate(_keras_hub_hidden_states(backbone, feed))})
            return {name: np.asarray(value, np.float32) for name, value in out.items()}

        outputs, result.forward_seconds = _timed(forward)
    return outputs


def _keras_hub_hidden_states(backbone, feed: dict) -> list:
    """The embeddings after the projection, then the output of each of the L layers (one pass of a group's inner
    layers each), from the backbone's own layer objects."""
    x = backbone.token_embedding(feed["token_ids"])
    x = backbone.embeddings_add((x, backbone.position_embedding(x), backbone.segment_embedding(feed["segment_ids"])))
    x = backbone.embeddings_projection(backbone.embeddings_layer_norm(x))
    hidden = [x]
    for group in backbone.transformer_layers:
        for _ in range(backbone.num_layers // backbone.num_groups):
            for layer in group:
                x = layer(x, padding_mask=feed["padding_mask"])
            hidden.append(x)
    return hidden


def _run_tflite(backend: Backend, source: Path, head: HeadKind, inputs: dict, job: Job, result: JobResult) -> dict:
    """A TFLite file on the LiteRT interpreter (CPU). Any other source is converted first (float32, or float16
    weights for --dtype float16), as `convert --to tflite` writes it. Outputs: the head's, no hidden states."""
    from ..deploy import tflite  # imports tensorflow (a heavy optional framework) at its top

    if job.device != "cpu" and not job.emulate_device:
        raise Skip(f"the LiteRT interpreter runs on the CPU here, not {job.device}")
    if job.dtype == "bfloat16":
        raise Skip("TFLite files are float32, float16 or int8, not bfloat16")
    result.device = _cpu_label(job)

    def load():
        file = tflite.detect(source) or tflite.detect_int8(source)
        if file is None:
            ckpt = _checkpoint(source, head)
            precision = "float16" if job.dtype == "float16" else "float32"
            file = Path(job.outputs).with_suffix(".tflite")  # beside the outputs: removed with the run's folder
            file.write_bytes(tflite.to_tflite(ckpt, precision))
            result.notes.append(f"converted to {file.name} by albert_bridge")
        return file, tflite.interpreter(file).get_signature_runner(tflite.SIGNATURE)

    (file, runner), result.load_seconds = _timed(load)
    outputs, result.forward_seconds = _timed(lambda: tflite.run(file, inputs, runner=runner))
    return outputs


RUNNERS: dict[str, Callable[..., dict[str, np.ndarray]]] = {
    "torch": _run_torch, "tf": _run_tf, "flax": _run_flax, "onnx": _run_onnx, "numpy": _run_numpy,
    "keras-hub": _run_keras_hub, "tflite": _run_tflite}


def check_job_inputs(inputs: dict[str, np.ndarray], head: HeadKind, vocab_size: int, max_positions: int,
                     type_vocab_size: int, origin: str) -> dict[str, np.ndarray]:
    """Inputs a backend can run: int ids within the vocabulary, masks and types of the same shape, a rank that
    fits the head. Fills in transformers' defaults for a missing mask (ones) or token types (zeros)."""
    if "input_ids" not in inputs:
        raise BridgeError("no input_ids", file=origin)
    ids = np.asarray(inputs["input_ids"])
    rank = 3 if head is HeadKind.MULTIPLE_CHOICE else 2
    if ids.ndim != rank or ids.dtype.kind not in "iu" or ids.size == 0:
        raise BridgeError(f"input_ids must be a non-empty integer array of rank {rank} for head {head.value}, "
                          f"got {ids.dtype}{list(ids.shape)}", file=origin, tensor="input_ids")
    if ids.shape[-1] > max_positions:
        raise BridgeError(f"sequence length {ids.shape[-1]} exceeds max_position_embeddings {max_positions}",
                          file=origin, tensor="input_ids")
    limits = {"input_ids": vocab_size, "attention_mask": 2, "token_type_ids": type_vocab_size}
    out = {"input_ids": ids.astype(np.int64)}
    for name in ("attention_mask", "token_type_ids"):
        value = np.asarray(inputs[name]) if name in inputs else (
            np.ones_like(ids) if name == "attention_mask" else np.zeros_like(ids))
        if value.shape != ids.shape or value.dtype.kind not in "iu":
            raise BridgeError(f"must be integers of the shape of input_ids {list(ids.shape)}, got "
                              f"{value.dtype}{list(value.shape)}", file=origin, tensor=name)
        out[name] = value.astype(np.int64)
    for name, limit in limits.items():
        if out[name].min() < 0 or out[name].max() >= limit:
            raise BridgeError(f"values must lie in [0, {limit})", file=origin, tensor=name)
    unknown = sorted(set(inputs) - set(limits))
    if unknown:
        raise BridgeError(f"unknown inputs {', '.join(unknown)} (expected input_ids, attention_mask, "
                          "token_type_ids)", file=origin)
    return out
