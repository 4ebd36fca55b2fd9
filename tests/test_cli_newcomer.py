"""The CLI as a newcomer meets it (issue 27): each mistake a new user makes gets the exit code and the one line that
says what to do, and nothing is lost on the way."""

import json
import shutil

import pytest

from albert_bridge.formats import get_format
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint
from tests.helpers import FIXTURE, ROOT
from tests.helpers import cli as call


def only_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def tiny(tmp_path):
    src = tmp_path / "tiny"
    shutil.copytree(FIXTURE, src)
    return src


# --- --force never deletes a source; formats merge into a Hugging Face layout --------------------------------------
def test_dst_that_is_contains_or_is_inside_src_is_refused_even_with_force(tiny, capsys):
    before = sorted(p.name for p in tiny.iterdir())
    for dst, relation, src in ((tiny, "is SRC", tiny), (tiny, "contains SRC", tiny / "model.safetensors"),
                               (tiny / "sub", "is inside SRC", tiny)):
        code, _, err = call(capsys, "convert", src, dst, "--to", "tf", "--force")
        assert code == 3
        assert only_line(err) == (f"error: {dst}: DST {relation}, which a conversion there could overwrite or remove: "
                                  f"write to another directory (albert-bridge convert {src} OUT --to tf)")
    assert sorted(p.name for p in tiny.iterdir()) == before


def test_adding_a_format_keeps_the_others_and_replacing_one_needs_force(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    assert call(capsys, "convert", tiny, out, "--to", "safetensors,flax")[0] == 0
    flax_bytes = (out / "flax_model.msgpack").read_bytes()
    code, _, err = call(capsys, "convert", tiny, out, "--to", "tf")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "flax_model.msgpack", "model.safetensors",
                                                    "tf_model.h5"]
    assert (out / "flax_model.msgpack").read_bytes() == flax_bytes
    code, _, err = call(capsys, "convert", tiny, out, "--to", "tf")
    assert code == 3
    assert only_line(err) == (f"error: {out}: already holds tf weights: --force replaces them (removes tf_model.h5; "
                              "the other formats stay), or choose a new or empty directory")
    code, _, err = call(capsys, "convert", tiny, out, "--to", "tf", "--force")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "flax_model.msgpack", "model.safetensors",
                                                    "tf_model.h5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]  # no staging left behind


def test_merge_replaces_stale_shards_and_reads_back(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    assert call(capsys, "convert", tiny, out, "--to", "safetensors,tf", "--max-shard-size", "100KB")[0] == 0
    assert (out / "model.safetensors.index.json").exists()
    assert call(capsys, "convert", tiny, out, "--to", "safetensors", "--force")[0] == 0
    names = sorted(p.name for p in out.iterdir())
    assert [n for n in names if n.startswith("model")] == ["model.safetensors"]
    assert any(n.startswith("tf_model") for n in names)


def test_not_empty_lists_the_choices_and_what_force_removes(tiny, tmp_path, capsys):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = call(capsys, "convert", tiny, out, "--to", "tf")
    assert code == 3
    assert only_line(err) == (f"error: {out}: output directory is not empty and is not a Hugging Face layout (it "
                              "holds notes.txt): choose a new or empty directory, or --force to replace it (removes "
                              "notes.txt)")
    other = tmp_path / "other"
    get_format("safetensors").save(make_checkpoint(HeadKind.PRETRAINING, seed=1), other)
    code, _, err = call(capsys, "convert", tiny, other, "--to", "tf")
    assert code == 3
    assert only_line(err) == (f"error: {other}: output directory is not empty and holds another model (config.json "
                              "differs in vocab_size): choose a new or empty directory, or --force to replace it "
                              "(removes config.json, model.safetensors)")


def test_dst_named_like_a_weight_file_is_refused(tiny, tmp_path, capsys):
    dst = tmp_path / "dst" / "model.safetensors"
    code, _, err = call(capsys, "convert", tiny, dst, "--to", "safetensors")
    assert code == 3
    assert only_line(err) == (f"error: {dst}: DST is the directory to write into, not a weight file: "
                              f"albert-bridge convert {tiny} {dst.parent} --to safetensors")
    assert not dst.exists()


# --- unknown config keys -----------------------------------------------------------------------------------------
@pytest.fixture
def typo(tiny):
    config = json.loads((tiny / "config.json").read_text())
    config["num_hidden_layer"] = config.pop("num_hidden_layers")
    config["transformers_version"], config["_name_or_path"] = "4.57.6", "albert-base-v2"  # transformers' own keys
    (tiny / "config.json").write_text(json.dumps(config))
    return tiny


def test_unknown_config_key_is_a_warning_with_the_closest_key(typo, capsys):
    code, out, _ = call(capsys, "inspect", typo)
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("warning")] == [
        "warning     unknown config key 'num_hidden_layer' (did you mean num_hidden_layers?): no model reads it "
        "(--strict refuses it)"]
    code, out, _ = call(capsys, "inspect", typo, "--strict")
    assert code == 3
    assert "PROBLEM     config: unknown key 'num_hidden_layer' (did you mean num_hidden_layers?) (refused: --strict)" \
        in out.splitlines()


