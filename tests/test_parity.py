"""The equivalence harness (`albert-bridge parity`, `albert_bridge.parity.check`): comparisons, the first divergent
layer, skipped backends, golden outputs, inputs, reports (JSON schema, JUnit, Markdown), the pytest fixture.

Most runs use the PyTorch backend (fast to start); tests/test_parity_frameworks.py runs every head on every backend.
"""

import importlib.util
import json
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from albert_bridge.config import AlbertConfig
from albert_bridge.errors import BridgeError
from albert_bridge.formats import get_format
from albert_bridge.parity import BACKENDS, Backend, WorkerPool, check, default_tolerance
from albert_bridge.parity.compare import compare_outputs, first_divergent_layer
from albert_bridge.parity.report import SCHEMA_PATH
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint, make_inputs, tiny_config
from tests.helpers import ROOT
from tests.helpers import cli, one_line_error, save_checkpoint

torch = pytest.importorskip("torch")
jsonschema = pytest.importorskip("jsonschema")

SCHEMA = json.loads(SCHEMA_PATH.read_text())


@pytest.fixture(scope="module")
def pool():
    with WorkerPool() as shared:
        yield shared


@pytest.fixture
def original(tmp_path):
    """A tiny pretraining checkpoint (L=5 layers, G=2 groups: layers 0-2 run group 0, layers 3-4 group 1)."""
    return save_checkpoint(tmp_path / "original", HeadKind.PRETRAINING, seed=3)


def perturbed_copy(original, tmp_path, name: str, native: str, amount: float = 1e-2):
    """A copy of `original` with every third element of one tensor (by its model.safetensors name) moved by
    `amount` (not all of them: a LayerNorm right after would remove a constant shift)."""
    target = tmp_path / name
    shutil.copytree(original, target)
    tensors = load_file(target / "model.safetensors")
    tensor = tensors[native].copy()
    tensor.reshape(-1)[::3] += np.float32(amount)
    tensors[native] = tensor
    save_file(tensors, target / "model.safetensors", metadata={"format": "pt"})
    return target


def validate(report_json: dict) -> None:
    jsonschema.validate(report_json, SCHEMA)


# --- the rule --------------------------------------------------------------------------------------------------------
def test_comparison_rule_and_first_divergent_layer():
    a = {"logits": np.array([10.0, -2.0]), "hidden_states.0": np.zeros(3), "hidden_states.1": np.ones(3)}
    same = compare_outputs("a", a, "b", {k: v.copy() for k, v in a.items()}, 1e-5, 1e-5)
    assert all(c.passed and c.max_abs_diff == 0 for c in same) and first_divergent_layer(same) is None
    # the allowance is atol + rtol * max|a|: 1e-5 + 1e-5 * 10 = 1.1e-4 for these logits
    near = compare_outputs("a", a, "b", {**a, "logits": a["logits"] + [1.0e-4, 0]}, 1e-5, 1e-5)
    assert all(c.passed for c in near)
    far = compare_outputs("a", a, "b", {**a, "logits": a["logits"] + [1.2e-4, 0]}, 1e-5, 1e-5)
    assert [c.output for c in far if not c.passed] == ["logits"] and first_divergent_layer(far) == "head"
    assert far[0].max_rel_diff == pytest.approx(1.2e-5)
    layer = compare_outputs("a", a, "b", {**a, "hidden_states.1": a["hidden_states.1"] * 2}, 1e-5, 1e-5)
    assert first_divergent_layer(layer) == 0
    embeddings = compare_outputs("a", a, "b", {**a, "hidden_states.0": a["hidden_states.0"] + 1}, 1e-5, 1e-5)
    assert first_divergent_layer(embeddings) == "embeddings"
    nan = compare_outputs("a", a, "b", {**a, "logits": np.array([np.nan, -2.0])}, 1e-5, 1e-5)
    assert not nan[0].passed and nan[0].max_abs_diff == np.inf
    missing = compare_outputs("a", a, "b", {k: v for k, v in a.items() if k != "logits"}, 1e-5, 1e-5)
    assert not missing[0].passed and missing[0].note == "missing in b"
    shape = compare_outputs("a", a, "b", {**a, "logits": np.zeros(3)}, 1e-5, 1e-5)
    assert not shape[0].passed and "shape" in shape[0].note


