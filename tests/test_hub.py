"""The Hub: `albert-bridge push` and Hub repo ids as sources. Nothing here reaches the real Hub: pushes and
downloads go to a loopback server (tests/hub_server.py) through HF_ENDPOINT, offline tests read a pre-filled
huggingface_hub cache with HF_HUB_OFFLINE=1 and an endpoint nobody listens on."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import albert_bridge.convert
import albert_bridge.publish
from albert_bridge.convert import convert
from albert_bridge.errors import BridgeError, NotYetSupported
from albert_bridge.formats import FORMATS, Format, get_format
from albert_bridge.parity import BACKENDS
from albert_bridge.publish import PIPELINE_TAGS, publish_formats
from albert_bridge.sources import RepoSpec, first_format, parse_repo_id, resolve_source
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint, make_inputs
from tests.helpers import FIXTURE, ROOT
from tests.helpers import card_metadata, cli, one_line_error
from tests.hub_server import TOKEN

pytest.importorskip("huggingface_hub")
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.hub

SPIECE = ROOT / "fixtures" / "tokenizer" / "spiece.model"
NOBODY = "http://127.0.0.1:9"  # the discard port: a connection there is refused


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def converted(src, tmp_path, formats=("safetensors",)) -> dict[str, bytes]:
    """What the conversion alone writes (deterministic bytes), to compare uploads with."""
    target = tmp_path / f"expected-{'-'.join(formats)}"
    if not target.exists():
        convert(src, target, list(formats))
    return files_of(target)


def assert_no_token(*texts, directories=()) -> None:
    for text in texts:
        assert TOKEN not in (text if isinstance(text, str) else text.decode("latin-1"))
    for directory in directories:
        for path in Path(directory).rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


# --- units ---------------------------------------------------------------------------------------------------------
def test_repo_ids_and_the_format_a_repo_is_read_as():
    assert parse_repo_id("org/name") == RepoSpec("org/name") and parse_repo_id("o/n@v1") == RepoSpec("o/n", "v1")
    spec = parse_repo_id("albert/albert-base-v2@refs/pr/3")
    assert (spec.repo_id, spec.revision, str(spec)) == ("albert/albert-base-v2", "refs/pr/3", "albert/albert-base-v2@refs/pr/3")
    for not_a_repo in ("./out/x", "/abs/dir", "a/b/c", "name", "a--b/c", "org/../x", "org/name@", "org/x.git"):
        assert parse_repo_id(not_a_repo) is None, not_a_repo
    # the registry's detection order decides, as for a local directory holding several formats
    assert first_format(["README.md", "tf_model.h5", "model.safetensors"]).name == "safetensors"
    assert first_format(["flax_model-00001-of-00002.msgpack", "flax_model.msgpack.index.json"]).name == "flax"
    assert first_format(["albert_config.json", "model.ckpt-best.index", "model.ckpt-best.data-00000-of-00001"]).name \
        == "tf1"
    assert first_format(["README.md", "vocab.txt"]) is None
    if not get_format("onnx").available:
        with pytest.raises(NotYetSupported, match="ONNX"):
            first_format(["model.onnx", "config.json"])
    assert set(PIPELINE_TAGS) == set(HeadKind)


# --- push ----------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_push_every_framework_then_download_it_back(online, tmp_path, capsys, monkeypatch):
    """One commit with every framework's weights; each file ran on our backend and on transformers 4.57's class of
    its framework (PyTorch, TF, Flax) with the fixture's outputs; what was uploaded downloads back byte for byte."""
    code, out, err = cli(capsys, "push", FIXTURE, "org/tiny-all", "--token", TOKEN, "--license", "apache-2.0")
    assert code == 0, out + err
    assert_no_token(out, err, online.bodies(), directories=[tmp_path])
    auth = [r.headers["authorization"] for r in online.requests if "authorization" in r.headers]
    assert auth and set(auth) == {f"Bearer {TOKEN}"}  # the token travels only where it belongs

    [commit] = [c for c in online.commits if c.repo == "org/tiny-all"]
    published = [f.name for f in FORMATS.values() if f.publish and f.available and f.in_all]
    assert {"safetensors", "tf", "flax"} <= set(published)
    expected = converted(FIXTURE, tmp_path, tuple(published))
    assert sorted(commit.files) == sorted([*expected, "README.md"]) and not commit.create_pr
    assert commit.revision == "main" and commit.summary.endswith("(parity-checked)")
    assert all(commit.files[name] == data for name, data in expected.items())
    lfs_puts = {r.path.rsplit("/", 1)[1] for r in online.requests if r.method == "PUT"}
    assert {hashlib.sha256(expected[n]).hexdigest() for n in ("model.safetensors", "tf_model.h5",
                                                                "flax_model.msgpack")} <= lfs_puts

    card = commit.files["README.md"].decode()
    meta = card_metadata(card)
    assert meta["pipeline_tag"] == "fill-mask" and meta["library_name"] == "transformers"
    assert {"albert", "pytorch", "tf", "jax"} <= set(meta["tags"]) and meta["license"] == "apache-2.0"
    assert "base_model" not in meta  # a local source with no card: not known
    for needle in ("from transformers import AlbertForPreTraining, TFAlbertForPreTraining, FlaxAlbertForPreTraining",
                   "transformers 5", "| source:torch | tiny-albert | torch |", hashlib.sha256(
                       (FIXTURE / "model.safetensors").read_bytes()).hexdigest(), "**PASSED"):
        assert needle in card, needle
    # the table in the commit too (outputs x runs, or one row per run when there are many runs)
    assert ("| output |" in commit.description or "| largest at |" in commit.description) \
        and "PASSED" in commit.description
    runs = {line.split("|")[1].strip(): line for line in card.splitlines() if line.startswith("| ") and ":" in
            line.split("|")[1] and line.count("|") == 7}  # the runs table: run, checkpoint, ..., result
    for label in ("torch:model.safetensors", "hf-torch:model.safetensors", "tf:tf_model.h5", "hf-tf:tf_model.h5",
                  "flax:flax_model.msgpack", "hf-flax:flax_model.msgpack",
                  *(["onnx:model.onnx"] if "onnx" in published else [])):
        assert runs[label].rstrip(" |").endswith("ok"), runs[label]  # ran (never skipped) and loaded the file itself
    assert "written by albert_bridge" not in card  # transformers read the published files, not a re-conversion

    # Download it back through the same server: only what the format needs, into HF_HOME's cache.
    before = len(online.requests)
    snapshot = resolve_source("org/tiny-all", "tf")
    fetched = {r.path.split("/resolve/")[1].split("/", 1)[1] for r in online.requests[before:]
               if "/resolve/" in r.path and r.method == "GET"}
    assert fetched == {"config.json", "tf_model.h5"}
    assert snapshot.is_relative_to(tmp_path / "hf-home" / "hub" / "models--org--tiny-all" / "snapshots")
    assert (snapshot / "tf_model.h5").read_bytes() == expected["tf_model.h5"]
    # and reads back as the fixture's weights, tensor for tensor (transformers' reading of it is the parity above)
    from albert_bridge import AlbertForPreTraining

    downloaded = AlbertForPreTraining.from_pretrained("org/tiny-all").state_dict()
    original = AlbertForPreTraining.from_pretrained(FIXTURE).state_dict()
    assert downloaded.keys() == original.keys() and all(torch.equal(downloaded[k], original[k]) for k in original)


