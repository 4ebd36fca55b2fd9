"""Files from strangers and interrupted conversions: the sharded-checkpoint reader every HF format shares, headers
that lie, NaN/Inf weights, hostile tarballs, and SIGINT/SIGTERM/SIGKILL during a real conversion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from albert_bridge.arrays import arrays_equal
from albert_bridge.checkpoint import LazyTensor
from albert_bridge.atomic import clear_stale_temporaries
from albert_bridge.convert import convert
from albert_bridge.errors import BridgeError
from albert_bridge.formats import get_format, load
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint, official_config
from tests.helpers import ROOT
from tests.helpers import cli, leftovers, one_line_error, save_checkpoint

# --- the shared shard-index reader: one behaviour for every sharded HF format ----------------------------------------
SHARDED = {"safetensors": "model.safetensors.index.json", "pytorch": "pytorch_model.bin.index.json",
           "tf": "tf_model.h5.index.json", "flax": "flax_model.msgpack.index.json"}


def sharded(tmp_path: Path, fmt: str) -> tuple[Path, dict]:
    get_format(fmt).save(make_checkpoint(HeadKind.MASKED_LM, seed=3), tmp_path / "ckpt", max_shard_size=20_000)
    index = tmp_path / "ckpt" / SHARDED[fmt]
    return index, json.loads(index.read_text())


def write_index(index: Path, data: dict) -> None:
    index.write_text(json.dumps(data))


@pytest.mark.parametrize("fmt", SHARDED)
def test_a_listed_tensor_absent_from_its_shard_is_named(tmp_path, fmt):
    index, data = sharded(tmp_path, fmt)
    name, shard = next(iter(data["weight_map"].items()))
    other = next(s for s in data["weight_map"].values() if s != shard)
    data["weight_map"][name] = other  # listed in a shard that does not hold it (the PyTorch reader never checked)
    write_index(index, data)
    with pytest.raises(BridgeError, match=f"listed in {index.name} but not in this shard") as info:
        load(index.parent, fmt)
    assert str(index.parent / other) in str(info.value) and name in str(info.value)


@pytest.mark.parametrize("fmt", SHARDED)
def test_a_tensor_in_two_shards_is_refused(tmp_path, fmt):
    """A second copy used to replace the first silently: which one reached the model was the file's choice."""
    index, data = sharded(tmp_path, fmt)
    shard = sorted(set(data["weight_map"].values()))[1]
    copy = index.parent / f"copy-{shard}"
    copy.write_bytes((index.parent / shard).read_bytes())
    name = next(n for n, s in data["weight_map"].items() if s == shard)
    data["weight_map"][name] = copy.name  # listed once, present in both files
    write_index(index, data)
    with pytest.raises(BridgeError, match=r"in two shards \(also in ") as info:
        load(index.parent, fmt)
    assert shard in str(info.value) and copy.name in str(info.value)


@pytest.mark.parametrize("fmt", SHARDED)
def test_a_missing_shard_is_named(tmp_path, fmt):
    index, data = sharded(tmp_path, fmt)
    shard = sorted(set(data["weight_map"].values()))[1]
    (index.parent / shard).unlink()
    with pytest.raises(BridgeError, match=f"shard {shard} listed in the index is missing"):
        load(index.parent, fmt)


@pytest.mark.parametrize("name", ["../outside/{shard}", "{outside}/{shard}", "sub/{shard}", "sub\\{shard}",
                                  ".{shard}", "..", "", "{shard}\0"])
def test_shard_names_must_stay_in_the_directory(tmp_path, name):
    """Without this check a crafted index loads tensors from anywhere (here: a real shard outside the directory)."""
    index, data = sharded(tmp_path, "safetensors")
    shard = sorted(set(data["weight_map"].values()))[0]
    outside = tmp_path / "outside"
    outside.mkdir()
    for place in (outside, index.parent / "sub"):
        place.mkdir(exist_ok=True)
        (place / shard).write_bytes((index.parent / shard).read_bytes())
    (index.parent / f".{shard}").write_bytes((index.parent / shard).read_bytes())
    crafted = name.format(shard=shard, outside=outside)
    (index.parent / shard).unlink()
    data["weight_map"] = {k: crafted if v == shard else v for k, v in data["weight_map"].items()}
    write_index(index, data)
    with pytest.raises(BridgeError, match="bad shard file name") as info:
        load(index.parent)
    assert str(index) in str(info.value)


