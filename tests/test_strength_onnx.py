"""The ONNX export at its edges: a fully padded row, a checkpoint mixing float32 and float16 tensors, NaN outputs,
and the validation thresholds themselves."""

from dataclasses import replace

import numpy as np
import onnx
import pytest

from albert_bridge.checkpoint import LazyTensor
from albert_bridge.errors import ParityError
from albert_bridge.export import onnx as onnx_export
from albert_bridge import numpy_forward
from albert_bridge.export import onnx_runtime
from albert_bridge.export.onnx import build_model
from albert_bridge.export.onnx_runtime import VALIDATION_TOLERANCE, compare, run
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint, make_inputs
from tests.helpers import assert_close

pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.onnx


def test_a_fully_padded_row_computes_what_the_reference_computes():
    """With no attended key at all, adding the dtype's minimum makes every score equal: attention is uniform over
    the row, as in transformers' PyTorch and our reference. A finite constant such as -10000 would instead leave the
    scores' differences in place (softmax ignores a shift): a different result, which this comparison catches."""
    ckpt = make_checkpoint(HeadKind.PRETRAINING, seed=41)
    inputs = make_inputs(HeadKind.PRETRAINING, batch=3, seq_len=8, vocab_size=ckpt.config.vocab_size)
    inputs["attention_mask"][1] = 0  # the middle row: every key padded
    assert inputs["attention_mask"][0].all() and not inputs["attention_mask"][1].any()
    got = run(build_model(ckpt, hidden_states=True), inputs)
    want = numpy_forward.forward(ckpt, inputs, output_hidden_states=True)
    assert_close(got, want, 1e-5, scaled=True)
    # what a finite mask constant would compute there is far from it: the check above can tell them apart
    shifted = dict(inputs, attention_mask=np.ones_like(inputs["attention_mask"]))
    unmasked = numpy_forward.forward(ckpt, shifted, output_hidden_states=True)
    assert np.abs(unmasked["hidden_states.1"][1] - want["hidden_states.1"][1]).max() > 1e-3
    assert onnx_runtime.compare(got, want, "float32")  # and the conversion-time check agrees


def _mixed(ckpt, float16_keys):
    def half(t: LazyTensor) -> LazyTensor:
        return t.map(lambda a: a.astype(np.float16), t.shape, np.dtype("float16"))

    return replace(ckpt, tensors={k: half(t) if k in float16_keys else t for k, t in ckpt.tensors.items()})


def test_a_checkpoint_mixing_float32_and_float16_computes_in_float32():
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=42)
    half = {k for k in ckpt.tensors if k.startswith("encoder.group.1.") or k == "embeddings.word"}
    mixed = _mixed(ckpt, half)
    assert {t.dtype.name for t in mixed.tensors.values()} == {"float16", "float32"}
    model = build_model(mixed, hidden_states=True)
    stored = {i.name: i.data_type for i in model.graph.initializer}
    float16 = onnx.TensorProto.FLOAT16
    assert {k for k, dtype in stored.items() if dtype == float16} == half  # each weight kept in its own dtype
    assert {o.type.tensor_type.elem_type for o in model.graph.output} == {onnx.TensorProto.FLOAT}
    inputs = make_inputs(HeadKind.MASKED_LM, batch=2, seq_len=7, vocab_size=ckpt.config.vocab_size)
    got = run(model, inputs)
    assert {v.dtype for v in got.values()} == {np.dtype("float32")}
    want = numpy_forward.forward(mixed, inputs, output_hidden_states=True)  # the same (rounded) weights in float64
    diffs = compare(got, want, "float32")  # float32 compute: within the float32 tolerance
    assert max(diffs.values()) < VALIDATION_TOLERANCE["float32"]
    all_half = build_model(_mixed(ckpt, set(ckpt.tensors)))
    assert {o.type.tensor_type.elem_type for o in all_half.graph.output} == {float16}


def test_validation_fails_on_nan_outputs():
    want = {"logits": np.array([[1.0, -2.0]]), "hidden_states.0": np.zeros((1, 2))}
    with pytest.raises(ParityError, match=r"output 'logits' differs from the NumPy reference forward by nan"):
        compare({"logits": np.array([[np.nan, -2.0]], np.float32), "hidden_states.0": np.zeros((1, 2))}, want,
                "float32", "model.onnx")
    with pytest.raises(ParityError, match="output 'hidden_states.0' differs"):  # NaN on both sides fails too
        compare({"hidden_states.0": np.full((1, 2), np.nan)}, {"hidden_states.0": np.full((1, 2), np.nan)}, "float16")
    with pytest.raises(ParityError, match=r"differs from the NumPy reference forward by inf"):
        compare({"logits": np.array([[np.inf, -2.0]])}, want, "float16")