def test_strict_convert_refuses_unknown_config_keys(typo, tmp_path, capsys):
    code, _, err = call(capsys, "convert", typo, tmp_path / "out", "--to", "tf", "--strict")
    assert code == 3
    assert only_line(err) == (f"error: {typo / 'model.safetensors'}: unknown config key 'num_hidden_layer' (did you "
                              "mean num_hidden_layers?) (refused: --strict)")
    code, _, err = call(capsys, "convert", typo, tmp_path / "out", "--to", "tf")
    assert code == 0 and "warning: unknown config key 'num_hidden_layer' (did you mean num_hidden_layers?)" in err


# --- one meaning per flag ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_anywhere_keeps_the_exit_code(tmp_path, capsys, where):
    args = ["inspect", tmp_path / "nowhere"]
    code, _, err = call(capsys, *(["--debug", *args] if where == "before" else [*args, "--debug"]))
    assert code == 3 and "Traceback" in err
    assert err.rstrip().splitlines()[-1] == f"error: {tmp_path / 'nowhere'}: no such file or directory"


@pytest.mark.parametrize("command", [["convert", "--help"], ["inspect", "--help"], ["parity", "--help"],
                                     ["push", "--help"], ["formats", "--help"]])
def test_every_command_takes_debug_quiet_verbose(capsys, command):
    code, out, _ = call(capsys, *command)
    assert code == 0 and all(flag in out for flag in ("--debug", "-q, --quiet", "-v, --verbose"))


def test_json_takes_a_file_or_stdout(tmp_path, capsys):
    code, out, _ = call(capsys, "inspect", FIXTURE, "--json", "-")
    assert code == 0 and json.loads(out)["format"] == "safetensors"
    code, out, _ = call(capsys, "inspect", FIXTURE, "--json")  # the flag alone, as before: stdout
    assert code == 0 and json.loads(out)["head"] == "pretraining"
    code, out, _ = call(capsys, "inspect", FIXTURE, "--json", tmp_path / "info.json")
    assert code == 0 and json.loads((tmp_path / "info.json").read_text())["format"] == "safetensors"
    assert out.startswith("source")
    code, out, _ = call(capsys, "formats", "--json", "-")
    assert code == 0 and "pt" in {a for f in json.loads(out) for a in f["aliases"]}


def test_format_aliases_and_did_you_mean(tiny, tmp_path, capsys):
    code, out, err = call(capsys, "convert", tiny, tmp_path / "out", "--to", "pt,safetensor,h5,msgpack", "--from", "st")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "config.json", "flax_model.msgpack", "model.safetensors", "pytorch_model.bin", "tf_model.h5"]
    code, _, err = call(capsys, "convert", tiny, tmp_path / "o2", "--to", "pytoch")
    assert code == 2
    assert "Invalid value for '--to': 'pytoch' is not a format (did you mean pytorch?) (choose from safetensors, " \
           "pytorch, keras-hub, tf, flax, tf1, onnx, onnx-int8, tflite, tflite-int8, canonical)" in err


def test_backend_aliases_and_did_you_mean():
    from albert_bridge.parity.backends import parse_backends

    assert parse_backends("pytorch,tensorflow,jax") == ["torch", "tf", "flax"]
    with pytest.raises(ValueError, match=r"unknown backend 'tourch' \(did you mean torch\?\)"):
        parse_backends("tourch")


def test_push_formats_match_its_help(tiny, tmp_path, capsys):
    code, out, _ = call(capsys, "push", "--help")
    assert "safetensors (PyTorch's weights), tf, flax, onnx" in " ".join(out.split())
    for name in ("pytorch", "pt"):
        code, _, err = call(capsys, "push", tiny, "org/name", "--formats", name, "--dry-run", tmp_path / "d")
        assert code == 3
        assert only_line(err) == ("error: format 'pytorch' cannot be published: PyTorch weights are published as "
                                  "model.safetensors (publishable: safetensors, tf, flax, onnx, onnx-int8, tflite, "
                                  "tflite-int8)")


def test_inspect_exits_3_for_every_problem_line(tmp_path, capsys):
    from safetensors.numpy import load_file, save_file

    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    tensors = load_file(src / "model.safetensors")
    del tensors["predictions.bias"], tensors["sop_classifier.classifier.bias"]
    save_file(tensors, src / "model.safetensors", metadata={"format": "pt"})
    code, out, _ = call(capsys, "inspect", src)
    assert code == 3
    assert sum(line.startswith("PROBLEM") for line in out.splitlines()) == 2