@pytest.mark.slow
def test_transformers_5_reads_the_pushed_folder(tmp_path, capsys):
    """transformers 5 (PyTorch only) cannot share the venv with 4.57: it is looked for in a target directory of its
    own (`pip install --target DIR 'transformers>=5,<6'`), run in a subprocess with the venv's torch."""
    target = Path(os.environ.get("ALBERT_TRANSFORMERS5") or Path(sys.prefix) / "transformers5")
    if not (target / "transformers").is_dir():
        pytest.skip(f"no transformers 5 in {target} (pip install --target {target} 'transformers>=5,<6', or set "
                    "ALBERT_TRANSFORMERS5)")
    folder = tmp_path / "dry"
    code, out, err = cli(capsys, "push", FIXTURE, "org/tiny-5", "--formats", "safetensors", "--dry-run", folder)
    assert code == 0, out + err
    inputs = make_inputs(HeadKind.PRETRAINING, seq_len=12)
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = ("import sys, numpy as np, torch, transformers\n"
              "assert transformers.__version__.startswith('5'), transformers.__version__\n"
              "model = transformers.AlbertForPreTraining.from_pretrained(sys.argv[1]).eval()\n"
              "feed = {k: torch.from_numpy(v) for k, v in np.load(sys.argv[2]).items()}\n"
              "with torch.no_grad():\n"
              "    np.save(sys.argv[3], model(**feed).prediction_logits.numpy())\n")
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", script, folder, tmp_path / "inputs.npz", tmp_path / "theirs.npy"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    from albert_bridge import AlbertForPreTraining

    with torch.no_grad():
        ours = AlbertForPreTraining.from_pretrained(FIXTURE).eval()(
            **{k: torch.from_numpy(v) for k, v in inputs.items()}).prediction_logits.numpy()
    np.testing.assert_allclose(np.load(tmp_path / "theirs.npy"), ours, atol=1e-5)