def test_default_tolerance_grows_with_the_model_and_loosens_with_the_dtype():
    tiny = default_tolerance("float32", tiny_config())
    assert tiny == (1e-5, 1e-5)
    base = default_tolerance("float32", AlbertConfig(hidden_size=768, num_attention_heads=12, intermediate_size=3072,
                                                     num_hidden_layers=12))
    assert base[0] == pytest.approx(1e-5 * np.sqrt(3072 * 12 / 200))
    assert default_tolerance("bfloat16", tiny_config())[0] > default_tolerance("float16", tiny_config())[0] > tiny[0]
    assert default_tolerance("bfloat16", tiny_config()) == default_tolerance("bfloat16", AlbertConfig())


# --- runs ------------------------------------------------------------------------------------------------------------
def test_identical_files_pass_with_every_output_compared(original, tmp_path, pool):
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    report = check([original, copy], "torch", pool=pool)
    assert report.passed and report.first_divergent_layer is None
    config = make_checkpoint(HeadKind.PRETRAINING).config
    outputs = {c.output for c in report.comparisons}
    assert outputs == {"prediction_logits", "sop_logits", *(f"hidden_states.{i}" for i in
                                                           range(config.num_hidden_layers + 1))}
    assert all(c.max_abs_diff == 0.0 for c in report.comparisons)  # same backend, same bytes
    validate(report.to_dict())
    run = report.runs[0]
    assert run.seconds > 0 and run.load_seconds > 0 and run.forward_seconds > 0 and run.ran_on == "cpu"


def test_perturbed_group_1_fails_at_the_first_layer_that_runs_group_1(original, tmp_path, capsys):
    config = make_checkpoint(HeadKind.PRETRAINING).config
    first_of_group_1 = min(i for i in range(config.num_hidden_layers) if config.group_of_layer(i) == 1)
    assert first_of_group_1 == 3  # L=5, G=2: layers 0-2 run group 0
    bad = perturbed_copy(original, tmp_path, "bad-group-1",
                         "albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.bias")
    code, out, err = cli(capsys, "parity", original, bad, "--backends", "torch", "--json", tmp_path / "r.json")
    assert code == 1, err
    report = json.loads((tmp_path / "r.json").read_text())
    validate(report)
    assert report["passed"] is False and report["first_divergent_layer"] == first_of_group_1
    failing = {c["output"] for c in report["comparisons"] if not c["passed"]}
    assert "hidden_states.3" not in failing and "hidden_states.4" in failing  # hidden state i+1 = layer i's output
    assert "first divergent layer: 3" in out and "FAIL" in out


def test_perturbed_embedding_says_embeddings_and_a_perturbed_head_says_head(original, tmp_path, pool):
    bad = perturbed_copy(original, tmp_path, "bad-embedding", "albert.embeddings.word_embeddings.weight")
    report = check([original, bad], "torch", pool=pool)
    assert not report.passed and report.first_divergent_layer == "embeddings"
    validate(report.to_dict())
    bad_head = perturbed_copy(original, tmp_path, "bad-head", "sop_classifier.classifier.bias")
    report = check([original, bad_head], "torch", pool=pool)
    assert not report.passed and report.first_divergent_layer == "head"
    assert [c.output for c in report.failures()] == ["sop_logits"]


def test_a_difference_below_tolerance_passes_and_atol_can_tighten_it(original, tmp_path, pool):
    slightly = perturbed_copy(original, tmp_path, "slightly", "sop_classifier.classifier.bias", amount=2e-6)
    assert check([original, slightly], "torch", pool=pool).passed
    strict = check([original, slightly], "torch", atol=1e-7, rtol=0, pool=pool)
    assert not strict.passed and strict.atol == 1e-7 and strict.rtol == 0