# --- truncated files: one wording ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, name", [("safetensors", "model.safetensors"), ("pytorch", "pytorch_model.bin"),
                                       ("tf", "tf_model.h5"), ("flax", "flax_model.msgpack"),
                                       ("canonical", "albert.canonical.safetensors")])
def test_truncated_files_share_one_wording(fmt, name, tmp_path, capsys):
    src = tmp_path / "src"
    get_format(fmt).save(make_checkpoint(HeadKind.PRETRAINING), src)
    data = (src / name).read_bytes()
    (src / name).write_bytes(data[: int(len(data) * 0.9)])
    code, _, err = call(capsys, "inspect", src)
    assert code == 3
    line = only_line(err)
    assert line.startswith(f"error: {src / name}: file is truncated: {int(len(data) * 0.9)} bytes, ")
    assert line.endswith(" (download or convert it again)")
    if fmt in ("safetensors", "tf", "canonical"):  # formats that record their size: exactly what is missing
        assert f", {len(data)} needed" in line


# --- missing checkpoints are OSErrors --------------------------------------------------------------------------------
def test_from_pretrained_on_an_empty_directory_raises_oserror(tmp_path):
    import albert_bridge
    from albert_bridge.errors import NotFound

    for loader in (albert_bridge.AlbertModel, albert_bridge.AlbertTokenizer, albert_bridge.AlbertTokenizerFast,
                   albert_bridge.AlbertConfig):
        with pytest.raises(OSError) as info:
            loader.from_pretrained(tmp_path)
        assert isinstance(info.value, NotFound) and str(tmp_path) in str(info.value)


# --- tokenizer and model vocabularies ------------------------------------------------------------------------------
def test_fixtures_fit_each_other_and_a_mismatch_is_warned(tiny, capsys):
    from albert_bridge.tokenization.files import describe_tokenizer

    assert describe_tokenizer(ROOT / "fixtures" / "tokenizer")["vocab_size"] == json.loads(
        (FIXTURE / "config.json").read_text())["vocab_size"]
    shutil.copy(ROOT / "fixtures" / "tokenizer" / "spiece.model", tiny)
    code, out, _ = call(capsys, "inspect", tiny)
    assert code == 0 and "warning" not in out
    config = json.loads((tiny / "config.json").read_text())
    config["vocab_size"] = 99
    (tiny / "config.json").write_text(json.dumps(config))
    get_format("safetensors").save(make_checkpoint(HeadKind.PRETRAINING), tiny)  # a 99-token model
    code, out, _ = call(capsys, "inspect", tiny)
    assert code == 0
    assert "warning     the tokenizer's vocabulary (1200) differs from the model's vocab_size (99): ids 99 and up " \
           "have no embedding (an IndexError in the model)" in out.splitlines()


# --- parity's legend and "nothing to compare" ------------------------------------------------------------------------
def test_parity_legend_and_nothing_to_compare(capsys):
    from albert_bridge.parity.compare import Comparison
    from albert_bridge.parity.report import Report, Run, nothing_to_compare

    report = Report(atol=1e-5, rtol=1e-5, device="cpu", dtype="float32", head="base", inputs="x")
    report.runs = [Run("m", "torch", "cpu", "float32", label="torch", seconds=1.0),
                   Run("m", "tf", "cpu", "float32", label="tf", skipped="tensorflow is not installed")]
    assert nothing_to_compare(report) == (
        "nothing to compare: only one run completed (torch); tf skipped: tensorflow is not installed (add a backend "
        "with --backends, a second SRC, or --expect golden.npz)")
    report.comparisons = [Comparison("torch", "tf", "logits", 1e-7, 1e-7, True)]
    assert "max |a - b| of each output, each run against its reference" in report.to_text().splitlines()
    report.comparisons.append(Comparison("torch", "tf", "pooled", 1.0, 1.0, False))
    assert "max |a - b| of each output, each run against its reference; FAIL: over tolerance" in \
        report.to_text().splitlines()


def test_one_backend_parity_says_why_nothing_was_compared(capsys):
    code, out, err = call(capsys, "parity", FIXTURE, "--backends", "numpy", "-v")  # rows: a terminal's, or -v
    assert code == 3
    assert err.splitlines()[-1] == (
        "error: nothing to compare: only one run completed (numpy) (add a backend with --backends, a second SRC, or "
        "--expect golden.npz)")
    assert err.splitlines()[0].startswith("run numpy (") and err.splitlines()[0].endswith(": ok")  # progress row
    code, out, err = call(capsys, "parity", FIXTURE, "--backends", "numpy")
    assert err.splitlines() == ["error: nothing to compare: only one run completed (numpy) (add a backend with "
                                "--backends, a second SRC, or --expect golden.npz)"]
