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