def test_validation_of_an_export_whose_weights_hold_nan_fails():
    ckpt = make_checkpoint(HeadKind.BASE, seed=43)
    bad = ckpt.tensors["encoder.group.0.inner.0.ffn.output.bias"]
    poisoned = bad.map(lambda a: np.where(np.arange(a.size).reshape(a.shape) == 0, np.nan, a).astype(a.dtype),
                       bad.shape, bad.dtype)
    ckpt = replace(ckpt, tensors={**ckpt.tensors, "encoder.group.0.inner.0.ffn.output.bias": poisoned})
    with pytest.raises(ParityError, match="differs from the NumPy reference forward by nan"):
        onnx_runtime.validate(build_model(ckpt), ckpt)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("largest", [0.5, 1.0, 8.0])
def test_the_validation_threshold_itself(dtype, largest):
    """Tolerance = VALIDATION_TOLERANCE[dtype] * max(1, max|reference|): an error just below it passes, just above
    it fails."""
    assert VALIDATION_TOLERANCE == {"float32": 1e-5, "float16": 1e-2}
    reference = np.array([largest, -0.25, 0.0])
    tolerance = VALIDATION_TOLERANCE[dtype] * max(1.0, largest)
    below = compare({"x": reference + [0, 0, tolerance * (1 - 1e-6)]}, {"x": reference}, dtype)
    assert below["x"] == pytest.approx(tolerance * (1 - 1e-6), rel=1e-9)
    with pytest.raises(ParityError, match=rf"output 'x' differs .* \(tolerance {tolerance:.3g}, {dtype}\)"):
        compare({"x": reference - [0, tolerance * (1 + 1e-6), 0]}, {"x": reference}, dtype)


def test_compare_refuses_outputs_without_a_reference_or_of_another_shape():
    with pytest.raises(ParityError, match="output 'extra' has no reference"):
        compare({"extra": np.zeros(2)}, {"x": np.zeros(2)}, "float32")
    with pytest.raises(ParityError, match=r"output 'x' has shape \[3\], the reference \[2\]"):
        compare({"x": np.zeros(3)}, {"x": np.zeros(2)}, "float32")
    assert compare({"x": np.zeros((0, 4))}, {"x": np.zeros((0, 4))}, "float32") == {"x": 0.0}


def test_export_options_reach_the_file(tmp_path):
    from albert_bridge.errors import BridgeError
    from albert_bridge.formats import get_format, load

    ckpt = make_checkpoint(HeadKind.BASE, seed=44)
    onnx_export.export(ckpt, tmp_path / "hidden.onnx", hidden_states=True)
    model = onnx.load(str(tmp_path / "hidden.onnx"))
    outputs = [o.name for o in model.graph.output]
    assert outputs == ["last_hidden_state", "pooler_output",
                       *(f"hidden_states.{i}" for i in range(ckpt.config.num_hidden_layers + 1))]
    assert model.producer_name and model.producer_version == onnx_export._version()
    get_format("safetensors").save(ckpt, tmp_path / "src")
    loaded = load(tmp_path / "src")
    partial = replace(loaded, tensors={k: t for k, t in loaded.tensors.items() if k != "pooler.kernel"})
    with pytest.raises(BridgeError, match=rf"^{tmp_path / 'src'}.*: tensor 'pooler.kernel': missing: the graph needs "):
        build_model(partial)


# ---- running: sessions, feeds, the validation batch -----------------------------------------------------------------

def test_sessions_name_their_device_and_refuse_a_missing_provider(tmp_path, monkeypatch):
    import onnxruntime as ort
    from albert_bridge.errors import BridgeError

    model = build_model(make_checkpoint(HeadKind.BASE, seed=45))
    sess = onnx_runtime.session(model)  # cpu by default, from an in-memory model
    assert sess.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(BridgeError, match=r"^unknown device 'tpu' \(expected cpu or cuda\)$"):
        onnx_runtime.session(model, "tpu")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(BridgeError, match=r"^device cuda: this onnxruntime has no CUDAExecutionProvider \(install "
                                          r"onnxruntime-gpu; available: CPUExecutionProvider\)$"):
        onnx_runtime.session(model, "cuda")
    optimized = tmp_path / "optimized.onnx"
    onnx_runtime.session(model, optimized_model_path=optimized)
    assert onnx.load(str(optimized)).graph.node  # ONNX Runtime wrote the optimized graph where asked
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(BridgeError, match=rf"^{tmp_path / 'broken.onnx'}: ONNX Runtime cannot load it \("):
        onnx_runtime.session(tmp_path / "broken.onnx")