def test_skipped_backends_are_reported_never_a_crash(original, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(BACKENDS, "torch-next", Backend("torch-next", "torch", "not installed here",
                                                        ("torch", "no_such_module_for_albert")))
    report = check(original, ["torch", "torch-next"])
    assert report.runs[1].skipped == "not installed: no_such_module_for_albert"
    assert not report.compared and not report.passed and "NOTHING COMPARED" in report.verdict()
    validate(report.to_dict())
    if not torch.cuda.is_available():  # a CPU-only machine: every run skipped, one line, exit 3
        code, out, err = cli(capsys, "parity", original, "--backends", "torch", "--device", "cuda",
                             "--junit", tmp_path / "r.xml", "--json", tmp_path / "r.json")
        assert code == 3
        one_line_error(err, "nothing to compare", "torch skipped: no CUDA device visible to torch")
        report = json.loads((tmp_path / "r.json").read_text())
        validate(report)
        assert report["runs"][0]["skipped"] == "no CUDA device visible to torch"
        suite = ET.parse(tmp_path / "r.xml").getroot()
        assert suite.get("skipped") == "1" and suite.find(".//skipped") is not None


def test_device_code_path_runs_emulated_on_the_cpu(original, capsys, tmp_path):
    backends = "torch,onnx,numpy" if importlib.util.find_spec("onnxruntime") else "torch,numpy"
    code, out, err = cli(capsys, "parity", original, "--backends", backends, "--device", "cuda", "--emulate-device",
                         "--expect", _golden(original, tmp_path, capsys), "--json", tmp_path / "r.json")
    assert code == 0, out + err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["device"] == "cuda" and report["passed"] and report["comparisons"]
    ran_on = {r["backend"]: r["ran_on"] for r in report["runs"]}
    assert ran_on["torch"] == "cpu (emulating cuda)" and ran_on["numpy"] == "cpu (float64)", ran_on
    if "onnx" in ran_on:
        assert ran_on["onnx"] == "cpu (emulating cuda)"
    # without the emulation, on a machine without the device: the NumPy reference says why it cannot run there
    if not torch.cuda.is_available():
        report = check(original, "numpy", device="cuda")
        assert report.runs[0].skipped == "the NumPy reference runs on the CPU only, not cuda"


def _golden(original, tmp_path, capsys):
    golden = tmp_path / "golden.npz"
    if not golden.exists():
        code, out, err = cli(capsys, "parity", original, "--backends", "torch", "--save-outputs", golden,
                             "--seq-len", "11", "--batch", "2")
        assert code == 0 and f"saved the outputs of torch to {golden}" in out, err  # the point of this call
    return golden


def test_expect_catches_a_changed_output_and_reuses_the_saved_inputs(original, tmp_path, capsys):
    golden = _golden(original, tmp_path, capsys)
    saved = np.load(golden)
    assert saved["input/input_ids"].shape == (2, 11) and "output/prediction_logits" in saved.files
    code, out, err = cli(capsys, "parity", original, "--backends", "torch", "--expect", golden)
    assert code == 0, out + err
    assert "PASSED" in out and "inputs: those of" in out
    changed = perturbed_copy(original, tmp_path, "changed", "albert.encoder.albert_layer_groups.0."
                                                            "albert_layers.1.attention.dense.bias")
    code, out, err = cli(capsys, "parity", changed, "--backends", "torch", "--expect", golden,
                         "--json", tmp_path / "r.json")
    assert code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["first_divergent_layer"] == 0 and {c["a"] for c in report["comparisons"]} == {"expected"}
    # other inputs than the golden file's are refused
    code, out, err = cli(capsys, "parity", original, "--backends", "torch", "--expect", golden, "--seq-len", "11",
                         "--inputs", _inputs_file(tmp_path, seq_len=11))
    assert code == 3
    one_line_error(err, "golden.npz", "inputs differ")


def _inputs_file(tmp_path, **kwargs):
    path = tmp_path / "inputs.npz"
    np.savez(path, **make_inputs(HeadKind.PRETRAINING, vocab_size=99, seed=9, **kwargs))
    return path


def test_inputs_from_a_file_and_bad_inputs(original, tmp_path, capsys, pool):
    report = check(original, "torch", inputs=_inputs_file(tmp_path, batch=4, seq_len=7), expect=None, pool=pool,
                   save_outputs_to=tmp_path / "out.npz")
    assert report.runs[0].ok and np.load(tmp_path / "out.npz")["input/input_ids"].shape == (4, 7)
    np.savez(tmp_path / "big.npz", input_ids=np.full((1, 5), 500))
    code, out, err = cli(capsys, "parity", original, "--inputs", tmp_path / "big.npz")
    assert code == 3
    one_line_error(err, "big.npz", "input_ids", "[0, 99)")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    code, out, err = cli(capsys, "parity", original, "--inputs", tmp_path / "junk.npz")
    assert code == 3
    one_line_error(err, "junk.npz")
    code, out, err = cli(capsys, "parity", tmp_path / "nowhere")
    assert code == 3
    one_line_error(err, "nowhere")
    code, out, err = cli(capsys, "parity", original, "--backends", "torch,nope")
    assert code == 2 and "nope" in err


def test_text_is_tokenized_with_the_tokenizer_beside_the_checkpoint(tmp_path, pool):
    directory = tmp_path / "with-tokenizer"
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=4, config=tiny_config(vocab_size=1200)),
                                   directory)
    shutil.copyfile(ROOT / "fixtures" / "tokenizer" / "spiece.model", directory / "spiece.model")
    report = check(directory, "torch", texts=["The quick brown fox.", "A second, longer sentence with 1,000 words"],
                   save_outputs_to=tmp_path / "o.npz", pool=pool)
    assert report.runs[0].ok, report.runs[0].error
    ids = np.load(tmp_path / "o.npz")["input/input_ids"]
    from albert_bridge import AlbertTokenizer

    expected = AlbertTokenizer.from_pretrained(directory)(["The quick brown fox."])["input_ids"][0]
    assert ids.shape[0] == 2 and list(ids[0][:len(expected)]) == expected
    with pytest.raises(BridgeError, match="needs a tokenizer"):
        check(ROOT / "fixtures" / "tiny-albert", "torch", texts=["x"], pool=pool)


