"""Every head on every backend: our PyTorch, TF2 and Flax classes, our ONNX export on ONNX Runtime, the float64 NumPy
reference and transformers 4.57's own three classes (the reference peer), each in its worker process, on the same
inputs, through `albert_bridge.parity.check`, on CPU."""

import pytest

from albert_bridge.formats import get_format
from albert_bridge.parity import WorkerPool, check
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint
from tests.helpers import ALL_HEADS, ROOT

for module in ("torch", "tensorflow", "jax", "flax", "transformers", "tf_keras", "onnxruntime"):
    pytest.importorskip(module)

pytestmark = [pytest.mark.all_backends, pytest.mark.slow]  # every framework in one environment: tox -e all

EVERY_BACKEND = ["torch", "tf", "flax", "onnx", "numpy", "hf-torch", "hf-tf", "hf-flax"]


@pytest.fixture(scope="module")
def pool():
    with WorkerPool() as shared:
        yield shared


@pytest.mark.parametrize("head", ALL_HEADS, ids=[h.value for h in ALL_HEADS])
def test_every_head_agrees_on_every_backend(tmp_path, head, pool, record_property):
    get_format("safetensors").save(make_checkpoint(head, seed=17), tmp_path)
    report = check(tmp_path, EVERY_BACKEND, pool=pool)
    assert [r.backend for r in report.runs if r.ok] == EVERY_BACKEND, [(r.backend, r.error) for r in report.runs]
    assert report.passed, report.to_text()
    outputs = {c.output for c in report.comparisons}
    assert {f"hidden_states.{i}" for i in range(6)} <= outputs
    if head is HeadKind.BASE:
        assert {"last_hidden_state", "pooler_output"} <= outputs
    worst = max(c.max_abs_diff for c in report.comparisons)
    record_property("max_abs_diff", worst)
    print(f"{head.value}: largest difference over {len(report.comparisons)} comparisons {worst:.2e}")


def test_an_original_tf1_checkpoint_and_its_conversions_agree_everywhere(tmp_path, pool):
    """Several sources: the TF1 original and our safetensors conversion of it, on ours and transformers' classes
    (transformers reads files our adapters write from the TF1 source)."""
    from albert_bridge.convert import convert

    source = ROOT / "fixtures" / "tf1" / "albert_tiny"
    convert(source, tmp_path / "converted", ["safetensors"])
    report = check([source, tmp_path / "converted"], ["torch", "flax", "hf-torch", "hf-tf"], pool=pool)
    assert report.passed, report.to_text()
    assert len(report.runs) == 8 and all(r.ok for r in report.runs)
    notes = {r.backend: r.notes for r in report.runs if r.checkpoint == str(source)}
    assert notes["hf-tf"] == ["read as tf_model.h5 written by albert_bridge"] and notes["torch"] == []


def test_a_perturbed_group_fails_across_frameworks(tmp_path, pool):
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=2)
    get_format("flax").save(ckpt, tmp_path / "flax-file")
    key = "encoder.group.1.inner.1.attention.value.bias"
    bad = ckpt.tensors[key].read().copy()
    bad[::2] += 0.05
    from albert_bridge.checkpoint import LazyTensor

    ckpt.tensors[key] = LazyTensor.of(bad)
    get_format("safetensors").save(ckpt, tmp_path / "perturbed")
    report = check([tmp_path / "flax-file", tmp_path / "perturbed"], ["flax", "tf"], pool=pool)
    assert not report.passed and report.first_divergent_layer == 3
    by_label = {(c.b, c.output): c.passed for c in report.comparisons}
    assert by_label[("src1:tf", "logits")] and not by_label[("src2:tf", "logits")]


def test_reduced_precision_runs_agree_and_workers_serve_every_dtype(tmp_path, pool):
    """bf16 and fp16 within their looser defaults; then fp32 again in the same workers, exactly as before (a dtype
    policy or matmul precision left behind by an earlier job would show here)."""
    get_format("safetensors").save(make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION, seed=5), tmp_path)
    backends = ["torch", "tf", "flax", "onnx"]
    before = check(tmp_path, backends, pool=pool)
    for dtype in ("bfloat16", "float16"):
        report = check(tmp_path, backends, dtype=dtype, pool=pool)
        skipped = {r.backend: r.skipped for r in report.runs if r.skipped}
        assert skipped == ({"onnx": "the ONNX export computes in float32 or float16, not bfloat16"}
                           if dtype == "bfloat16" else {}), skipped
        assert not any(r.error for r in report.runs), [(r.backend, r.error) for r in report.runs]
        assert report.passed, report.to_text()
        assert report.atol > 1e-4 and dtype in report.tolerance
        worst = max(c.max_abs_diff for c in report.comparisons)
        print(f"{dtype}: largest difference {worst:.2e} (atol {report.atol}, rtol {report.rtol})")
    after = check(tmp_path, backends, pool=pool)
    assert before.passed and [c.max_abs_diff for c in after.comparisons] == [c.max_abs_diff for c in before.comparisons]