def test_run_feeds_exactly_the_declared_inputs(tmp_path):
    from albert_bridge.errors import BridgeError

    ckpt = make_checkpoint(HeadKind.BASE, seed=46)
    path = tmp_path / "ids_mask.onnx"
    onnx_export.export(ckpt, path, inputs=("input_ids", "attention_mask"))
    batch = make_inputs(HeadKind.BASE, vocab_size=ckpt.config.vocab_size, dtype="int32")  # int32: cast to int64
    got = run(path, {k: batch[k] for k in ("input_ids", "attention_mask")})
    assert list(got) == ["last_hidden_state", "pooler_output"]
    want = numpy_forward.forward(ckpt, {**batch, "token_type_ids": np.zeros_like(batch["input_ids"])})
    assert_close(got, {k: want[k] for k in got}, atol=1e-5)  # token types absent: all type 0, inside the graph
    with pytest.raises(BridgeError, match=rf"^{path}: the model takes input_ids, attention_mask; missing "
                                          "attention_mask$"):
        run(path, {"input_ids": batch["input_ids"]})
    with pytest.raises(BridgeError, match=r"^the model takes input_ids, attention_mask; it has no input "
                                          "token_type_ids$"):
        run(onnx.load(str(path)), batch)


@pytest.mark.parametrize("head", [HeadKind.BASE, HeadKind.MULTIPLE_CHOICE])
def test_the_validation_batch_fits_the_config(head):
    ckpt = make_checkpoint(head, seed=47)
    batch = onnx_runtime.validation_inputs(ckpt)
    rows = (3, 2) if head is HeadKind.MULTIPLE_CHOICE else (3,)
    assert list(batch) == list(onnx_export.INPUT_NAMES)
    assert all(v.shape == (*rows, 9) and v.dtype == np.int64 for v in batch.values())
    assert batch["attention_mask"].min() == 0 and batch["token_type_ids"].max() == 1  # padding and two segments
    assert batch["input_ids"].max() < ckpt.config.vocab_size
    small = replace(ckpt, config=replace_config(ckpt.config, max_position_embeddings=4, type_vocab_size=1))
    batch = onnx_runtime.validation_inputs(small, ["input_ids", "token_type_ids"])
    assert list(batch) == ["input_ids", "token_type_ids"] and batch["input_ids"].shape == (*rows, 4)
    assert not batch["token_type_ids"].any()  # one token type: every token is type 0
    tiny = replace(ckpt, config=replace_config(ckpt.config, max_position_embeddings=1))
    assert onnx_runtime.validation_inputs(tiny)["input_ids"].shape == (*rows, 2)  # never under two tokens


def replace_config(config, **changes):
    from albert_bridge.config import AlbertConfig

    return AlbertConfig.from_dict({**config.to_dict(), **changes})


class _FakeSession:
    """Stands in for onnxruntime.InferenceSession: records what it was asked for, runs nothing."""

    made: list = []

    def __init__(self, source, options, providers=None):
        _FakeSession.made.append(providers)
        self.providers = providers

    def get_providers(self):
        return ["CPUExecutionProvider"]  # as when CUDA is listed but cannot start


def test_sessions_ask_for_their_providers_explicitly(monkeypatch):
    """Never ONNX Runtime's default order (on a GPU build it would pick CUDA for a cpu run); cuda asks for CUDA
    with TF32 off, then the CPU, and refuses a session where CUDA did not start."""
    import onnxruntime as ort
    from albert_bridge.errors import BridgeError

    model = build_model(make_checkpoint(HeadKind.BASE, seed=48))
    _FakeSession.made = []
    monkeypatch.setattr(ort, "InferenceSession", _FakeSession)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    onnx_runtime.session(model, "cpu")
    with pytest.raises(BridgeError) as caught:
        onnx_runtime.session(model, "cuda")
    assert str(caught.value) == "ONNX Runtime could not start CUDAExecutionProvider (check CUDA and cuDNN)"
    assert _FakeSession.made == [["CPUExecutionProvider"],
                                 [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]]