def test_pull_request_on_a_branch_commits_only_what_changed(online, tmp_path, capsys):
    """--revision dev --create-pr: the PR is opened against dev, carries the parity table, commits the new weights,
    leaves the unchanged config alone and removes the shards of an earlier sharded save."""
    expected = converted(FIXTURE, tmp_path)
    online.add_repo("org/tiny-pr", {"config.json": expected["config.json"], "README.md": b"# old card\n",
                                    "model-00001-of-00002.safetensors": b"\0old", "model.safetensors.index.json": b"{}"})
    online.repos["org/tiny-pr"].branches["dev"] = online.repos["org/tiny-pr"].branches["main"]
    code, out, err = cli(capsys, "push", FIXTURE, "org/tiny-pr", "--formats", "safetensors", "--revision", "dev",
                         "--create-pr", "--commit-message", "Weights for every framework", "--token", TOKEN)
    assert code == 0, out + err
    [commit] = [c for c in online.commits if c.repo == "org/tiny-pr"]
    assert commit.create_pr and commit.revision == "refs/pr/1" and commit.summary == "Weights for every framework"
    assert sorted(commit.files) == ["README.md", "model.safetensors"]
    assert commit.files["model.safetensors"] == expected["model.safetensors"]
    assert sorted(commit.deleted) == ["model-00001-of-00002.safetensors", "model.safetensors.index.json"]
    assert "| output |" in commit.description and "**PASSED" in commit.description
    card = commit.files["README.md"].decode()
    assert "| `config.json` | all |" in card and "| unchanged |" in card and "removed (an earlier save)" in card
    assert "opened a pull request on org/tiny-pr@dev" in out and "/discussions/1" in out
    pr_files = online.files("org/tiny-pr", "refs/pr/1")
    assert pr_files["config.json"] == expected["config.json"] and "model-00001-of-00002.safetensors" not in pr_files
    assert online.files("org/tiny-pr", "dev")["README.md"] == b"# old card\n"  # a PR changes no branch
    assert_no_token(out, err, online.bodies())