def test_an_index_claiming_more_bytes_than_its_shards_hold_is_refused(tmp_path):
    index, data = sharded(tmp_path, "safetensors")
    data["metadata"]["total_size"] = 10**15
    write_index(index, data)
    with pytest.raises(BridgeError, match="index claims 1000000000000000 bytes of tensors, its shards hold"):
        load(index.parent)


# --- NaN and Inf ---------------------------------------------------------------------------------------------------
def with_nonfinite(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    get_format("safetensors").save(make_checkpoint(HeadKind.BASE, seed=4), src)
    tensors = load_file(src / "model.safetensors")
    tensors["pooler.weight"][0, 0] = np.nan  # a base model: no `albert.` prefix
    tensors["embeddings.LayerNorm.bias"][1] = -np.inf
    save_file(tensors, src / "model.safetensors", metadata={"format": "pt"})
    return src


def test_nan_and_inf_are_named_in_a_warning_and_strict_refuses(tmp_path, capsys):
    src = with_nonfinite(tmp_path)
    code, _, err = cli(capsys, "convert", src, tmp_path / "out", "--to", "safetensors")
    assert code == 0
    assert f"warning: NaN or Inf in 2 tensors: {src / 'model.safetensors'}: embeddings.LayerNorm.bias, " \
           f"{src / 'model.safetensors'}: pooler.weight" in err
    code, _, err = cli(capsys, "convert", src, tmp_path / "strict", "--to", "safetensors", "--strict")
    assert code == 3
    one_line_error(err, "model.safetensors", "NaN or Inf", "--strict")
    assert not (tmp_path / "strict").exists()


def test_casting_to_float16_that_overflows_is_caught(tmp_path):
    src = tmp_path / "src"
    ckpt = make_checkpoint(HeadKind.BASE, seed=4)
    big = ckpt.tensors["pooler.bias"].read().copy()
    big[0] = 1e6  # beyond float16's 65504: Inf once cast
    ckpt.tensors["pooler.bias"] = LazyTensor.of(big, "generated: pooler.bias")
    get_format("safetensors").save(ckpt, src)
    result = convert(src, tmp_path / "out", ["safetensors"], dtype="float16")
    assert any("NaN or Inf in 1 tensor: " in w and "model.safetensors: pooler.bias" in w for w in result.warnings)
    with pytest.raises(BridgeError, match="pooler.bias"):
        convert(src, tmp_path / "strict", ["safetensors"], dtype="float16", strict=True)


def test_from_pretrained_maps_weights_without_scanning_them(tmp_path):
    """from_pretrained reads no weight byte it does not need (PyTorch maps them, as transformers does): NaN/Inf are
    convert's to report (a warning; --strict refuses), and the loaded model holds them as they are."""
    torch = pytest.importorskip("torch")
    from albert_bridge.models.albert_torch import AlbertModel

    src = with_nonfinite(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = AlbertModel.from_pretrained(src)
    assert not bool(torch.isfinite(model.pooler.weight).all())


# --- tarballs --------------------------------------------------------------------------------------------------------
def _tar_with(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    from fixtures.tf1.generate import write_checkpoint

    src = write_checkpoint(tmp_path / "src", seed=1, slots=False).parent
    archive = tmp_path / "albert_base_v2.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for file in sorted(src.iterdir()):
            tar.add(file, arcname=f"albert_base/{file.name}")
        tar.addfile(member, __import__("io").BytesIO(data) if member.isfile() else None)
    return archive


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, 0
    return info


@pytest.mark.parametrize("member, why", [
    (_member("../evil.txt"), "a '..' component"),
    (_member("albert_base/../../evil.txt"), "a '..' component"),
    (_member("/etc/evil.txt"), "an absolute path"),
    (_member("albert_base/link.index", tarfile.SYMTYPE, "/etc/passwd"), "a link (to '/etc/passwd')"),
    (_member("albert_base/hard", tarfile.LNKTYPE, "albert_base/albert_config.json"), "a link"),
    (_member("albert_base/fifo", tarfile.FIFOTYPE), "a device or fifo"),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "fifo"])
def test_hostile_tarball_members_are_refused(tmp_path, capsys, member, why):
    archive = _tar_with(tmp_path, member)
    code, _, err = cli(capsys, "convert", archive, tmp_path / "out", "--to", "safetensors")
    assert code == 3
    one_line_error(err, str(archive), repr(member.name), why)
    assert not (tmp_path / "out").exists()


# --- signals ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_source(tmp_path_factory) -> Path:
    """An ALBERT-base-sized checkpoint (47 MB): converting it to five formats takes a few seconds."""
    return save_checkpoint(tmp_path_factory.mktemp("signals") / "src", HeadKind.BASE, config=official_config("base"))


FORMATS = "safetensors,flax,tf1,canonical,tf"


def start(src: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "albert_bridge", "convert", str(src), str(out), "--to", FORMATS,
                             *extra], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def staging_of(out: Path, proc: subprocess.Popen, timeout: float = 60) -> Path:
    """Wait until the conversion writes into its staging directory, then return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        staging = [p for p in out.parent.glob(f".{out.name}.tmp-{proc.pid}-*") if any(p.iterdir())]
        if staging:
            return staging[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    raise AssertionError("the conversion never started writing")


@pytest.mark.parametrize("signum, code, message", [(signal.SIGINT, 130, "error: interrupted"),
                                                    (signal.SIGTERM, 143, "error: terminated")],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_conversion_leaves_nothing(tmp_path, big_source, signum, code, message):
    out = tmp_path / "out"
    proc = start(big_source, out)
    staging_of(out, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == message, err
    assert not out.exists() and leftovers(out) == []


def test_with_force_the_old_output_survives_a_signal(tmp_path, big_source):
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("the old output")
    proc = start(big_source, out, "--force")
    staging_of(out, proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert [p.name for p in out.iterdir()] == ["config.json"] and (out / "config.json").read_text() == "the old output"
    assert leftovers(out) == []


def test_after_sigkill_the_next_run_clears_the_stale_staging_directory(tmp_path, big_source):
    out = tmp_path / "out"
    proc = start(big_source, out)
    staging = staging_of(out, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert staging.is_dir() and not out.exists()  # SIGKILL cannot be handled: the staging directory stays
    convert(big_source, out, ["canonical"])
    assert not staging.exists() and leftovers(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["albert.canonical.safetensors"]


def test_stale_temporaries_of_live_processes_and_other_destinations_are_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    out = tmp_path / "out"
    stale = [tmp_path / f".out.tmp-{dead_pid}-abc", tmp_path / f".out.old-{dead_pid}-def"]
    kept = [tmp_path / f".out.tmp-{os.getpid()}-ghi", tmp_path / f".out2.tmp-{dead_pid}-jkl",
            tmp_path / f".out.tmp-{dead_pid}-x.y"]
    for path in stale + kept:
        path.mkdir()
    (stale[1] / "old").mkdir()
    (stale[1] / "old" / "config.json").write_text("the output a killed --force run had set aside")
    assert sorted(clear_stale_temporaries(out)) == sorted(stale)
    assert all(p.is_dir() for p in kept)
    # The swap died between its two renames: the old output is moved back, not deleted.
    assert (out / "config.json").read_text() == "the output a killed --force run had set aside"


def test_two_conversions_from_one_source_to_different_destinations_at_once(tmp_path, big_source):
    procs = {name: start(big_source, tmp_path / name) for name in ("a", "b")}
    for proc in procs.values():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    a, b = load(tmp_path / "a", "flax"), load(tmp_path / "b", "tf1")
    assert all(arrays_equal(a.tensors[key].read(), b.tensors[key].read()) for key in a.tensors)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