def test_without_onnxruntime_running_says_what_to_install(monkeypatch):
    import sys
    from albert_bridge.errors import BridgeError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(BridgeError) as caught:
        onnx_runtime.session(b"")
    assert str(caught.value) == "running ONNX models needs onnxruntime: pip install 'albert-bridge[onnx]'"


def test_every_unexpected_input_is_named(tmp_path):
    from albert_bridge.errors import BridgeError

    path = tmp_path / "ids.onnx"
    onnx_export.export(make_checkpoint(HeadKind.BASE, seed=49), path, inputs=("input_ids",))
    ids = np.ones((1, 4), np.int64)
    with pytest.raises(BridgeError) as caught:
        run(path, {"input_ids": ids, "token_type_ids": ids, "attention_mask": ids})
    assert caught.value.message == "the model takes input_ids; it has no input attention_mask, token_type_ids"
    with pytest.raises(ParityError) as caught:
        compare({"x": np.zeros(2)}, {}, "float32", where=path)
    assert str(caught.value) == f"{path}: output 'x' has no reference"


def test_validation_compares_every_hidden_state(tmp_path):
    ckpt = make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION, seed=50)
    path = tmp_path / "hidden.onnx"
    onnx_export.export(ckpt, path, hidden_states=True)
    diffs = onnx_runtime.validate(path, ckpt)
    assert sorted(diffs) == sorted(["logits", *(f"hidden_states.{i}" for i in range(ckpt.config.num_hidden_layers + 1))])
    assert max(diffs.values()) < 1e-5


@pytest.mark.parametrize("head", list(HeadKind))
def test_every_output_declares_the_documented_dims(head):
    """Symbolic dims tie each output to the inputs' batch and sequence (runtimes that plan memory by dim name read
    them): [batch_size, sequence_length, ...] per token, [batch_size, ...] per sequence, [batch_size, num_choices]."""
    ckpt = make_checkpoint(head, seed=51)
    c = ckpt.config
    model = build_model(ckpt, hidden_states=True)

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    per_token, rows = ["batch_size", "sequence_length"], "batch_size"
    expected = {
        HeadKind.BASE: {"last_hidden_state": [*per_token, c.hidden_size], "pooler_output": ["batch_size", c.hidden_size]},
        HeadKind.PRETRAINING: {"prediction_logits": [*per_token, c.vocab_size], "sop_logits": ["batch_size", 2]},
        HeadKind.MASKED_LM: {"logits": [*per_token, c.vocab_size]},
        HeadKind.SEQUENCE_CLASSIFICATION: {"logits": ["batch_size", c.num_labels]},
        HeadKind.MULTIPLE_CHOICE: {"logits": ["batch_size", "num_choices"]},
        HeadKind.TOKEN_CLASSIFICATION: {"logits": [*per_token, c.num_labels]},
        HeadKind.QUESTION_ANSWERING: {"start_logits": per_token, "end_logits": per_token},
    }[head]
    if head is HeadKind.MULTIPLE_CHOICE:
        rows = "batch_size_x_num_choices"
    expected.update({f"hidden_states.{i}": [rows, "sequence_length", c.hidden_size]
                     for i in range(c.num_hidden_layers + 1)})
    assert {o.name: dims(o) for o in model.graph.output} == expected
    inputs = ["batch_size", "num_choices", "sequence_length"] if head is HeadKind.MULTIPLE_CHOICE else per_token
    assert {i.name: dims(i) for i in model.graph.input} == dict.fromkeys(onnx_export.INPUT_NAMES, inputs)


def test_export_passes_opset_and_check_through(tmp_path, monkeypatch):
    ckpt = make_checkpoint(HeadKind.BASE, seed=52)
    onnx_export.export(ckpt, tmp_path / "opset20.onnx", opset=20)
    model = onnx.load(str(tmp_path / "opset20.onnx"))
    assert [o.version for o in model.opset_import] == [20] and "Gelu" in {n.op_type for n in model.graph.node}
    checked = []
    monkeypatch.setattr(onnx_export, "check_file", checked.append)
    onnx_export.export(ckpt, tmp_path / "unchecked.onnx", check=False)
    onnx_export.export(ckpt, tmp_path / "external.onnx", check=False, external_data=True)
    onnx_export.save_model(build_model(ckpt), tmp_path / "saved.onnx", check=False)
    assert checked == []
    onnx_export.export(ckpt, tmp_path / "checked.onnx")
    assert checked == [tmp_path / "checked.onnx"]


