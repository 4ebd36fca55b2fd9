"""ALBERT as an ONNX graph, built from a canonical checkpoint with the `onnx` package alone (no torch, no TensorFlow).

The graph computes what `albert_bridge.models.albert_torch` computes in eval mode, for every head:
- inputs `input_ids`, `attention_mask`, `token_type_ids`, int64, [batch_size, sequence_length]
  ([batch_size, num_choices, sequence_length] for multiple choice). ONNX has no optional graph inputs (ONNX Runtime
  wants a value for every declared input), so all three are declared by default; `inputs=("input_ids",)` or
  `("input_ids", "attention_mask")` builds a graph without the others, which then takes transformers' defaults
  inside the graph: every key attended, every token of type 0. The metadata lists the inputs a file has.
- outputs named as transformers' fields: `last_hidden_state` + `pooler_output` (base), `prediction_logits` +
  `sop_logits` (pretraining), `logits` (masked LM, sequence / token classification, multiple choice [batch,
  choices]), `start_logits` + `end_logits` (question answering); with `hidden_states=True` also `hidden_states.0`
  (the E->H projection's output) to `hidden_states.L` (layer L-1's), as transformers' `hidden_states` tuple
  (multiple choice: [batch * choices, seq, H], as transformers).
- every canonical tensor is ONE initializer named by its canonical key (`encoder.group.0.inner.1.attention.query
  .kernel`): layer i runs group `config.group_of_layer(i)` and reuses that group's initializers, and the MLM
  decoder is a `Transpose` of the word-embedding initializer, so the file is the weights plus ~100 KB of graph;
- padded keys get the compute dtype's minimum added to their attention scores (as our and transformers' PyTorch
  do; the original -10000 gives the same probabilities unless a sequence has no attended key at all);
- weights are stored in their dtype (or `dtype`); the graph computes in float16 when all are float16, else in
  float32 (bfloat16 weights are cast once, at load). LayerNormalization (opset 17) keeps its statistics in float32.
Laid out for ONNX Runtime's CPU kernels (bench/bench_onnx.py): the encoder works on tokens [batch * seq, H], so each
dense layer is one Gemm with its bias inside; tanh-GELU is written in the form ORT fuses into FastGelu and erf-GELU
in the form it fuses into Gelu (from opset 20 both are the standard `Gelu` op); the 1/sqrt(d) scale folds into the
scores MatMul; the MLM logits come out of one MatMul, no bias pass or copy after it.
- metadata_props `albert_bridge.format_version`, `.head`, `.config` (config.json), `.inputs`, `.hidden_states`,
  `.dtype` identify the file as ours and rebuild the checkpoint (`albert_bridge.formats.onnx_model` reads it back).
A model over 2 GB (protobuf's limit) keeps its tensors in `<file>_data` beside it (ONNX external data).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, BinaryIO, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..arrays import contiguous
from ..checkpoint import Checkpoint
from ..dtypes import is_float, numpy_dtype
from ..errors import BridgeError
from ..inputs import INPUT_NAMES
from ..schema import ARCHITECTURES, HeadKind

DEFAULT_OPSET = 17              # LayerNormalization; Gelu arrives with 20
FORMAT_VERSION = "1"
META = "albert_bridge."         # metadata_props key prefix
QUANTIZED = META + "quantized"  # on an int8 tier's file (albert_bridge.deploy.onnx_int8): how it was quantized
PROTO_LIMIT = 2**31 - 1         # protobuf's message size limit
_GRAPH_MARGIN = 64 * 2**20      # room for the graph itself when deciding whether the weights fit in the file
_ALIGN_THRESHOLD, _ALIGN = 2**20, 2**16  # external data: big tensors start at 64 KiB boundaries (mmap-friendly)

# --- building -------------------------------------------------------------------------------------------------------
class _Initializers:
    """Where tensor bytes go: into the model (the default), or appended to an external data file."""

    def __init__(self, data_file: BinaryIO | None = None, location: str = ""):
        self.data_file, self.location = data_file, location

    def make(self, name: str, array: np.ndarray) -> TensorProto:
        if self.data_file is None:
            return numpy_helper.from_array(array, name)
        array = contiguous(array)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        tensor = TensorProto(name=name, dims=array.shape, data_type=helper.np_dtype_to_tensor_dtype(array.dtype))
        offset = self.data_file.seek(0, os.SEEK_END)
        if array.nbytes >= _ALIGN_THRESHOLD and offset % _ALIGN:
            self.data_file.write(b"\0" * (_ALIGN - offset % _ALIGN))
            offset = self.data_file.tell()
        self.data_file.write(array.reshape(-1).view(np.uint8).data)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", self.location), ("offset", str(offset)), ("length", str(array.nbytes))):
            tensor.external_data.add(key=key, value=value)
        return tensor


class _Graph:
    """Nodes, initializers and unique names for one graph; values are referred to by name."""

    def __init__(self, ckpt: Checkpoint, storage: np.dtype | None, dtype: np.dtype, opset: int, sink: _Initializers):
        self.ckpt, self.storage, self.dtype, self.opset, self.sink = ckpt, storage, dtype, opset, sink
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._weights: dict[str, str] = {}  # canonical key -> the value computations use
        self._constants: dict[tuple, str] = {}
        self._used: set[str] = set()

    def name(self, hint: str) -> str:
        name, i = hint, 1
        while name in self._used:
            i += 1
            name = f"{hint}_{i}"
        self._used.add(name)
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str, *, out: str | None = None, **attrs: Any) -> str:
        """One node; its output is named `out` (a graph output) or after the hint (node and value share the name)."""
        output = out or self.name(hint)
        self._used.add(output)
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=output, **attrs))
        return output

    def const(self, value: Any, dtype: np.dtype | type | None = None) -> str:
        """A Constant node (shared by value): graph constants stay out of the initializers, which are the weights."""
        array = np.asarray(value, dtype=dtype or self.dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            name = self.name(f"const/{array.dtype.name}/{array.reshape(-1)[:4].tolist()}".replace(" ", ""))
            self.nodes.append(helper.make_node("Constant", [], [name], name=name,
                                               value=numpy_helper.from_array(array, name)))
            self._constants[key] = name
        return self._constants[key]

    def weight(self, key: str) -> str:
        """The initializer of a canonical tensor, created on first use and shared by every later one; a tensor
        stored in another dtype than the compute dtype (bfloat16) gets one Cast, which ONNX Runtime folds at load."""
        if key not in self._weights:
            tensor = self.ckpt.tensors.get(key)
            if tensor is None:
                raise BridgeError("missing: the graph needs it", file=self.ckpt.report.source or None, tensor=key)
            array = np.asarray(tensor.read())
            if self.storage is not None and array.dtype != self.storage:
                array = array.astype(self.storage)
            self.initializers.append(self.sink.make(key, array))
            self._weights[key] = key
            if array.dtype != self.dtype:
                self._weights[key] = self.op("Cast", [key], f"{key}/as_{self.dtype.name}",
                                             to=helper.np_dtype_to_tensor_dtype(self.dtype))
        return self._weights[key]

    # --- layers ---------------------------------------------------------------------------------------------------
    def dense(self, x: str, key: str, hint: str) -> str:
        """x [tokens, in] @ kernel + bias as one Gemm: the bias is added inside the matrix product."""
        return self.op("Gemm", [x, self.weight(f"{key}.kernel"), self.weight(f"{key}.bias")], hint)

    def norm(self, x: str, key: str, hint: str) -> str:
        return self.op("LayerNormalization", [x, self.weight(f"{key}.gamma"), self.weight(f"{key}.beta")], hint,
                       axis=-1, epsilon=float(self.ckpt.config.layer_norm_eps))

    def activation(self, x: str, hint: str) -> str:
        act = self.ckpt.config.hidden_act
        if act in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu"):
            if self.opset >= 20:
                return self.op("Gelu", [x], hint, approximate="none" if act == "gelu" else "tanh")
            half = self.op("Mul", [x, self.const(0.5)], f"{hint}/half_x")
            if act == "gelu":  # 0.5 x (1 + erf(x / sqrt 2)): ONNX Runtime's Gelu fusion pattern
                erf = self.op("Erf", [self.op("Div", [x, self.const(math.sqrt(2.0))], f"{hint}/Div")], f"{hint}/Erf")
                return self.op("Mul", [half, self.op("Add", [erf, self.const(1.0)], f"{hint}/one_plus")], hint)
            # tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))): x*x, not Pow (kinder to float16),
            # in the node order of ONNX Runtime's FastGelu fusion
            cubic = self.op("Mul", [x, self.const(0.044715)], f"{hint}/c_x")
            cubic = self.op("Mul", [cubic, x], f"{hint}/c_x2")
            cubic = self.op("Add", [cubic, self.const(1.0)], f"{hint}/one_plus_c_x2")
            inner = self.op("Mul", [x, self.const(math.sqrt(2.0 / math.pi))], f"{hint}/k_x")
            tanh = self.op("Tanh", [self.op("Mul", [inner, cubic], f"{hint}/inner")], f"{hint}/Tanh")
            return self.op("Mul", [half, self.op("Add", [tanh, self.const(1.0)], f"{hint}/one_plus")], hint)
        if act == "relu":
            return self.op("Relu", [x], hint)
        if act in ("silu", "swish"):
            return self.op("Mul", [x, self.op("Sigmoid", [x], f"{hint}/Sigmoid")], hint)
        if act == "tanh":
            return self.op("Tanh", [x], hint)
        raise BridgeError(f"hidden_act {act!r} has no ONNX form here")

    def attention(self, x: str, prefix: str, mask: str | None, shapes: dict[str, str], hint: str) -> str:
        c = self.ckpt.config
        size = c.hidden_size // c.num_attention_heads

        def project(name: str, perm: list[int]) -> str:
            y = self.dense(x, f"{prefix}attention.{name}", f"{hint}/{name}")
            y = self.op("Reshape", [y, shapes["heads"]], f"{hint}/{name}/Reshape")  # [batch, seq, heads, size]
            return self.op("Transpose", [y], f"{hint}/{name}/Transpose", perm=perm)

        q, k, v = project("query", [0, 2, 1, 3]), project("key", [0, 2, 3, 1]), project("value", [0, 2, 1, 3])
        scores = self.op("MatMul", [q, k], f"{hint}/scores")
        scores = self.op("Div", [scores, self.const(math.sqrt(size))], f"{hint}/scaled")
        if mask is not None:
            scores = self.op("Add", [scores, mask], f"{hint}/masked")
        probs = self.op("Softmax", [scores], f"{hint}/Softmax", axis=-1)
        context = self.op("MatMul", [probs, v], f"{hint}/context")
        context = self.op("Transpose", [context], f"{hint}/context/Transpose", perm=[0, 2, 1, 3])
        context = self.op("Reshape", [context, shapes["tokens"]], f"{hint}/context/Reshape")
        out = self.dense(context, f"{prefix}attention.output", f"{hint}/output")
        return self.norm(self.op("Add", [out, x], f"{hint}/residual"), f"{prefix}attention.norm", f"{hint}/LayerNorm")

    def layer(self, x: str, prefix: str, mask: str | None, shapes: dict[str, str], hint: str) -> str:
        x = self.attention(x, prefix, mask, shapes, f"{hint}/attention")
        ffn = self.activation(self.dense(x, f"{prefix}ffn.intermediate", f"{hint}/ffn"), f"{hint}/ffn/act")
        ffn = self.dense(ffn, f"{prefix}ffn.output", f"{hint}/ffn_output")
        return self.norm(self.op("Add", [ffn, x], f"{hint}/ffn/residual"), f"{prefix}ffn.norm", f"{hint}/ffn/LayerNorm")


def _dtypes(ckpt: Checkpoint, dtype: str | np.dtype | None) -> tuple[np.dtype | None, np.dtype]:
    """(storage dtype for every weight, or None to keep each tensor's; compute dtype). The graph computes in float16
    when every weight is float16, else in float32 (ONNX Runtime has few bfloat16 kernels on the CPU)."""
    storage = None if dtype is None else numpy_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)
    stored = {storage} if storage is not None else {t.dtype for t in ckpt.tensors.values()}
    bad = sorted(d.name for d in stored if not is_float(d) or d.itemsize > 4)
    if bad:
        raise BridgeError(f"ONNX export stores float32, float16 or bfloat16 weights, not {', '.join(bad)}",
                          file=ckpt.report.source or None)
    return storage, np.dtype("float16") if stored == {np.dtype("float16")} else np.dtype("float32")


class _Encoded:
    """The encoder's output and what the head builders need around it: `x` is [batch * seq, H] tokens."""

    def __init__(self, g: _Graph, x: str, batch_seq: str):
        self.g, self.c, self.x, self.batch_seq = g, g.ckpt.config, x, batch_seq

    def per_sequence(self, tokens: str, width: int, hint: str, out: str | None = None) -> str:
        """[batch * seq, width] -> [batch, seq, width]"""
        shape = self.g.op("Concat", [self.batch_seq, self.g.const([width], np.int64)], f"shape/{hint}", axis=0)
        return self.g.op("Reshape", [tokens, shape], hint, out=out)

    def pooled(self) -> str:
        g = self.g
        sequences = g.op("Reshape", [self.x, g.op("Concat", [self.batch_seq, g.const([self.c.hidden_size], np.int64)],
                                                  "shape/pooler", axis=0)], "pooler/sequences")
        first = g.op("Gather", [sequences, g.const(0, np.int64)], "pooler/first_token", axis=1)
        return g.op("Tanh", [g.dense(first, "pooler", "pooler/dense")], "pooler/Tanh")


# --- the heads: each output is written by one builder (encoded, output name) -> its dims -----------------------------
_BS = ["batch_size", "sequence_length"]


def _last_hidden_state(e: _Encoded, out: str) -> list:
    e.per_sequence(e.x, e.c.hidden_size, out, out=out)
    return [*_BS, e.c.hidden_size]


def _pooler_output(e: _Encoded, out: str) -> list:
    e.g.op("Identity", [e.pooled()], out, out=out)
    return ["batch_size", e.c.hidden_size]


def _mlm_logits(e: _Encoded, out: str) -> list:
    g, c = e.g, e.c
    t = g.activation(g.dense(e.x, "head.mlm.transform", "mlm/transform"), "mlm/act")
    t = e.per_sequence(g.norm(t, "head.mlm.norm", "mlm/LayerNorm"), c.embedding_size, "mlm/sequences")
    # The decoder is the word-embedding initializer itself (stored once), transposed. Its bias rides along as
    # one more row of the weight against a column of ones, so that one MatMul writes the [batch, seq, V]
    # logits straight into the output: a separate bias Add and a Reshape of the output would each make
    # another pass over the largest tensor of the model (ONNX Runtime folds the constant weight at load).
    ones = g.op("ConstantOfShape", [g.op("Concat", [e.batch_seq, g.const([1], np.int64)], "shape/mlm/ones", axis=0)],
                "mlm/ones", value=numpy_helper.from_array(np.ones(1, g.dtype)))
    t = g.op("Concat", [t, ones], "mlm/with_ones", axis=2)
    bias_row = g.op("Unsqueeze", [g.weight("head.mlm.output_bias"), g.const([0], np.int64)], "mlm/bias_row")
    decoder = g.op("Concat", [g.op("Transpose", [g.weight("embeddings.word")], "mlm/decoder_kernel", perm=[1, 0]),
                              bias_row], "mlm/decoder_with_bias", axis=0)
    g.op("MatMul", [t, decoder], out, out=out)
    return [*_BS, c.vocab_size]


def _sop_logits(e: _Encoded, out: str) -> list:
    e.g.op("Identity", [e.g.dense(e.pooled(), "head.sop", "sop")], out, out=out)
    return ["batch_size", e.c.num_labels]


def _sequence_logits(e: _Encoded, out: str) -> list:
    e.g.op("Identity", [e.g.dense(e.pooled(), "head.classifier", "classifier")], out, out=out)
    return ["batch_size", e.c.num_labels]


def _choice_logits(e: _Encoded, out: str) -> list:
    scores = e.g.dense(e.pooled(), "head.classifier", "classifier")
    e.g.op("Reshape", [scores, e.g.op("Shape", ["input_ids"], "shape/choices", end=2)], out, out=out)
    return ["batch_size", "num_choices"]


def _token_logits(e: _Encoded, out: str) -> list:
    e.per_sequence(e.g.dense(e.x, "head.classifier", "classifier"), e.c.num_labels, out, out=out)
    return [*_BS, e.c.num_labels]


def _span_logits(e: _Encoded, *outs: str) -> list:
    """start_logits and end_logits: the two columns of one [tokens, 2] dense layer."""
    logits = e.g.dense(e.x, "head.qa", "qa")
    for i, name in enumerate(outs):
        column = e.g.op("Gather", [logits, e.g.const(i, np.int64)], f"qa/{name}", axis=1)
        e.g.op("Reshape", [column, e.batch_seq], name, out=name)
    return _BS


# Per head: (output names, the builder that writes them), in output order.
HEAD_BUILDERS: dict[HeadKind, tuple[tuple[tuple[str, ...], Any], ...]] = {
    HeadKind.BASE: ((("last_hidden_state",), _last_hidden_state), (("pooler_output",), _pooler_output)),
    HeadKind.PRETRAINING: ((("prediction_logits",), _mlm_logits), (("sop_logits",), _sop_logits)),
    HeadKind.MASKED_LM: ((("logits",), _mlm_logits),),
    HeadKind.SEQUENCE_CLASSIFICATION: ((("logits",), _sequence_logits),),
    HeadKind.MULTIPLE_CHOICE: ((("logits",), _choice_logits),),
    HeadKind.TOKEN_CLASSIFICATION: ((("logits",), _token_logits),),
    HeadKind.QUESTION_ANSWERING: ((("start_logits", "end_logits"), _span_logits),),
}
OUTPUT_NAMES: dict[HeadKind, tuple[str, ...]] = {
    head: tuple(name for names, _ in parts for name in names) for head, parts in HEAD_BUILDERS.items()
}


# --- the graph: checks -> inputs -> embeddings -> encoder -> head outputs -> model ----------------------------------
def _checked_inputs(ckpt: Checkpoint, inputs: Sequence[str], opset: int) -> tuple[str, ...]:
    c, head = ckpt.config, ckpt.head
    if "input_ids" not in inputs or set(inputs) - set(INPUT_NAMES):
        raise BridgeError(f"inputs must include input_ids and be among {', '.join(INPUT_NAMES)}, got {list(inputs)}")
    if opset < 17:
        raise BridgeError(f"opset {opset} is too old: the export needs LayerNormalization (opset 17)")
    if head is HeadKind.QUESTION_ANSWERING and c.num_labels != 2:
        raise BridgeError(f"question answering needs num_labels 2 (start, end), the config has {c.num_labels}")
    return tuple(name for name in INPUT_NAMES if name in inputs)


def _embeddings(g: _Graph, ids: str, token_type_ids: str | None, seq_len: str) -> str:
    """Word + token type + position embeddings, normalized, as [batch * seq, H] tokens (after the E->H projection)."""
    c = g.ckpt.config
    words = g.op("Gather", [g.weight("embeddings.word"), ids], "embeddings/word")
    # Without token_type_ids every token is type 0: row 0 of the table, broadcast.
    type_index = token_type_ids or g.const(0, np.int64)
    types = g.op("Gather", [g.weight("embeddings.token_type"), type_index], "embeddings/token_type")
    positions = g.op("Slice", [g.weight("embeddings.position"), g.const([0], np.int64), seq_len, g.const([0], np.int64)],
                     "embeddings/position")
    x = g.op("Add", [g.op("Add", [words, types], "embeddings/word_type"), positions], "embeddings/sum")
    x = g.norm(x, "embeddings.norm", "embeddings/LayerNorm")
    x = g.op("Reshape", [x, g.const([-1, c.embedding_size], np.int64)], "embeddings/tokens")
    if "encoder.projection.kernel" in g.ckpt.tensors:  # the original code has none when E == H
        x = g.dense(x, "encoder.projection", "encoder/projection")
    return x


def _additive_mask(g: _Graph, attention_mask: str | None) -> str | None:
    """(1 - mask) * min over keys: [batch, 1, 1, seq], computed once for every layer."""
    if attention_mask is None:
        return None
    keep = g.op("Unsqueeze", [attention_mask, g.const([1], np.int64)], "mask/Unsqueeze1")
    keep = g.op("Unsqueeze", [keep, g.const([2], np.int64)], "mask/Unsqueeze2")
    keep = g.op("Cast", [keep], "mask/Cast", to=helper.np_dtype_to_tensor_dtype(g.dtype))
    mask = g.op("Sub", [g.const(1.0), keep], "mask/Sub")
    return g.op("Mul", [mask, g.const(np.finfo(g.dtype).min)], "mask/additive")


def _encoder(g: _Graph, x: str, mask: str | None, seq_len: str) -> list[str]:
    """Every layer's output, the embeddings' first: layer i runs group `group_of_layer(i)`'s shared weights."""
    c = g.ckpt.config
    heads, size = c.num_attention_heads, c.hidden_size // c.num_attention_heads
    # The encoder works on tokens [batch * seq, H], so every dense layer is one Gemm with its bias inside;
    # attention reshapes to [batch, seq, heads, size] and back.
    shapes = {"tokens": g.const([-1, c.hidden_size], np.int64),
              "heads": g.op("Concat", [g.const([-1], np.int64), seq_len, g.const([heads, size], np.int64)],
                            "shape/heads", axis=0)}
    hidden = [x]
    for i in range(c.num_hidden_layers):
        group = c.group_of_layer(i)
        for k in range(c.inner_group_num):
            x = g.layer(x, f"encoder.group.{group}.inner.{k}.", mask, shapes, f"layer.{i}/inner.{k}")
        hidden.append(x)
    return hidden


def _build(ckpt: Checkpoint, *, hidden_states: bool, dtype: str | np.dtype | None, opset: int,
           inputs: Sequence[str], sink: _Initializers) -> onnx.ModelProto:
    c, head = ckpt.config, ckpt.head
    storage, dtype = _dtypes(ckpt, dtype)
    inputs = _checked_inputs(ckpt, inputs, opset)
    g = _Graph(ckpt, storage, dtype, opset, sink)
    multiple_choice = head is HeadKind.MULTIPLE_CHOICE
    dims = ["batch_size", "num_choices", "sequence_length"] if multiple_choice else _BS
    graph_inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, dims) for name in inputs]

    # Multiple choice runs the encoder on [batch * choices, seq], as transformers does.
    flat = {name: g.op("Flatten", [name], f"{name}/flat", axis=2) if multiple_choice else name for name in inputs}
    batch_seq = g.op("Shape", [flat["input_ids"]], "batch_seq")
    seq_len = g.op("Shape", [flat["input_ids"]], "seq", start=-1)
    x = _embeddings(g, flat["input_ids"], flat.get("token_type_ids"), seq_len)
    hidden = _encoder(g, x, _additive_mask(g, flat.get("attention_mask")), seq_len)
    encoded = _Encoded(g, hidden[-1], batch_seq)

    outputs: dict[str, list] = {}  # graph output -> dims
    for names, builder in HEAD_BUILDERS[head]:
        shape = builder(encoded, *names)
        outputs.update(dict.fromkeys(names, shape))
    if hidden_states:
        rows = "batch_size_x_num_choices" if multiple_choice else "batch_size"
        for i, value in enumerate(hidden):
            outputs[f"hidden_states.{i}"] = [rows, "sequence_length", c.hidden_size]
            encoded.per_sequence(value, c.hidden_size, f"hidden_states.{i}", out=f"hidden_states.{i}")
    return _model(g, graph_inputs, outputs, inputs, hidden_states)


