"""The CLI contract: exit codes, one-line errors naming file and tensor, atomic output, no framework on --help."""

import ast
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from albert_bridge.formats import get_format, load
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint
from tests.helpers import FIXTURE, ROOT
from tests.helpers import cli as call
from tests.helpers import one_line_error, save_checkpoint

CLI = [sys.executable, "-m", "albert_bridge"]


def run(*args, cwd=ROOT):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_help_imports_no_framework():
    code = ("import sys\nfrom albert_bridge.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "import albert_bridge\n"
            "heavy = [m for m in ('torch', 'tensorflow', 'jax', 'flax', 'transformers', 'onnx') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_safetensors_conversion_imports_no_framework(tmp_path):
    code = ("import sys\nfrom albert_bridge.convert import convert\n"
            f"convert({str(FIXTURE)!r}, {str(tmp_path / 'o')!r}, ['safetensors', 'canonical'])\n"
            "print('HEAVY', [m for m in ('torch', 'tensorflow', 'jax') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_module_entry_point_and_usage_errors():
    assert run("--help").returncode == 0
    bad = run("convert", FIXTURE, "x", "--to", "nonsense")
    assert bad.returncode == 2 and "nonsense" in bad.stderr
    assert run("convert", FIXTURE).returncode == 2


def test_convert_writes_all_requested_formats(tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = call(capsys, "convert", FIXTURE, out, "--to", "safetensors,pytorch,canonical")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "albert.canonical.safetensors", "config.json", "model.safetensors", "pytorch_model.bin"]
    assert "wrote pytorch" in stdout and err == ""  # no progress bar when stderr is not a terminal
    for fmt in ("safetensors", "pytorch", "canonical"):
        assert load(out, fmt).problems() == []


def test_refuses_non_empty_output_without_force(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    code, _, err = call(capsys, "convert", FIXTURE, out, "--to", "safetensors")
    assert code == 3 and "not empty" in err and err.count("\n") == 1
    assert (out / "precious.txt").read_text() == "keep me"
    code, _, err = call(capsys, "convert", FIXTURE, out, "--to", "safetensors", "--force")
    assert code == 0, err
    assert not (out / "precious.txt").exists() and (out / "model.safetensors").exists()


def test_failure_midway_leaves_nothing(tmp_path, capsys, monkeypatch):
    import albert_bridge.formats.hf_pytorch as hf

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(hf, "save_bin", explode)
    out = tmp_path / "out"
    code, _, err = call(capsys, "convert", FIXTURE, out, "--to", "safetensors,pytorch")
    assert code == 3 and "disk full" in err
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temp dir


def test_failure_with_force_keeps_the_old_output(tmp_path, capsys, monkeypatch):
    import albert_bridge.formats.hf_pytorch as hf

    out = tmp_path / "out"
    assert call(capsys, "convert", FIXTURE, out, "--to", "safetensors")[0] == 0
    before = (out / "model.safetensors").read_bytes()
    monkeypatch.setattr(hf, "save_bin", lambda *a, **k: (_ for _ in ()).throw(OSError("boom")))
    assert call(capsys, "convert", FIXTURE, out, "--to", "pytorch", "--force")[0] == 3
    assert (out / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _copy_fixture(tmp_path):
    return save_checkpoint(tmp_path / "src", HeadKind.PRETRAINING, seed=0)


def test_truncated_safetensors(tmp_path, capsys):
    src = _copy_fixture(tmp_path)
    data = (src / "model.safetensors").read_bytes()
    (src / "model.safetensors").write_bytes(data[: len(data) // 2])
    code, _, err = call(capsys, "convert", src, tmp_path / "out", "--to", "pytorch")
    assert code == 3
    one_line_error(err, "model.safetensors")
    assert not (tmp_path / "out").exists()


def test_garbage_safetensors_header(tmp_path, capsys):
    src = _copy_fixture(tmp_path)
    (src / "model.safetensors").write_bytes(b"\xff" * 64)
    code, _, err = call(capsys, "inspect", src)
    assert code == 3
    one_line_error(err, "model.safetensors")


def test_truncated_bin(tmp_path, capsys):
    src = tmp_path / "src"
    get_format("pytorch").save(make_checkpoint(HeadKind.BASE), src)
    data = (src / "pytorch_model.bin").read_bytes()
    (src / "pytorch_model.bin").write_bytes(data[:-5000])
    code, _, err = call(capsys, "convert", src, tmp_path / "out", "--to", "safetensors")
    assert code == 3
    one_line_error(err, "pytorch_model.bin")


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = "/tmp/albert-bridge-pwned"


def test_hostile_pickle_is_refused_and_never_runs(tmp_path, capsys):
    if os.path.exists(MARKER):
        os.remove(MARKER)
    src = tmp_path / "src"
    get_format("safetensors").save(make_checkpoint(HeadKind.BASE), src)
    (src / "model.safetensors").unlink()
    torch.save({"albert.pooler.weight": torch.zeros(2), "payload": Exploit()}, src / "pytorch_model.bin")
    code, _, err = call(capsys, "convert", src, tmp_path / "out", "--to", "safetensors")
    assert code == 3
    one_line_error(err, "pytorch_model.bin", "refused")
    assert not os.path.exists(MARKER)


def test_non_tensor_value_is_named(tmp_path, capsys):
    src = tmp_path / "src"
    get_format("safetensors").save(make_checkpoint(HeadKind.BASE), src)
    (src / "model.safetensors").unlink()
    torch.save({"albert.pooler.weight": torch.zeros(2), "step": 7}, src / "pytorch_model.bin")
    code, _, err = call(capsys, "inspect", src)
    assert code == 3
    one_line_error(err, "pytorch_model.bin", "'step'")


def test_legacy_non_zip_bin_loads(tmp_path):
    src = tmp_path / "src"
    get_format("pytorch").save(make_checkpoint(HeadKind.BASE), src)
    state = torch.load(src / "pytorch_model.bin", weights_only=True)
    torch.save(state, src / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(src / "pytorch_model.bin")
    assert load(src).problems() == []


def test_mismatched_shape_names_file_and_tensor(tmp_path, capsys):
    from safetensors.numpy import load_file, save_file

    src = _copy_fixture(tmp_path)
    tensors = load_file(src / "model.safetensors")
    tensors["albert.pooler.weight"] = np.zeros((32, 30), np.float32)
    save_file(tensors, src / "model.safetensors", metadata={"format": "pt"})
    code, _, err = call(capsys, "convert", src, tmp_path / "out", "--to", "safetensors")
    assert code == 3
    one_line_error(err, "model.safetensors", "pooler.kernel", "[30, 32]")


def test_bad_config(tmp_path, capsys):
    src = _copy_fixture(tmp_path)
    config = json.loads((src / "config.json").read_text())
    config["hidden_size"] = 30  # not divisible by 4 heads
    (src / "config.json").write_text(json.dumps(config))
    code, _, err = call(capsys, "inspect", src)
    assert code == 3
    one_line_error(err, "config.json", "divisible")
    (src / "config.json").write_text("{not json")
    code, _, err = call(capsys, "inspect", src)
    one_line_error(err, "config.json", "JSON")


def test_missing_source_and_unknown_layout(tmp_path, capsys):
    code, _, err = call(capsys, "inspect", tmp_path / "nowhere")
    assert code == 3
    one_line_error(err, "nowhere")
    (tmp_path / "empty").mkdir()
    code, _, err = call(capsys, "inspect", tmp_path / "empty")
    assert code == 3
    one_line_error(err, "no ALBERT checkpoint")


def test_pending_formats_say_when_they_arrive(tmp_path, capsys):
    from albert_bridge.formats import FORMATS

    pending = [name for name, fmt in FORMATS.items() if not fmt.available]
    for name in pending:
        code, _, err = call(capsys, "convert", FIXTURE, tmp_path / name, "--to", name)
        assert code == 3
        one_line_error(err, "not available yet", "issue")
        assert not (tmp_path / name).exists()


def test_debug_shows_traceback(tmp_path):
    result = run("--debug", "inspect", tmp_path / "nowhere")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_inspect_text_and_json(capsys):
    code, out, _ = call(capsys, "inspect", FIXTURE)
    assert code == 0
    assert "pretraining (AlbertForPreTraining)" in out and "validation  ok" in out
    code, out, _ = call(capsys, "inspect", FIXTURE, "--json")
    info = json.loads(out)
    assert info["format"] == "safetensors" and info["head"] == "pretraining"
    assert info["parameters"] == sum(int(np.prod(t.shape)) for t in load(FIXTURE).tensors.values())
    assert [g["layers"] for g in info["groups"]] == [[0, 1, 2], [3, 4]]
    assert info["dtypes"] == {"float32": 80} and info["problems"] == []


def test_inspect_reports_problems_with_exit_3(tmp_path, capsys):
    from safetensors.numpy import load_file, save_file

    src = _copy_fixture(tmp_path)
    tensors = load_file(src / "model.safetensors")
    del tensors["predictions.bias"]
    save_file(tensors, src / "model.safetensors", metadata={"format": "pt"})
    code, out, _ = call(capsys, "inspect", src, "--json")
    assert code == 3
    assert json.loads(out)["problems"] == [{"tensor": "head.mlm.output_bias", "problem": "missing"}]


def test_head_and_dtype_options(tmp_path, capsys):
    code, out, err = call(capsys, "convert", FIXTURE, tmp_path / "o", "--to", "safetensors", "--head", "base",
                          "--dtype", "float16")
    assert code == 0, err
    back = load(tmp_path / "o")
    assert back.head is HeadKind.BASE and back.dtypes() == {"float16": len(back.tensors)}
    assert json.loads((tmp_path / "o" / "config.json").read_text())["architectures"] == ["AlbertModel"]


def test_sharding_option(tmp_path, capsys):
    code, _, err = call(capsys, "convert", FIXTURE, tmp_path / "o", "--to", "safetensors", "--max-shard-size", "40KB")
    assert code == 0, err
    assert (tmp_path / "o" / "model.safetensors.index.json").is_file()
    assert call(capsys, "convert", FIXTURE, tmp_path / "p", "--to", "pytorch", "--max-shard-size", "lots")[0] == 2


def test_config_option_supplies_missing_config(tmp_path, capsys):
    src = _copy_fixture(tmp_path)
    config = src / "config.json"
    moved = tmp_path / "elsewhere.json"
    config.rename(moved)
    code, _, err = call(capsys, "inspect", src)
    one_line_error(err, "config.json")
    code, _, err = call(capsys, "convert", src, tmp_path / "o", "--to", "safetensors", "--config", moved)
    assert code == 0, err


def test_tokenizer_files_are_carried(tmp_path, capsys):
    src = _copy_fixture(tmp_path)
    (src / "spiece.model").write_bytes(b"not really a model, but carried byte for byte")
    assert call(capsys, "convert", src, tmp_path / "o", "--to", "pytorch")[0] == 0
    assert (tmp_path / "o" / "spiece.model").read_bytes() == (src / "spiece.model").read_bytes()


def test_converter_scripts(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "converters/convert.py", FIXTURE, tmp_path / "o", "--to", "pytorch"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "o" / "pytorch_model.bin").is_file()
    help_text = subprocess.run([sys.executable, "converters/convert_albert_original_tf_checkpoint_to_pytorch.py",
                                "--help"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert "--tf_checkpoint_path" in help_text.stdout and "--albert_config_file" in help_text.stdout


def torch_loads_without_weights_only(source: str) -> list[int]:
    """Lines of calls to torch.load (however it is imported or spelled) without `weights_only=True`."""
    tree = ast.parse(source)
    names = set()  # local names bound to torch.load: `from torch import load as x`, `from torch.serialization ...`
    modules = {"torch"}  # local names bound to the torch module or torch.serialization
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("torch", "torch.serialization"):
            names |= {a.asname or a.name for a in node.names if a.name == "load"}
            modules |= {a.asname or a.name for a in node.names if a.name == "serialization"}
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name in ("torch", "torch.serialization")}
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        is_load = (isinstance(func, ast.Name) and func.id in names) or (
            isinstance(func, ast.Attribute) and func.attr == "load" and ast.unparse(func.value) in
            modules | {"torch.serialization"})
        safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                   for k in node.keywords)
        if is_load and not safe:
            bad.append(node.lineno)
    return bad


def test_every_torch_load_is_weights_only():
    # Guard against a regression to torch.load without weights_only anywhere in the library, however it is written.
    found = {str(path): lines for path in (ROOT / "albert_bridge").rglob("*.py")
             if (lines := torch_loads_without_weights_only(path.read_text()))}
    assert found == {}
    assert torch_loads_without_weights_only("import torch\ntorch.load(\n    f,\n    map_location='cpu')\n") == [2]
    assert torch_loads_without_weights_only("from torch import load as read\nread(f, weights_only=False)") == [2]
    assert torch_loads_without_weights_only("import torch.serialization as s\ns.load(f)") == [2]
    assert torch_loads_without_weights_only("import torch as t\nt.load(f, weights_only=True)") == []


def test_verification_catches_a_corrupted_write(tmp_path, capsys, monkeypatch):
    import albert_bridge.formats.hf_pytorch as hf

    real_write = hf.write_safetensors

    def corrupting_write(path, tensors, metadata):
        real_write(path, tensors, metadata)
        data = bytearray(path.read_bytes())
        data[-3] ^= 0x40  # one bit of the last tensor
        path.write_bytes(bytes(data))

    monkeypatch.setattr(hf, "write_safetensors", corrupting_write)
    code, _, err = call(capsys, "convert", FIXTURE, tmp_path / "out", "--to", "safetensors")
    assert code == 3
    one_line_error(err, "differs after reload")
    assert list(tmp_path.iterdir()) == []
    assert call(capsys, "convert", FIXTURE, tmp_path / "out", "--to", "safetensors", "--no-verify")[0] == 0


def test_tokenizer_is_carried_across_layouts_and_inspected(tmp_path, capsys):
    spiece = ROOT / "fixtures" / "tokenizer" / "spiece.model"
    src = _copy_fixture(tmp_path)
    (src / "spiece.model").write_bytes(spiece.read_bytes())
    code, out, _ = call(capsys, "inspect", src, "--json")
    tok = json.loads(out)["tokenizer"]
    assert tok["vocab_size"] == 1200 and tok["special_token_ids"]["mask_token"] == 4 and tok["do_lower_case"]
    assert tok["kind"] == json.loads(out)["tokenizer_kind"] == "sentencepiece"
    assert call(capsys, "convert", src, tmp_path / "tf1", "--to", "tf1")[0] == 0
    assert (tmp_path / "tf1" / "30k-clean.model").read_bytes() == spiece.read_bytes()
    assert not (tmp_path / "tf1" / "spiece.model").exists()  # one copy, under the original's name
    assert call(capsys, "convert", tmp_path / "tf1", tmp_path / "hf", "--to", "safetensors")[0] == 0
    assert (tmp_path / "hf" / "spiece.model").read_bytes() == spiece.read_bytes()
    code, out, _ = call(capsys, "inspect", tmp_path / "hf")
    assert "tokenizer   sentencepiece, vocab 1200" in out


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.01, 0.3, 0.9999])
def test_truncation_anywhere_is_one_line_exit_3(tmp_path, capsys, fraction):
    for fmt, name in (("safetensors", "model.safetensors"), ("pytorch", "pytorch_model.bin"),
                      ("canonical", "albert.canonical.safetensors")):
        src = tmp_path / fmt
        get_format(fmt).save(make_checkpoint(HeadKind.MASKED_LM, seed=2), src)
        data = (src / name).read_bytes()
        (src / name).write_bytes(data[: int(len(data) * fraction)])
        code, _, err = call(capsys, "convert", src, tmp_path / f"out-{fmt}", "--to", "safetensors")
        assert code == 3, (fmt, err)
        one_line_error(err, name)
        assert not (tmp_path / f"out-{fmt}").exists()


def test_random_header_bytes_never_traceback(tmp_path, capsys):
    rng = np.random.default_rng(0)
    src = _copy_fixture(tmp_path)
    original = (src / "model.safetensors").read_bytes()
    for trial in range(25):
        data = bytearray(original)
        for position in rng.integers(0, 600, size=3):  # the JSON header
            data[position] = int(rng.integers(0, 256))
        (src / "model.safetensors").write_bytes(bytes(data))
        code, _, err = call(capsys, "convert", src, tmp_path / f"o{trial}", "--to", "canonical")
        assert code in (0, 3) and "Traceback" not in err, err
        if code == 3:
            one_line_error(err)


def test_missing_framework_is_named_not_a_traceback(tmp_path):
    code = ("import sys\nsys.modules['torch'] = None\nfrom albert_bridge.cli import main\n"
            f"main(['convert', {str(FIXTURE)!r}, {str(tmp_path / 'o')!r}, '--to', 'pytorch'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 3
    one_line_error(out.stderr, "needs torch", "albert-bridge[torch]")


@pytest.mark.parametrize("fmt", ["safetensors", "canonical", "tf", "flax", "tf1"])
def test_verification_compares_the_layout_written(fmt, tmp_path, capsys, monkeypatch):
    """Read-back verification digests each tensor in the layout the format stores it in (transposed or not): one bit
    flipped inside a kernel's stored bytes, wherever the format put them, stops the conversion."""
    from albert_bridge.arrays import contiguous
    from albert_bridge.formats import Format

    key = "encoder.group.1.inner.0.ffn.intermediate.kernel"  # [32, 40]: safetensors stores it transposed
    ckpt = load(FIXTURE)
    stored = contiguous(get_format(fmt).native_transform(key, ckpt.head).to_native(ckpt.tensors[key].read())).tobytes()
    real_save = Format.save

    def corrupting_save(self, ckpt, directory, max_shard_size=None):
        written = real_save(self, ckpt, directory, max_shard_size)
        hits = [(p, p.read_bytes().find(stored)) for p in sorted(directory.iterdir()) if p.is_file()]
        path, at = next((p, at) for p, at in hits if at >= 0)
        data = bytearray(path.read_bytes())
        data[at + len(stored) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        return written

    monkeypatch.setattr(Format, "save", corrupting_save)
    code, _, err = call(capsys, "convert", FIXTURE, tmp_path / "out", "--to", fmt)
    assert code == 3
    # TF1 bundles carry their own checksum per tensor, which the reader checks first
    one_line_error(err, "checksum mismatch" if fmt == "tf1" else "differs after reload", key if fmt != "tf1" else "")
    assert list(tmp_path.iterdir()) == []