def test_reports_json_schema_junit_and_markdown(original, tmp_path, capsys):
    bad = perturbed_copy(original, tmp_path, "bad", "albert.encoder.albert_layer_groups.1.albert_layers.1.ffn.bias")
    paths = {ext: tmp_path / f"report.{ext}" for ext in ("json", "xml", "md")}
    code, out, err = cli(capsys, "parity", original, bad, "--backends", "torch", "--json", paths["json"],
                         "--junit", paths["xml"], "--markdown", paths["md"])
    assert code == 1
    report = json.loads(paths["json"].read_text())
    validate(report)
    suite = ET.parse(paths["xml"]).getroot()
    cases = suite.findall(".//testcase")
    assert len(cases) == len(report["comparisons"])
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == sum(not c["passed"] for c in report["comparisons"]) == int(suite.get("failures")) > 0
    assert {c.get("name") for c in failed} == {c["output"] for c in report["comparisons"] if not c["passed"]}
    markdown = paths["md"].read_text()
    assert markdown.startswith("### ALBERT parity: FAILED") and "| output |" in markdown
    assert "first divergent layer: 3" in markdown
    with pytest.raises(jsonschema.ValidationError):  # the schema is a real check
        validate({**report, "first_divergent_layer": "somewhere"})


def test_assert_parity_raises_an_assertion_with_the_report(original, tmp_path, pool):
    from albert_bridge.parity import ParityFailure, assert_parity

    bad = perturbed_copy(original, tmp_path, "bad", "albert.pooler.bias")
    with pytest.raises(AssertionError) as caught:
        assert_parity([original, bad], "torch", pool=pool)
    assert isinstance(caught.value, ParityFailure) and "pooler" not in str(caught.value).split("\n")[0]
    assert "FAILED" in str(caught.value) and "sop_logits" in str(caught.value)
    assert assert_parity([original, original], "torch", pool=pool).passed