def test_saved_external_data_holds_the_weights(tmp_path):
    ckpt = make_checkpoint(HeadKind.BASE, seed=53)
    files = onnx_export.save_model(build_model(ckpt), tmp_path / "m.onnx", external_data=True)
    assert [f.name for f in files] == ["m.onnx", "m.onnx_data"]
    assert files[1].stat().st_size >= ckpt.nbytes() > files[0].stat().st_size
    assert all(t.data_location == onnx.TensorProto.EXTERNAL for t in onnx.load(str(files[0]), load_external_data=False)
               .graph.initializer)


def test_external_tensors_of_a_mebibyte_or_more_start_on_64_kib_boundaries(tmp_path):
    with open(tmp_path / "data", "wb") as data:
        sink = onnx_export._Initializers(data, "data")
        small = sink.make("small", np.ones(3, np.float32))
        exact = sink.make("exact", np.ones(2**20 // 4, np.float32))  # exactly 1 MiB: aligned
        after = sink.make("after", np.ones(2**20 // 4 - 1, np.float32))  # 4 bytes short of it: packed right after

    def offset(tensor):
        return int({e.key: e.value for e in tensor.external_data}["offset"])

    assert (offset(small), offset(exact), offset(after)) == (0, 2**16, 2**16 + 2**20)
    assert {e.key: e.value for e in exact.external_data} == {"location": "data", "offset": str(2**16),
                                                             "length": str(2**20)}


def test_graph_names_stay_unique():
    """Every node output is a distinct value name (ONNX requires it): a repeated hint is numbered, and a name given
    as a graph output is never handed out again."""
    g = onnx_export._Graph(make_checkpoint(HeadKind.BASE, seed=54), None, np.dtype("float32"), 17,
                           onnx_export._Initializers())
    assert [g.name("x"), g.name("x"), g.name("x"), g.name("x_2")] == ["x", "x_2", "x_3", "x_2_2"]
    assert g.op("Identity", ["x"], "ignored", out="logits") == "logits"
    assert g.name("logits") == "logits_2"


def test_what_cannot_be_exported_is_refused_in_one_line():
    from albert_bridge.errors import BridgeError

    ckpt = make_checkpoint(HeadKind.BASE, seed=55)
    with pytest.raises(BridgeError) as caught:
        build_model(ckpt, inputs=("attention_mask",))
    assert caught.value.message == ("inputs must include input_ids and be among input_ids, attention_mask, "
                                    "token_type_ids, got ['attention_mask']")
    with pytest.raises(BridgeError) as caught:
        build_model(ckpt, opset=16)
    assert caught.value.message == "opset 16 is too old: the export needs LayerNormalization (opset 17)"
    doubled = replace(ckpt, tensors={k: LazyTensor(t.shape, np.dtype("float64"), lambda t=t: t.read().astype(np.float64),
                                                   t.origin) for k, t in ckpt.tensors.items()})
    with pytest.raises(BridgeError, match="ONNX export stores float32, float16 or bfloat16 weights, not float64$"):
        build_model(doubled)
    with pytest.raises(BridgeError, match="not int32$"):
        build_model(ckpt, dtype=np.dtype("int32"))
    half = build_model(ckpt, dtype=np.dtype("float16"))  # a numpy dtype as well as its name
    assert {t.data_type for t in half.graph.initializer} == {onnx.TensorProto.FLOAT16}


def test_swish_is_silu():
    from albert_bridge.config import AlbertConfig

    ckpt = make_checkpoint(HeadKind.BASE, seed=56)
    batch = make_inputs(HeadKind.BASE, vocab_size=ckpt.config.vocab_size)
    outputs = {}
    for act in ("silu", "swish"):
        config = AlbertConfig.from_dict({**ckpt.config.to_dict(), "hidden_act": act})
        outputs[act] = run(build_model(replace(ckpt, config=config)), batch)
    want = numpy_forward.forward(replace(ckpt, config=AlbertConfig.from_dict({**ckpt.config.to_dict(),
                                                                              "hidden_act": "silu"})), batch)
    assert_close(outputs["swish"], {k: want[k] for k in outputs["swish"]}, atol=1e-5)
    assert_close(outputs["swish"], outputs["silu"], atol=0.0)
