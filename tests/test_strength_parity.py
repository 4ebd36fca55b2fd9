"""The parity harness at its edges: where no number could be had, the verdict naming layer 0, the JUnit counts,
`--expect` with other masks or token types, input ids at the vocabulary's edge, an ONNX source at float16."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from albert_bridge.errors import BridgeError
from albert_bridge.formats import get_format
from albert_bridge.parity import BACKENDS, Backend, check
from albert_bridge.parity.backends import Job, check_job_inputs, read_outputs, run_job
from albert_bridge.parity.compare import Comparison, compare_outputs, first_divergent_layer
from albert_bridge.parity.harness import save_outputs
from albert_bridge.numpy_forward import forward
from albert_bridge.parity.report import Report, Run
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint, make_inputs

A = {"logits": np.array([10.0, -2.0]), "hidden_states.0": np.zeros(3), "hidden_states.1": np.ones(3),
     "hidden_states.2": np.full(3, 2.0)}


# --- first_divergent_layer -----------------------------------------------------------------------------------------
def test_a_missing_output_or_another_shape_gives_no_layer():
    missing = compare_outputs("a", A, "b", {k: v for k, v in A.items() if k != "hidden_states.1"}, 1e-5, 1e-5)
    assert [(c.output, c.passed, c.max_abs_diff) for c in missing if not c.passed] == [("hidden_states.1", False,
                                                                                        None)]
    assert first_divergent_layer(missing) is None
    extra = compare_outputs("a", A, "b", {**A, "attentions.0": np.ones(2)}, 1e-5, 1e-5)
    assert [(c.output, c.note) for c in extra if not c.passed] == [("attentions.0", "missing in a")]
    assert first_divergent_layer(extra) is None
    shape = compare_outputs("a", A, "b", {**A, "logits": np.zeros(3), "hidden_states.0": np.zeros(4)}, 1e-5, 1e-5)
    assert {c.output: c.note for c in shape if not c.passed} == {"logits": "shape [3] vs [2]",
                                                                  "hidden_states.0": "shape [4] vs [3]"}
    assert first_divergent_layer(shape) is None
    # a number elsewhere still names its layer: the first hidden state that differs by a number, not by a shape
    both = compare_outputs("a", A, "b", {**A, "hidden_states.0": np.zeros(4), "hidden_states.2": A["hidden_states.2"]
                                         + 1}, 1e-5, 1e-5)
    assert first_divergent_layer(both) == 1


def test_the_first_failing_hidden_state_wins_over_later_ones_and_the_head():
    b = {**A, "logits": A["logits"] + 1, "hidden_states.2": A["hidden_states.2"] + 1,
         "hidden_states.1": A["hidden_states.1"] + 1}
    assert first_divergent_layer(compare_outputs("a", A, "b", b, 1e-5, 1e-5)) == 0
    assert first_divergent_layer(compare_outputs("a", A, "b", {**A, "hidden_states.2": A["hidden_states.2"] + 1},
                                                 1e-5, 1e-5)) == 1
    assert first_divergent_layer([Comparison("a", "b", "hidden_states.10", 1.0, 1.0, False),
                                  Comparison("a", "b", "hidden_states.9", 1.0, 1.0, False)]) == 8
    assert first_divergent_layer([Comparison("a", "b", "hidden_states.1x", 1.0, 1.0, False)]) == "head"


def test_the_tolerance_rule_at_its_edge():
    a = {"x": np.array([4.0, -2.0])}  # allowance 0.25 + 0.25 * 4 = 1.25, every number exact in binary
    at = compare_outputs("a", a, "b", {"x": np.array([4.0, -2.0 - 1.25])}, 0.25, 0.25)[0]
    assert at.passed and at.max_abs_diff == 1.25 and at.max_rel_diff == 1.25 / 4
    over = compare_outputs("a", a, "b", {"x": np.array([4.0 + 1.25 + 2 ** -20, -2.0])}, 0.25, 0.25)[0]
    assert not over.passed and over.max_abs_diff == 1.25 + 2 ** -20
    scale_from_a = compare_outputs("a", {"x": np.zeros(2)}, "b", {"x": np.array([0.0, 5e-4])}, 1e-3, 1.0)[0]
    assert scale_from_a.passed and scale_from_a.max_rel_diff == np.inf  # relative to max|a| = 0
    zero = compare_outputs("a", {"x": np.zeros(2)}, "b", {"x": np.zeros(2)}, 0.0, 0.0)[0]
    assert zero.passed and zero.max_rel_diff == 0.0
    nan_both = compare_outputs("a", {"x": np.array([np.nan, 1.0])}, "b", {"x": np.array([np.nan, 1.0])}, 0, 0)[0]
    assert nan_both.passed and nan_both.max_abs_diff == 0.0
    empty = compare_outputs("a", {"x": np.zeros((2, 0))}, "b", {"x": np.zeros((2, 0))}, 0, 0)[0]
    assert empty.passed and empty.max_abs_diff == 0.0


# --- reports -------------------------------------------------------------------------------------------------------
def _report(layer, comparisons, runs=None) -> Report:
    report = Report(atol=1e-5, rtol=1e-5, device="cpu", dtype="float32", head="pretraining", inputs="random",
                    tolerance="the rule")
    report.runs = runs or [Run("a", "torch", "cpu", "float32", 1.0, label="torch"),
                           Run("a", "tf", "cpu", "float32", 2.0, label="tf")]
    report.comparisons = comparisons
    report.first_divergent_layer = layer
    return report


def test_the_verdict_names_layer_0():
    failing = [Comparison("torch", "tf", "hidden_states.0", 0.0, 0.0, True),
               Comparison("torch", "tf", "hidden_states.1", 0.5, 0.5, False)]
    report = _report(first_divergent_layer(failing), failing)
    assert report.first_divergent_layer == 0
    assert report.verdict() == "FAILED: 1 of 2 comparisons exceed tolerance; first divergent layer: 0"
    assert report.to_text().rstrip().splitlines()[-1] == report.verdict()
    assert report.to_markdown().rstrip().splitlines()[-1] == f"**{report.verdict()}**"
    assert "### ALBERT parity: FAILED" in report.to_markdown()
    assert report.to_dict()["first_divergent_layer"] == 0
    embeddings = _report("embeddings", failing)
    assert embeddings.verdict().endswith("; first divergent layer: embeddings")
    no_number = _report(None, [Comparison("torch", "tf", "logits", None, None, False, "missing in tf")])
    assert no_number.verdict() == "FAILED: 1 of 1 comparisons exceed tolerance"
    assert "missing in tf FAIL" in no_number.to_text()


def test_the_verdicts_of_passing_empty_and_errored_reports():
    ok = [Comparison("torch", "tf", "logits", 1e-7, 1e-8, True)]
    assert _report(None, ok).verdict() == "PASSED: 1 comparisons within tolerance" and _report(None, ok).passed
    assert "### ALBERT parity: passed" in _report(None, ok).to_markdown()
    nothing = _report(None, [], [Run("a", "torch", "cpu", "float32", label="torch"),
                                 Run("a", "tf", "cpu", "float32", label="tf", skipped="not installed: tensorflow")])
    assert nothing.verdict() == "NOTHING COMPARED: 1 run(s) completed, at least two (or --expect) are needed"
    assert not nothing.passed
    errored = _report(None, ok, [Run("a", "torch", "cpu", "float32", label="torch"),
                                 Run("a", "tf", "cpu", "float32", label="tf", error="worker exited with code 1")])
    assert not errored.passed and errored.verdict() == "FAILED: 1 run(s) failed"
    assert "error: worker exited with code 1" in errored.to_text()


def test_junit_counts_comparisons_errors_and_skipped_runs():
    runs = [Run("a", "torch", "cpu", "float32", 1.5, label="torch"),
            Run("a", "tf", "cpu", "float32", 2.0, label="tf", error="worker exited with code 1"),
            Run("a", "flax", "cpu", "float32", None, label="flax", skipped="not installed: jax"),
            Run("a", "onnx", "cpu", "float32", None, label="onnx", skipped="not installed: onnxruntime"),
            Run("a", "numpy", "cpu", "float32", 0.25, label="numpy")]
    comparisons = [Comparison("torch", "numpy", "logits", 1e-7, 1e-8, True),
                   Comparison("torch", "numpy", "hidden_states.0", 1e-7, 1e-8, True),
                   Comparison("torch", "numpy", "hidden_states.1", 0.5, 0.5, False)]
    root = ET.fromstring(_report(0, comparisons, runs).to_junit().split("\n", 1)[1])
    suite = root.find("testsuite")
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("errors"), element.get("skipped")) == \
            ("6", "1", "1", "2")  # 3 comparisons + 1 error + 2 skipped
        assert element.get("time") == "3.750"
    cases = suite.findall("testcase")
    assert len(cases) == 6
    assert [c.get("classname") for c in cases[:3]] == ["parity.run.tf", "parity.run.flax", "parity.run.onnx"]
    assert cases[0].find("error").get("message") == "worker exited with code 1"
    assert [c.find("skipped").get("message") for c in cases[1:3]] == ["not installed: jax", "not installed: onnxruntime"]
    failure = cases[5].find("failure")
    assert cases[5].get("name") == "hidden_states.1" and cases[5].get("classname") == "parity.torch.vs.numpy"
    assert failure.get("message") == "max |a - b| 5.000e-01 > atol 1.0e-05 + rtol 1.0e-05 * max|a|"
    assert failure.text == f"numpy vs torch, hidden_states.1: {failure.get('message')}"
    assert all(c.find("failure") is None for c in cases[3:5])


# --- inputs ----------------------------------------------------------------------------------------------------------
def test_input_ids_must_lie_below_vocab_size_exactly():
    ids = np.array([[0, 5, 98]])
    assert check_job_inputs({"input_ids": ids}, HeadKind.MASKED_LM, 99, 512, 2, "x")["input_ids"].max() == 98
    with pytest.raises(BridgeError, match=r"x: tensor 'input_ids': values must lie in \[0, 99\)"):
        check_job_inputs({"input_ids": np.array([[0, 5, 99]])}, HeadKind.MASKED_LM, 99, 512, 2, "x")
    with pytest.raises(BridgeError, match=r"values must lie in \[0, 99\)"):
        check_job_inputs({"input_ids": np.array([[-1, 5]])}, HeadKind.MASKED_LM, 99, 512, 2, "x")
    with pytest.raises(BridgeError, match=r"token_type_ids.*values must lie in \[0, 2\)"):
        check_job_inputs({"input_ids": ids, "token_type_ids": np.array([[0, 1, 2]])}, HeadKind.MASKED_LM, 99, 512,
                         2, "x")
    with pytest.raises(BridgeError, match=r"attention_mask.*values must lie in \[0, 2\)"):
        check_job_inputs({"input_ids": ids, "attention_mask": np.array([[1, 1, 2]])}, HeadKind.MASKED_LM, 99, 512,
                         2, "x")


def test_sequence_length_rank_and_defaults_of_the_inputs():
    ids = np.arange(8).reshape(1, 8)
    out = check_job_inputs({"input_ids": ids.astype(np.int32)}, HeadKind.BASE, 99, 8, 2, "x")
    assert out["input_ids"].dtype == np.int64 and out["attention_mask"].tolist() == [[1] * 8]
    assert out["token_type_ids"].tolist() == [[0] * 8] and out["token_type_ids"].dtype == np.int64
    with pytest.raises(BridgeError, match="sequence length 8 exceeds max_position_embeddings 7"):
        check_job_inputs({"input_ids": ids}, HeadKind.BASE, 99, 7, 2, "x")
    with pytest.raises(BridgeError, match=r"rank 3 for head multiple-choice, got int64\[1, 8\]"):
        check_job_inputs({"input_ids": ids}, HeadKind.MULTIPLE_CHOICE, 99, 8, 2, "x")
    with pytest.raises(BridgeError, match=r"rank 2 for head base, got float64\[1, 8\]"):
        check_job_inputs({"input_ids": ids.astype(float)}, HeadKind.BASE, 99, 8, 2, "x")
    with pytest.raises(BridgeError, match="non-empty"):
        check_job_inputs({"input_ids": np.zeros((1, 0), np.int64)}, HeadKind.BASE, 99, 8, 2, "x")
    with pytest.raises(BridgeError, match=r"attention_mask.*shape of input_ids \[1, 8\], got int64\[1, 7\]"):
        check_job_inputs({"input_ids": ids, "attention_mask": np.ones((1, 7), np.int64)}, HeadKind.BASE, 99, 8, 2,
                         "x")
    with pytest.raises(BridgeError, match=r"token_type_ids.*got float32\[1, 8\]"):
        check_job_inputs({"input_ids": ids, "token_type_ids": np.zeros((1, 8), np.float32)}, HeadKind.BASE, 99, 8,
                         2, "x")
    with pytest.raises(BridgeError, match="unknown inputs labels, position_ids"):
        check_job_inputs({"input_ids": ids, "labels": ids, "position_ids": ids}, HeadKind.BASE, 99, 8, 2, "x")
    with pytest.raises(BridgeError, match="no input_ids"):
        check_job_inputs({"attention_mask": ids}, HeadKind.BASE, 99, 8, 2, "x")


@pytest.fixture
def golden(tmp_path):
    """A checkpoint and golden outputs of it computed in this process by the NumPy reference, on padded inputs."""
    ckpt = make_checkpoint(HeadKind.PRETRAINING, seed=3)
    get_format("safetensors").save(ckpt, tmp_path / "ckpt")
    inputs = make_inputs(HeadKind.PRETRAINING, batch=2, seq_len=7, seed=1, vocab_size=ckpt.config.vocab_size)
    assert inputs["attention_mask"].min() == 0 and inputs["token_type_ids"].max() == 1  # padded, two segments
    save_outputs(tmp_path / "golden.npz", inputs, forward(ckpt, inputs, output_hidden_states=True),
                 {"backend": "numpy"})
    return tmp_path / "ckpt", tmp_path / "golden.npz", inputs


@pytest.mark.parametrize("name", ["input_ids", "attention_mask", "token_type_ids"])
def test_expect_refuses_inputs_that_differ_in_any_of_the_three(golden, name):
    ckpt, golden_file, inputs = golden
    changed = {k: v.copy() for k, v in inputs.items()}
    changed[name][0, 1] = 1 - changed[name][0, 1] if name != "input_ids" else changed[name][0, 1] + 1
    with pytest.raises(BridgeError, match="the inputs differ from those the expected outputs were computed on") as e:
        check(ckpt, "numpy", inputs=changed, expect=golden_file)
    assert str(golden_file) in str(e.value)
    if name != "input_ids":  # left out, the default (all ones, all zeros) is not what the golden file holds either
        with pytest.raises(BridgeError, match="the inputs differ"):
            check(ckpt, "numpy", inputs={k: v for k, v in inputs.items() if k != name}, expect=golden_file)


def test_expect_with_the_very_inputs_compares_every_output(golden):
    ckpt, golden_file, inputs = golden
    report = check(ckpt, "numpy", inputs=inputs, expect=golden_file)
    assert report.passed and report.runs[0].ok
    assert {c.a for c in report.comparisons} == {"expected"} and len(report.comparisons) == 2 + 6
    assert all(c.max_abs_diff < 1e-12 for c in report.comparisons)  # the same float64 computation (BLAS order aside)
    again = check(ckpt, "numpy", expect=golden_file)  # no inputs given: the golden file's own
    assert again.passed and again.inputs == f"those of {golden_file}"


# --- the ONNX backend ------------------------------------------------------------------------------------------------
@pytest.mark.onnx
@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs onnxruntime")
def test_an_onnx_source_at_float16_runs_a_float16_graph_built_for_it(tmp_path):
    from albert_bridge.export import onnx as onnx_export

    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=2)
    onnx_export.export(ckpt, tmp_path / "model.onnx", hidden_states=True)
    inputs = make_inputs(HeadKind.MASKED_LM, batch=2, seq_len=6, vocab_size=ckpt.config.vocab_size)
    np.savez(tmp_path / "inputs.npz", **inputs)
    built = []
    original = onnx_export.build_model

    def recording(*args, **kwargs):
        model = original(*args, **kwargs)
        built.append((kwargs.get("dtype"), {i.data_type for i in model.graph.initializer},
                      {o.type.tensor_type.elem_type for o in model.graph.output}))
        return model

    onnx_export.build_model = recording
    try:
        results = {}
        for dtype in ("float32", "float16"):
            job = Job("onnx", str(tmp_path / "model.onnx"), "masked-lm", str(tmp_path / "inputs.npz"),
                      str(tmp_path / f"out-{dtype}"), dtype=dtype)
            result = run_job(job)
            results[dtype] = (result, read_outputs(Path(job.outputs), result.outputs))
    finally:
        onnx_export.build_model = original
    fp32_result, fp32 = results["float32"]
    fp16_result, fp16 = results["float16"]
    assert fp32_result.notes == []  # the file itself ran: it has hidden-state outputs
    assert fp16_result.notes == ["graph built from the checkpoint's weights with hidden-state outputs"]
    assert built == [("float16", {10}, {10})]  # FLOAT16 weights and outputs: the graph computes in float16
    assert fp16["logits"].dtype == np.float16 and fp32["logits"].dtype == np.float32
    assert set(fp16) == set(fp32) == {"logits", *(f"hidden_states.{i}" for i in range(6))}
    scale = np.abs(fp32["logits"]).max()
    assert 0 < np.abs(fp16["logits"].astype(np.float32) - fp32["logits"]).max() <= 5e-3 + 1e-2 * scale


def test_junit_names_and_times():
    runs = [Run("a", "torch", "cpu", "float32", 1.0, label="torch"),
            Run("a", "tf", "cpu", "float32", 2.0, label="tf", error="boom"),
            Run("a", "flax", "cpu", "float32", None, label="flax", skipped="not installed: jax")]
    root = ET.fromstring(_report(None, [], runs).to_junit().split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("name") == "albert-bridge parity"
    suite = root.find("testsuite")
    assert suite.get("name") == "parity pretraining cpu float32" and suite.get("tests") == "2"
    assert [c.get("time") for c in suite.findall("testcase")] == ["2.000", "0.000"]
    assert [c.get("name") for c in suite.findall("testcase")] == ["run", "run"]


def test_many_runs_are_summarised_one_row_each():
    comparisons = []
    for i in range(7):  # more compared runs than MAX_COLUMNS (6): one row per run
        comparisons += [Comparison("ref", f"run{i}", "logits", 0.5 if i == 2 else 1e-7, 0.0, i != 2),
                        Comparison("ref", f"run{i}", "hidden_states.0", 2e-7, 0.0, True)]
    comparisons.append(Comparison("ref", "run7", "logits", None, None, False, "missing in run7"))
    lines = _report(None, comparisons).to_text().splitlines()
    start = lines.index("max |a - b| of each output, each run against its reference; FAIL: over tolerance") + 1
    table = [" ".join(line.split()) for line in lines[start:start + 10]]
    assert table == ["run against largest at max |a - b| over tolerance",
                     "run0 ref hidden_states.0 2.00e-07 0 of 2",
                     "run1 ref hidden_states.0 2.00e-07 0 of 2",
                     "run2 ref logits 5.00e-01 1 of 2 FAIL",
                     "run3 ref hidden_states.0 2.00e-07 0 of 2",
                     "run4 ref hidden_states.0 2.00e-07 0 of 2",
                     "run5 ref hidden_states.0 2.00e-07 0 of 2",
                     "run6 ref hidden_states.0 2.00e-07 0 of 2",
                     "run7 ref 1 of 1 FAIL",  # no number at all: no largest difference to show
                     ""]


def test_markdown_layout():
    comparisons = [Comparison("torch", "tf", "logits", 0.5, 0.5, False)]
    lines = _report(None, comparisons).to_markdown().splitlines()
    assert lines[:6] == ["### ALBERT parity: FAILED", "", "Head `pretraining` on `cpu`, `float32`; inputs: random.  ",
                         "Tolerance: the rule.", "", "| run | checkpoint | backend | device | seconds | result |"]
    assert lines[-2:] == ["", "**FAILED: 1 of 1 comparisons exceed tolerance**"]
    assert "| logits | 5.00e-01 FAIL |" in lines


def test_junit_testcase_details_and_safe_class_names():
    runs = [Run("a", "torch", "cpu", "float32", 1.0, label="Source:torch"),
            Run("a", "tf", "cpu", "float32", None, label="tf:tf_model.h5", error="worker exited with code 1")]
    comparisons = [Comparison("Source:torch", "hf-tf:tf_model.h5", "logits", 0.5, 0.5, False),
                   Comparison("Source:torch", "_x y_", "logits", 0.0, 0.0, True)]
    suite = ET.fromstring(_report(None, comparisons, runs).to_junit().split("\n", 1)[1]).find("testsuite")
    error_case, failing, passing = suite.findall("testcase")
    assert (error_case.get("classname"), error_case.get("name"), error_case.get("time")) == \
        ("parity.run.tf_tf_model_h5", "run", "0.000")
    assert error_case.find("error").text == "worker exited with code 1"
    assert failing.get("classname") == "parity.Source_torch.vs.hf-tf_tf_model_h5" and failing.get("time") == "0"
    assert failing.find("failure").get("type") == "ParityMismatch"
    assert passing.get("classname") == "parity.Source_torch.vs.x_y"


def test_the_table_has_a_column_per_run_up_to_six_and_names_each_reference():
    six = [Comparison("ref", f"run{i}", "logits", 1e-7, 0.0, True) for i in range(6)]
    header = [line for line in _report(None, six).to_text().splitlines() if line.startswith("output")][0]
    assert header.split() == ["output", *(f"run{i}" for i in range(6))]
    two_references = [Comparison("torch", "tf", "logits", 1e-7, 0.0, True),
                      Comparison("expected", "tf", "logits", 2e-7, 0.0, True)]
    lines = _report(None, two_references).to_text().splitlines()
    header = [line for line in lines if line.startswith("output")][0]
    assert " ".join(header.split()) == "output tf vs torch tf vs expected"
    assert " ".join([line for line in lines if line.startswith("logits")][0].split()) == "logits 1.00e-07 2.00e-07"


def test_the_runs_table_says_what_became_of_each_run():
    runs = [Run("ckpt", "torch", "cpu", "float32", 1.234, label="torch", ran_on="cpu (emulating cuda)"),
            Run("ckpt", "tf", "cpu", "float32", 2.0, label="tf", error="worker exited with code 1"),
            Run("ckpt", "flax", "cpu", "float32", None, label="flax", skipped="not installed: jax")]
    comparisons = [Comparison("torch", "tf", "logits", 1e-7, 0.0, True),
                   Comparison("torch", "tf", "hidden_states.0", 0.5, 0.5, False)]
    lines = [" ".join(line.split()) for line in _report(None, comparisons, runs).to_text().splitlines()]
    assert lines[3:7] == ["run checkpoint backend device seconds result",
                          "torch ckpt torch cpu (emulating cuda) 1.23 ok",
                          "tf ckpt tf cpu 2.00 error: worker exited with code 1",
                          "flax ckpt flax cpu skipped: not installed: jax"]
    assert "logits 1.00e-07" in lines and "hidden_states.0 5.00e-01 FAIL" in lines


def test_the_text_report_exactly():
    runs = [Run("original", "torch", "cpu", "float32", 1.5, label="torch"),
            Run("converted-file", "tf", "cpu", "float32", 12.25, label="tf")]
    comparisons = [Comparison("torch", "tf", "logits", 1e-7, 0.0, True),
                   Comparison("torch", "tf", "hidden_states.0", np.inf, np.inf, False)]
    assert _report("embeddings", comparisons, runs).to_text() == "\n".join([
        "parity of head pretraining on cpu, float32; inputs: random",
        "tolerance: the rule",
        "",
        "run    checkpoint      backend  device  seconds  result",
        "torch  original        torch    cpu     1.50     ok",
        "tf     converted-file  tf       cpu     12.25    ok",
        "",
        "max |a - b| of each output, each run against its reference; FAIL: over tolerance",
        "output           tf",
        "logits           1.00e-07",
        "hidden_states.0  inf FAIL",
        "",
        "FAILED: 1 of 2 comparisons exceed tolerance; first divergent layer: embeddings",
        ""])


def test_json_has_no_infinity():
    comparisons = [Comparison("torch", "tf", "logits", np.inf, np.inf, False),
                   Comparison("torch", "tf", "sop_logits", 0.25, 0.5, True)]
    text = _report(None, comparisons).to_json()

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    data = json.loads(text, parse_constant=refuse)
    assert [(c["max_abs_diff"], c["max_rel_diff"], c["passed"]) for c in data["comparisons"]] == \
        [(None, None, False), (0.25, 0.5, True)]
    assert text.endswith("}\n") and text.startswith('{\n  "passed": false')


def test_every_output_is_compared_past_a_missing_or_reshaped_one_and_named():
    b = {k: v for k, v in A.items() if k != "logits"}
    b["hidden_states.0"] = np.zeros(4)
    out = compare_outputs("ref", A, "run", b, 1e-5, 1e-5)
    assert [(c.a, c.b, c.output, c.passed) for c in out] == [
        ("ref", "run", "logits", False), ("ref", "run", "hidden_states.0", False),
        ("ref", "run", "hidden_states.1", True), ("ref", "run", "hidden_states.2", True)]
    assert [c.note for c in out] == ["missing in run", "shape [4] vs [3]", None, None]
    same = compare_outputs("ref", {"x": np.zeros((0,))}, "run", {"x": np.zeros((0,))}, 0, 0)[0]
    assert (same.a, same.b, same.output, same.max_abs_diff, same.max_rel_diff) == ("ref", "run", "x", 0.0, 0.0)
    nan_ref = compare_outputs("ref", {"x": np.array([np.nan, np.nan])}, "run", {"x": np.array([np.nan, 1.0])}, 1, 1)[0]
    assert not nan_ref.passed and nan_ref.max_rel_diff == np.inf  # max|a| of an all-NaN reference is 0
    half = compare_outputs("ref", {"x": np.array([0.5])}, "run", {"x": np.array([0.75])}, 1, 1)[0]
    assert half.max_rel_diff == 0.5  # relative to max|a| even below 1
    precise = compare_outputs("ref", {"x": np.array([1.0], np.float32)}, "run",
                              {"x": np.array([1.0 + 2 ** -23], np.float32)}, 0, 0)[0]
    assert precise.max_abs_diff == 2 ** -23 and not precise.passed


def test_default_tolerance_scales_both_parts():
    from albert_bridge.config import AlbertConfig
    from albert_bridge.parity import default_tolerance

    big = AlbertConfig(hidden_size=64, num_attention_heads=4, intermediate_size=800, num_hidden_layers=1)
    assert default_tolerance("float32", big) == pytest.approx((2e-5, 2e-5))  # sqrt(800 * 1 / 200) = 2


def test_input_refusals_name_the_file_and_the_input():
    def refusal(inputs, head=HeadKind.BASE, positions=8):
        with pytest.raises(BridgeError) as info:
            check_job_inputs(inputs, head, 99, positions, 2, "in.npz")
        return str(info.value)

    ids = np.zeros((1, 8), np.int64)
    assert refusal({}) == "in.npz: no input_ids"
    assert refusal({"input_ids": ids[0]}).startswith("in.npz: tensor 'input_ids': input_ids must be a non-empty")
    assert refusal({"input_ids": ids}, positions=7) == \
        "in.npz: tensor 'input_ids': sequence length 8 exceeds max_position_embeddings 7"
    assert refusal({"input_ids": ids, "attention_mask": ids[:, :3]}).startswith("in.npz: tensor 'attention_mask': ")
    assert refusal({"input_ids": ids, "labels": ids}) == \
        "in.npz: unknown inputs labels (expected input_ids, attention_mask, token_type_ids)"
    assert check_job_inputs({"input_ids": ids.astype(np.uint8)}, HeadKind.BASE, 99, 8, 2, "x")["input_ids"].dtype \
        == np.int64  # unsigned ids are ids too


def test_backend_names():
    from albert_bridge.parity.backends import BACKENDS, DEFAULT_BACKENDS, parse_backends

    assert parse_backends(None) == list(DEFAULT_BACKENDS) and parse_backends("all") == list(BACKENDS)
    assert parse_backends(" torch , numpy,torch") == ["torch", "numpy"]
    with pytest.raises(ValueError, match=r"^unknown backend 'nope, nada' \(known: torch, tf, flax, .*, or all\)$"):
        parse_backends("torch,nope,nada")
    with pytest.raises(ValueError, match=r"^unknown backend \[\] \(known: "):
        parse_backends([])


# ---- the harness's own edges: labels, golden files, devices, and the NumPy reference's inputs -----------------------

def test_several_sources_are_labelled_by_their_position():
    from albert_bridge.parity.harness import _plan

    assert _plan(["a", "b"], ["numpy", "torch"], None) == [
        ("a", "numpy", "src1:numpy"), ("a", "torch", "src1:torch"), ("b", "numpy", "src2:numpy"),
        ("b", "torch", "src2:torch")]
    assert _plan("a", ["numpy"], None) == [("a", "numpy", "numpy")]


def test_golden_files_that_cannot_be_read_say_why(tmp_path):
    import numpy as np

    from albert_bridge.errors import BridgeError
    from albert_bridge.parity.harness import load_expected

    with pytest.raises(BridgeError) as caught:
        load_expected(tmp_path / "missing.npz")
    assert str(caught.value) == f"{tmp_path / 'missing.npz'}: file not found"
    np.savez(tmp_path / "bad.npz", **{"input/input_ids": np.zeros((1, 2)), "output/x": np.zeros(1),
                                      "meta": np.asarray("{not json")})
    with pytest.raises(BridgeError) as caught:
        load_expected(tmp_path / "bad.npz")
    assert str(caught.value) == f"{tmp_path / 'bad.npz'}: its metadata is not JSON"


def test_saved_outputs_name_the_run_they_came_from(tmp_path):
    from albert_bridge.parity import check
    from albert_bridge.parity.harness import load_expected
    from tests.helpers import FIXTURE

    check(FIXTURE, ["numpy"], save_outputs_to=tmp_path / "golden.npz")
    _, outputs, meta = load_expected(tmp_path / "golden.npz")
    assert meta == {"checkpoint": str(FIXTURE), "backend": "numpy", "head": "pretraining", "device": "cpu",
                    "dtype": "float32"}
    assert "prediction_logits" in outputs


def test_an_unknown_device_names_the_known_ones():
    from albert_bridge.parity import check
    from tests.helpers import FIXTURE

    with pytest.raises(ValueError) as caught:
        check(FIXTURE, ["numpy"], device="gpu")
    assert str(caught.value) == "unknown device 'gpu' (expected one of: cpu, cuda, tpu)"


@pytest.mark.torch
def test_the_numpy_reference_reads_the_mask_and_the_token_types():
    """The float64 reference the harness and ONNX validation trust, against transformers 4.57 on a padded
    two-segment batch (every input changes the result)."""
    pytest.importorskip("torch")
    import torch
    import transformers

    from albert_bridge import numpy_forward
    from albert_bridge.formats import load
    from albert_bridge.testing import make_inputs
    from tests.helpers import FIXTURE, assert_close

    ckpt = load(FIXTURE)
    batch = make_inputs(ckpt.head, vocab_size=ckpt.config.vocab_size)
    theirs = transformers.AlbertForPreTraining.from_pretrained(FIXTURE).eval()
    with torch.no_grad():
        out = theirs(**{k: torch.from_numpy(v) for k, v in batch.items()})
    ours = numpy_forward.forward(ckpt, batch, output_hidden_states=False)
    assert_close(ours, {"prediction_logits": out.prediction_logits.numpy(), "sop_logits": out.sop_logits.numpy()},
                 atol=1e-4, scaled=True)


def test_worker_environments(monkeypatch):
    """JAX is pinned to the CPU only for a Flax run on the CPU (a cuda run must see the GPU); the reference peer
    is refused, with the reason, once transformers has no such classes."""
    import importlib.metadata

    from albert_bridge.parity import BACKENDS

    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    assert BACKENDS["flax"].environment("cpu")["JAX_PLATFORMS"] == "cpu"
    assert "JAX_PLATFORMS" not in BACKENDS["flax"].environment("cuda")
    assert "JAX_PLATFORMS" not in BACKENDS["torch"].environment("cpu")
    pytest.importorskip("transformers")
    real = importlib.metadata.version
    if BACKENDS["hf-tf"].missing() is None:  # transformers 4.x with its TF classes usable here
        monkeypatch.setattr(importlib.metadata, "version",
                            lambda name: "5.0.1" if name == "transformers" else real(name))
        assert BACKENDS["hf-tf"].missing() == "transformers 5.0.1 has no tf classes (they ended with 4.x)"


def test_a_head_the_backend_cannot_run_is_skipped_before_any_worker_starts(tmp_path):
    """keras-hub has no pre-training task: the run is skipped with the worker's message, and no keras-hub worker (a
    TensorFlow + keras-hub import) is started to say so; the numpy run beside it still runs."""
    from albert_bridge.parity.harness import WorkerPool

    get_format("safetensors").save(make_checkpoint(HeadKind.PRETRAINING), tmp_path)
    with WorkerPool() as pool:
        report = check(runs=[(tmp_path, "numpy"), (tmp_path, "keras-hub")], pool=pool, seq_len=8)
        started = set(pool._workers)
    assert [(r.backend, r.ok, r.skipped) for r in report.runs] == [
        ("numpy", True, None), ("keras-hub", False, "keras-hub has no task for head pretraining")]
    assert started == {("torch", "cpu")}  # numpy runs in the PyTorch environment's worker


def test_backends_of_one_environment_share_a_worker_and_keras_3_never_meets_tf_keras():
    """Issue 23: PyTorch, ONNX Runtime and NumPy run in one worker (PyTorch and transformers imported once), ours
    and transformers' Flax in another; Keras 3 (tf, tflite, keras-hub) and tf-keras (transformers' TF classes) are
    one process-wide `tf.keras` each, so they never share."""
    from albert_bridge.parity.backends import PROCESSES

    worker = {name: b.worker for name, b in BACKENDS.items()}
    assert worker["torch"] == worker["hf-torch"] == worker["onnx"] == worker["numpy"] == "torch"
    assert worker["flax"] == worker["hf-flax"] == "jax"
    assert worker["tf"] == worker["tflite"] == worker["keras-hub"] == "keras-3" != worker["hf-tf"]
    keras_3, tf_keras = PROCESSES["keras-3"].environment("cpu"), PROCESSES["tf-keras"].environment("cpu")
    assert "TF_USE_LEGACY_KERAS" not in keras_3 and tf_keras["TF_USE_LEGACY_KERAS"] == "1"
    # transformers in the PyTorch worker sees PyTorch only (its TF and Flax classes would import those frameworks)
    assert {k: PROCESSES["torch"].environment("cpu")[k] for k in ("USE_TORCH", "USE_TF", "USE_FLAX")} == \
        {"USE_TORCH": "1", "USE_TF": "0", "USE_FLAX": "0"}
    # a backend registered without a process gets a plain one of its own
    assert Backend("mine", "numpy", "test", ()).worker == "mine"


def test_a_worker_that_hangs_fails_its_own_run_and_the_runs_queued_behind_it_go_to_a_fresh_worker(tmp_path):
    """Backends share a worker, so a run that hangs (or kills its process) must not take the others with it: the
    hanging job times out alone and the NumPy job queued behind it in the same worker runs in a new one."""
    import os

    from albert_bridge.parity.harness import WorkerPool

    get_format("safetensors").save(make_checkpoint(HeadKind.BASE), tmp_path / "ckpt")
    np.savez(tmp_path / "inputs.npz", **make_inputs(HeadKind.BASE, batch=1, seq_len=4))
    os.mkfifo(tmp_path / "never-written")  # reading it blocks: the worker hangs in its job
    hanging = Job("torch", str(tmp_path / "ckpt"), "base", str(tmp_path / "never-written"), str(tmp_path / "a"))
    queued = Job("numpy", str(tmp_path / "ckpt"), "base", str(tmp_path / "inputs.npz"), str(tmp_path / "b"))
    answers = {}
    with WorkerPool() as pool:
        pool.run_all([("torch", "cpu", hanging), ("numpy", "cpu", queued)], 5.0,
                     lambda index, answer, seconds: answers.__setitem__(index, answer))
        assert len(pool._workers) == 1  # one worker ran both, the second a fresh one
    assert answers[0]["error"].startswith("worker timed out after 5 s")
    assert answers[1]["error"] is None and answers[1]["skipped"] is None
    assert set(read_outputs(tmp_path / "b", answers[1]["outputs"])) == {
        "last_hidden_state", "pooler_output", *(f"hidden_states.{i}" for i in range(6))}


def test_comparisons_made_as_runs_arrive_come_out_in_the_plan_order_whatever_the_arrival_order():
    """Runs are compared as they arrive (issue 23), against the first run that succeeded once every run before it
    has ended: in whatever order they arrive -- the reference last, a failed first run -- the report lists the same
    comparisons, in the plan's order, as comparing them all at the end (reference ones first, then the golden)."""
    import itertools

    from albert_bridge.parity.harness import _Comparisons

    rng = np.random.default_rng(0)
    base = {"logits": rng.normal(size=(2, 3, 7)), "hidden_states.0": rng.normal(size=(2, 3, 4))}
    outputs = {name: {k: v + rng.normal(scale=1e-6 * i, size=v.shape) for k, v in base.items()}
               for i, name in enumerate(["first", "a", "b", "c"])}
    golden = ({}, base)

    def report_of(order, failed=()):
        report = Report(atol=1e-5, rtol=1e-5, device="cpu", dtype="float32", head="masked-lm", inputs="test")
        report.runs = [Run("ckpt", "numpy", "cpu", "float32", label=name) for name in outputs]
        comparisons, arrived = _Comparisons(report, golden), {}
        for name in order:
            run = next(r for r in report.runs if r.label == name)
            run.seconds = 1.0
            if name in failed:
                run.error = "worker exited"
            else:
                arrived[name] = outputs[name]
            comparisons.arrived(run, arrived)
        comparisons.finish(arrived)
        return [(c.a, c.b, c.output, c.max_abs_diff) for c in report.comparisons]

    for failed in ((), ("first",)):
        expected = report_of(list(outputs), failed)
        reference = "a" if failed else "first"
        assert [(a, b) for a, b, *_ in expected][:2] == [(reference, "b" if failed else "a")] * 2
        assert expected[-1][0] == "expected"
        for order in itertools.permutations(outputs):
            assert report_of(order, failed) == expected, order