def test_pytest_plugin_fixture(pytester, original):
    """The `assert_parity` fixture, from the installed entry point, in someone else's suite."""
    pytester.makepyfile(test_user=f"""
        def test_passes(assert_parity):
            report = assert_parity([{str(original)!r}, {str(original)!r}])
            assert report.passed

        def test_fails(assert_parity, tmp_path):
            assert_parity({str(original)!r}, expect=tmp_path / "missing.npz")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--albert-parity-backends=torch")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*missing.npz*file not found*"])


def test_text_report_summarises_many_runs_one_row_each():
    from albert_bridge.parity import Report, Run

    runs = [Run("ckpt", f"b{i}", "cpu", "float32", label=f"r{i}") for i in range(9)]
    report = Report(1e-5, 1e-5, "cpu", "float32", "base", "test inputs", runs=runs)
    a = {"logits": np.zeros(2), "hidden_states.0": np.zeros(2)}
    for run in runs[1:]:
        b = {"logits": np.array([0.0, 1e-3 if run.label == "r4" else 1e-7]), "hidden_states.0": np.zeros(2)}
        report.comparisons += compare_outputs("r0", a, run.label, b, 1e-5, 1e-5)
    text = report.to_text()
    rows = [line for line in text.splitlines() if line.startswith("r") and " r0 " in line]
    assert len(rows) == 8 and "1 of 2 FAIL" in next(r for r in rows if r.startswith("r4 "))
    assert "largest at" in text and "FAILED: 1 of 16" in text


def test_explicit_runs_and_their_labels(original, tmp_path, pool):
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    report = check(runs=[(original, "torch", "reference"), (copy / "model.safetensors", "torch"), (copy, "torch")],
                   pool=pool)
    assert [r.label for r in report.runs] == ["reference", "torch:model.safetensors", "torch:copy"]
    assert report.passed and {c.a for c in report.comparisons} == {"reference"}
    twice = check(runs=[(original, "torch"), (original, "torch")], pool=pool)
    assert [r.label for r in twice.runs] == ["torch:original", "torch:original#1"] and twice.passed
    with pytest.raises(ValueError, match="not both"):
        check(original, runs=[(original, "torch")])
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        check(runs=[(original, "nope")])


def test_transformers_backends_read_the_framework_file_itself(original, tmp_path):
    """hf-* runs of a file (or of a directory holding several formats) see only config.json and that file: transformers'
    TF classes would otherwise read a model.safetensors beside tf_model.h5 instead."""
    from albert_bridge.parity.backends import JobResult, _hf_directory

    mixed = tmp_path / "mixed"
    shutil.copytree(original, mixed)
    ckpt = make_checkpoint(HeadKind.PRETRAINING, seed=3)
    get_format("tf").save(ckpt, mixed)
    get_format("flax").save(ckpt, mixed, max_shard_size=50_000)  # sharded: the index and its shards
    for source, framework, expected in (
            (mixed, "tf", ["config.json", "tf_model.h5"]),
            (mixed / "tf_model.h5", "tf", ["config.json", "tf_model.h5"]),
            (mixed / "model.safetensors", "torch", ["config.json", "model.safetensors"]),
            (mixed / "flax_model.msgpack.index.json", "flax", ["config.json", "flax_model-00001-of-00003.msgpack",
                                                                "flax_model-00002-of-00003.msgpack",
                                                                "flax_model-00003-of-00003.msgpack",
                                                                "flax_model.msgpack.index.json"])):
        result = JobResult()
        work = tmp_path / f"work-{len(list(tmp_path.iterdir()))}"
        work.mkdir()
        view = _hf_directory(source, framework, work, HeadKind.PRETRAINING, result)
        assert sorted(p.name for p in view.iterdir()) == expected and result.notes == [], source
        assert all((view / name).resolve() == (mixed / name).resolve() for name in expected)
    result = JobResult()
    converted = _hf_directory(mixed / "model.safetensors", "tf", tmp_path / "work-convert", HeadKind.PRETRAINING,
                              result)  # another framework's file: converted by our adapters, and noted
    assert (converted / "tf_model.h5").is_file() and result.notes == ["read as tf_model.h5 written by albert_bridge"]