def test_a_second_push_of_the_same_files_commits_nothing(online, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the token from the environment this time
    for _ in range(2):
        code, out, err = cli(capsys, "push", FIXTURE, "org/tiny-again", "--formats", "safetensors", "--private")
        assert code == 0, out + err
    assert "nothing to commit: org/tiny-again already holds these files" in out
    assert len([c for c in online.commits if c.repo == "org/tiny-again"]) == 1 and online.repos["org/tiny-again"].private
    assert_no_token(out, err)


def corrupt_after_conversion(monkeypatch, tensor="albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.bias"):
    """A conversion bug in one published file: what the parity check exists to catch."""
    from safetensors.numpy import load_file, save_file

    real = albert_bridge.convert.convert

    def convert_then_corrupt(src, dst, to, **options):
        result = real(src, dst, to, **options)
        weights = load_file(Path(dst) / "model.safetensors")
        weights[tensor] = weights[tensor] + np.float32(0.05)
        save_file(weights, Path(dst) / "model.safetensors", metadata={"format": "pt"})
        return result

    monkeypatch.setattr(albert_bridge.convert, "convert", convert_then_corrupt)


def test_parity_failure_blocks_the_push_and_force_publishes_with_a_warning(online, tmp_path, capsys, monkeypatch):
    corrupt_after_conversion(monkeypatch)
    args = ("push", FIXTURE, "org/tiny-bad", "--formats", "safetensors", "--token", TOKEN)
    code, out, err = cli(capsys, *args)
    assert code == 1
    one_line_error(err, "parity FAILED", "first divergent layer: 3", "nothing was published", "--force")
    assert "FAIL" in out and "hidden_states.4" in out  # the table that refused it
    assert "org/tiny-bad" not in online.repos  # not even created

    code, out, err = cli(capsys, *args, "--force")
    assert code == 0, out + err
    assert "warning: parity FAILED: published with --force" in err
    [commit] = [c for c in online.commits if c.repo == "org/tiny-bad"]
    assert commit.summary.startswith("[parity FAILED] ") and not commit.summary.endswith("(parity-checked)")
    card = commit.files["README.md"].decode()
    assert "> **Warning: parity FAILED: published with --force" in card and "### ALBERT parity: FAILED" in card
    assert "**Warning**" in commit.description
    assert_no_token(out, err, online.bodies())


def test_a_push_nothing_could_check_claims_no_parity(online, tmp_path, capsys, monkeypatch):
    from dataclasses import replace

    from albert_bridge.parity import BACKENDS

    for name, backend in list(BACKENDS.items()):  # as on a machine with no framework installed
        monkeypatch.setitem(BACKENDS, name, replace(backend, requires=(*backend.requires, "no_such_framework")))
    args = ("push", FIXTURE, "org/tiny-unchecked", "--formats", "safetensors")
    code, out, err = cli(capsys, *args, "--dry-run", tmp_path / "refused")
    assert code == 3 and not (tmp_path / "refused").exists()
    one_line_error(err, "parity NOT CHECKED", "not installed: no_such_framework", "nothing was written")
    code, out, err = cli(capsys, *args, "--dry-run", tmp_path / "forced", "--force")
    assert code == 0, err
    card = (tmp_path / "forced" / "README.md").read_text()
    assert "> **Warning: parity NOT CHECKED: published with --force" in card and "PASSED" not in card


def test_dry_run_writes_the_folder_and_uploads_nothing(online, tmp_path, capsys):
    source = tmp_path / "with-tokenizer"
    shutil.copytree(FIXTURE, source)
    shutil.copyfile(SPIECE, source / "spiece.model")
    (source / "README.md").write_text("---\nlicense: mit\nbase_model: someone/albert-tiny\n---\n# source card\n")
    before = len(online.requests)
    out_dir = tmp_path / "dry"
    code, out, err = cli(capsys, "push", source, "org/tiny-dry", "--formats", "safetensors", "--dry-run", out_dir)
    assert code == 0, out + err  # no token needed
    assert len(online.requests) == before  # and nothing sent anywhere
    written = files_of(out_dir)
    assert sorted(written) == ["README.md", "config.json", "model.safetensors", "spiece.model"]
    assert written["spiece.model"] == SPIECE.read_bytes() and "dry run: nothing uploaded" in out
    card = written["README.md"].decode()
    meta = card_metadata(card)
    assert (meta["license"], meta["base_model"]) == ("mit", "someone/albert-tiny")  # from the source's card
    assert "AlbertTokenizer.from_pretrained(\"org/tiny-dry\")" in card and "| `spiece.model` | all |" in card
    assert str(tmp_path) not in card  # no local paths in a public card
    code, out, err = cli(capsys, "push", source, "org/tiny-dry", "--formats", "safetensors", "--dry-run", out_dir)
    assert code == 3
    one_line_error(err, "dry", "must be new or empty")


def test_formats_token_and_repo_errors_are_one_line(online, tmp_path, capsys):
    code, out, err = cli(capsys, "push", FIXTURE, "org/x", "--formats", "tf1", "--dry-run", tmp_path / "d")
    assert code == 3
    one_line_error(err, "'tf1' cannot be published")
    if not get_format("onnx").available:
        code, out, err = cli(capsys, "push", FIXTURE, "org/x", "--formats", "onnx", "--dry-run", tmp_path / "d")
        assert code == 3
        one_line_error(err, "'onnx'", "not available yet")
    code, out, err = cli(capsys, "push", FIXTURE, "org/x", "--formats", "nope")
    assert code == 2 and "nope" in err
    code, out, err = cli(capsys, "push", FIXTURE, "not a repo")
    assert code == 3
    one_line_error(err, "not a repo", "org/name")
    code, out, err = cli(capsys, "push", FIXTURE, "org/x")  # no --token, no HF_TOKEN, no login in HF_HOME
    assert code == 3
    one_line_error(err, "org/x", "no Hub token")
    code, out, err = cli(capsys, "push", FIXTURE, "org/x", "--token", "hf_wrong")
    assert code == 3
    one_line_error(err, "org/x", "rejected the token (401")
    (tmp_path / "hf-home").mkdir(exist_ok=True)
    (tmp_path / "hf-home" / "token").write_text("hf_stale_login\n")  # the huggingface_hub login is used too
    code, out, err = cli(capsys, "push", FIXTURE, "org/x")
    assert code == 3 and "rejected the token" in err and "hf_stale_login" not in out + err
    assert "org/x" not in online.repos


def test_a_format_that_lands_later_joins_all(online, tmp_path, capsys, monkeypatch):
    """`--formats all` publishes model.onnx once the ONNX format is available, checked on the `onnx` parity backend;
    a format with no parity backend yet is published with the card saying it was not checked. (Without the real
    one, a stand-in adapter: canonical safetensors under the name model.onnx, and no backend.)"""
    real = FORMATS["onnx"].available and "onnx" in BACKENDS
    if not real:
        monkeypatch.setitem(FORMATS, "onnx", Format("onnx", "tests.test_hub", "ONNX export",
                                                    marker_files=("model.onnx",), hub_files=("model.onnx*",),
                                                    framework="onnx", publish=True))
        monkeypatch.delitem(BACKENDS, "onnx", raising=False)
    assert [f.name for f in publish_formats("all")] == ["safetensors", "tf", "flax", "onnx"]
    code, out, err = cli(capsys, "push", FIXTURE, "org/tiny-onnx", "--formats", "safetensors,onnx", "--dry-run",
                         tmp_path / "dry")  # not all: this test stays on PyTorch (TF and Flax are slow to start)
    assert code == 0, out + err
    card = (tmp_path / "dry" / "README.md").read_text()
    assert (tmp_path / "dry" / "model.onnx").is_file() and "| `model.onnx` | ONNX |" in card
    assert "onnxruntime.InferenceSession" in card and "onnx" in card_metadata(card)["tags"]
    if real:
        assert "Not checked" not in card
        assert any(line.startswith("| onnx:model.onnx |") and line.rstrip(" |").endswith("ok")
                   for line in card.splitlines()), card
    else:
        assert "Not checked: model.onnx (no parity backend for onnx)" in card


# The stand-in ONNX adapter of the test above (the registry imports it by module name).
def detect(path: Path):
    return path / "model.onnx" if (Path(path) / "model.onnx").is_file() else None


def load(path: Path, head=None, config=None):
    link = Path(tempfile.mkdtemp(prefix="fake-onnx-")) / "albert.canonical.safetensors"
    link.symlink_to(Path(detect(Path(path))).resolve())
    return get_format("canonical").load(link, head, config)


def save(ckpt, directory: Path, max_shard_size=None):
    [written] = get_format("canonical").save(ckpt, directory)
    return [written.rename(directory / "model.onnx")]


# --- Hub repos as sources --------------------------------------------------------------------------------------------
@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """A huggingface_hub cache holding org/name (as snapshot_download leaves it: blobs, a snapshot of links, a ref)
    and the environment of a machine without network: HF_HUB_OFFLINE=1, an endpoint nobody answers."""
    repo = tmp_path / "hf-home" / "hub" / "models--org--name"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for path in (FIXTURE / "config.json", FIXTURE / "model.safetensors", SPIECE):
        blob = repo / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.copyfile(path, blob)
        (snapshot / path.name).symlink_to(Path("..", "..", "blobs", blob.name))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", NOBODY)
    return commit


def test_a_prefilled_cache_serves_org_name_to_every_command(offline_cache, tmp_path, capsys):
    code, out, err = cli(capsys, "inspect", "org/name", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["format"] == "safetensors" and info["tokenizer"]["vocab_size"] == 1200
    code, out, err = cli(capsys, "convert", "org/name@main", tmp_path / "flax", "--to", "flax")
    assert code == 0, err
    assert sorted(files_of(tmp_path / "flax")) == ["config.json", "flax_model.msgpack", "spiece.model"]
    code, out, err = cli(capsys, "parity", "org/name", FIXTURE, "--backends", "torch")
    assert code == 0, out + err
    assert "org/name" in out and "PASSED" in out
    code, out, err = cli(capsys, "push", "org/name", "org/copy", "--formats", "safetensors", "--dry-run",
                         tmp_path / "dry")
    assert code == 0, out + err
    card = (tmp_path / "dry" / "README.md").read_text()
    assert card_metadata(card)["base_model"] == "org/name"
    assert f"the Hub repository `org/name` at commit `{offline_cache}`" in card

    from albert_bridge import AlbertForPreTraining, AlbertTokenizer, AlbertTokenizerFast

    hub_model = AlbertForPreTraining.from_pretrained("org/name", revision="main", local_files_only=True).eval()
    local_model = AlbertForPreTraining.from_pretrained(FIXTURE).eval()
    assert all(torch.equal(a, b) for a, b in zip(hub_model.state_dict().values(), local_model.state_dict().values()))
    for cls in (AlbertTokenizer, AlbertTokenizerFast):
        assert cls.from_pretrained("org/name").encode("Hello world") == cls.from_pretrained(SPIECE).encode(
            "Hello world")

    code, out, err = cli(capsys, "inspect", "org/name@v2")
    assert code == 3
    one_line_error(err, "org/name@v2", "neither a local path nor in the Hub cache, and HF_HUB_OFFLINE is set")
    code, out, err = cli(capsys, "convert", "org/missing", tmp_path / "x", "--to", "flax")
    assert code == 3
    one_line_error(err, "org/missing", "nor in the Hub cache")
    with pytest.raises(BridgeError, match="org/name: no HF TF2 tf_model.h5 in the cache"):
        resolve_source("org/name", "tf")


def test_downloads_fetch_only_what_the_format_needs_and_name_the_repo(online, tmp_path, capsys, monkeypatch):
    files = {**converted(FIXTURE, tmp_path, ("safetensors", "tf")), "spiece.model": SPIECE.read_bytes(),
             "README.md": b"# card\n", "notes.txt": b"not a checkpoint file\n"}
    commit = online.add_repo("org/multi", files)
    before = len(online.requests)
    code, out, err = cli(capsys, "inspect", "org/multi", "--json")
    assert code == 0, err
    gets = [r.path for r in online.requests[before:] if r.method == "GET" and "/resolve/" in r.path]
    assert sorted(p.rsplit("/", 1)[1] for p in gets) == ["config.json", "model.safetensors", "spiece.model"]
    assert all(f"/resolve/{commit}/" in p for p in gets)  # pinned to the commit the branch pointed at
    code, out, err = cli(capsys, "convert", f"org/multi@{commit}", tmp_path / "out", "--from", "tf", "--to",
                         "safetensors")
    assert code == 0, err
    assert files_of(tmp_path / "out")["model.safetensors"] == files["model.safetensors"]
    cached = tmp_path / "hf-home" / "hub" / "models--org--multi" / "snapshots" / commit
    assert sorted(p.name for p in cached.iterdir()) == ["config.json", "model.safetensors", "spiece.model",
                                                         "tf_model.h5"]

    online.add_repo("org/gated", files, gated=True)
    online.add_repo("org/private", files, private=True)
    for src, needles in (("org/nothing-here", ("org/nothing-here", "no such repository", online.url)),
                         ("org/gated", ("org/gated", "gated repository", "token")),
                         ("org/private", ("org/private", "no such repository", "private one needs a token")),
                         ("org/multi@nope", ("org/multi@nope", "no revision 'nope'"))):
        code, out, err = cli(capsys, "inspect", src)
        assert code == 3, (src, err)
        one_line_error(err, *needles)
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # with a token, the gated and the private repo open
    for src in ("org/gated", "org/private"):
        code, out, err = cli(capsys, "inspect", src)
        assert code == 0, err
    assert_no_token(out, err)
    monkeypatch.setenv("HF_ENDPOINT", NOBODY)
    code, out, err = cli(capsys, "inspect", "org/other")
    assert code == 3
    one_line_error(err, "org/other", f"neither a local path nor in the Hub cache, and {NOBODY} cannot be reached")

    # a local path that exists always wins over a repo id
    monkeypatch.chdir(tmp_path)
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=5), tmp_path / "org" / "multi")
    before = len(online.requests)
    code, out, err = cli(capsys, "inspect", "org/multi", "--json")
    assert code == 0 and json.loads(out)["head"] == "masked-lm" and len(online.requests) == before