def _model(g: _Graph, graph_inputs: list, outputs: dict[str, list], inputs: Sequence[str],
           hidden_states: bool) -> onnx.ModelProto:
    """The graph as a model with our metadata (which `formats.onnx_model` reads the checkpoint back from)."""
    c, head, opset = g.ckpt.config, g.ckpt.head, g.opset
    elem = helper.np_dtype_to_tensor_dtype(g.dtype)
    graph_outputs = [helper.make_tensor_value_info(name, elem, shape) for name, shape in outputs.items()]
    graph = helper.make_graph(g.nodes, f"albert_{head.value.replace('-', '_')}", graph_inputs, graph_outputs,
                              initializer=g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="albert-bridge",
                              producer_version=_version(), ir_version=helper.find_min_ir_version_for(opsets),
                              doc_string=f"ALBERT {ARCHITECTURES[head]} exported by albert-bridge from canonical tensors")
    config = c.to_dict()
    config["architectures"] = [ARCHITECTURES[head]]
    helper.set_model_props(model, {
        META + "format_version": FORMAT_VERSION,
        META + "head": head.value,
        META + "config": json.dumps(config, sort_keys=True),
        META + "inputs": ",".join(inputs),
        META + "hidden_states": "true" if hidden_states else "false",
        META + "dtype": g.dtype.name,
    })
    return model


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("albert-bridge")
    except PackageNotFoundError:
        return "0"


def build_model(ckpt: Checkpoint, *, hidden_states: bool = False, dtype: str | np.dtype | None = None,
                opset: int = DEFAULT_OPSET, inputs: Sequence[str] = INPUT_NAMES) -> onnx.ModelProto:
    """The checkpoint's head as an in-memory ONNX model with its weights inside (so at most 2 GB of them: larger
    models go through `export`, which writes external data). `dtype` None keeps the checkpoint's float dtype."""
    return _build(ckpt, hidden_states=hidden_states, dtype=dtype, opset=opset, inputs=inputs, sink=_Initializers())


def weights_fit_in_file(ckpt: Checkpoint, dtype: str | np.dtype | None = None) -> bool:
    """Whether the weights (stored as `dtype`, None: as they are) leave room for the graph under protobuf's 2 GB."""
    storage = _dtypes(ckpt, dtype)[0]
    total = sum(int(np.prod(t.shape, dtype=np.int64)) * (storage or t.dtype).itemsize for t in ckpt.tensors.values())
    return total < PROTO_LIMIT - _GRAPH_MARGIN


def export(ckpt: Checkpoint, path: str | os.PathLike, *, hidden_states: bool = False,
           dtype: str | np.dtype | None = None, opset: int = DEFAULT_OPSET, inputs: Sequence[str] = INPUT_NAMES,
           external_data: bool | None = None, check: bool = True) -> list[Path]:
    """Write the model to `path` (and `<name>_data` beside it when the weights are over 2 GB, or `external_data`):
    tensors are streamed into the data file one at a time, then `onnx.checker` (full check) reads the result."""
    path = Path(path)
    if external_data is None:
        external_data = not weights_fit_in_file(ckpt, dtype)
    if not external_data:
        return save_model(build_model(ckpt, hidden_states=hidden_states, dtype=dtype, opset=opset, inputs=inputs),
                          path, check=check)
    data_path = path.with_name(path.name + "_data")
    with open(data_path, "wb") as data:
        model = _build(ckpt, hidden_states=hidden_states, dtype=dtype, opset=opset, inputs=inputs,
                       sink=_Initializers(data, data_path.name))
    _write(model, path)
    if check:
        check_file(path)
    return [path, data_path]


def save_model(model: onnx.ModelProto, path: str | os.PathLike, *, external_data: bool | None = None,
               check: bool = True) -> list[Path]:
    """Write an in-memory model (e.g. from `build_model`); external data `<name>_data` when it is over 2 GB (onnx
    then moves the model's tensors out in place: `model` refers to the data file afterwards)."""
    path = Path(path)
    if external_data is None:
        external_data = model.ByteSize() > PROTO_LIMIT - _GRAPH_MARGIN
    written = [path]
    if external_data:
        data_path = path.with_name(path.name + "_data")
        data_path.unlink(missing_ok=True)  # onnx appends to an existing file
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data_path.name, size_threshold=0)
        written.append(data_path)
    else:
        _write(model, path)
    if check:
        check_file(path)
    return written


def _write(model: onnx.ModelProto, path: Path) -> None:
    with open(path, "wb") as out:
        out.write(model.SerializeToString())


def check_file(path: str | os.PathLike) -> None:
    """`onnx.checker.check_model(full_check=True)` on the file (external data included), as a BridgeError."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # ValidationError, InferenceError, or a protobuf error on a damaged file
        raise BridgeError(f"fails onnx.checker ({first_line(exc)})", file=path) from None


def first_line(exc: BaseException) -> str:
    """An exception's first non-empty line: onnx and onnxruntime messages run over many lines."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
