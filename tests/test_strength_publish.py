"""Publishing, part by part: which formats publish, what changed against the repo, the digests the Hub compares, the
source's card and files, and the model card a push writes, line for line. Fast: one dry-run push, the rest unit
calls (the loopback Hub tests in test_hub.py and test_strength_hub.py push end to end)."""

import hashlib
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from albert_bridge import publish
from albert_bridge.errors import BridgeError
from albert_bridge.formats import FORMATS, get_format
from albert_bridge.publish import PushResult, file_sha256, git_blob_id, publish_formats
from albert_bridge.sources import RepoSpec
from tests.helpers import FIXTURE, card_metadata

pytest.importorskip("huggingface_hub")
pytestmark = pytest.mark.hub


def test_which_formats_publish():
    every = [f for f in FORMATS.values() if f.publish and f.available and f.in_all]  # tiers and keras-hub are asked by name
    assert [f.name for f in every] == ["safetensors", "tf", "flax", "onnx"]
    assert publish_formats(None) == publish_formats("all") == publish_formats(["all"]) == every
    assert publish_formats(["tf", "safetensors", "tf"]) == [FORMATS["tf"], FORMATS["safetensors"]]  # once each
    assert publish_formats("flax") == [FORMATS["flax"]]
    with pytest.raises(BridgeError) as caught:
        publish_formats(["safetensors", "pytorch"])
    assert caught.value.message == ("format 'pytorch' cannot be published: PyTorch weights are published as "
                                    "model.safetensors (publishable: safetensors, tf, flax, onnx, onnx-int8, tflite, "
                                    "tflite-int8)")
    with pytest.raises(BridgeError) as caught:
        publish_formats("tf1")
    assert caught.value.message == ("format 'tf1' cannot be published: transformers does not load it "
                                    "(publishable: safetensors, tf, flax, onnx, onnx-int8, tflite, tflite-int8)")
    with pytest.raises(BridgeError, match="unknown format 'keras'"):
        publish_formats(["keras"])


def test_digests_are_what_the_hub_lists(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(3 << 20) + b"tail")  # over the 1 MiB read size: every chunk counts
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True).stdout
    assert git_blob_id(path) == expected.strip()
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(b"changed")  # another size and mtime: read again, not served from the cache
    assert file_sha256(path) == hashlib.sha256(b"changed").hexdigest()


def _remote(path: Path, *, lfs: bool, same: bool):
    """A repo entry as huggingface_hub lists it, for the bytes of `path` (or other bytes)."""
    if lfs:
        digest = file_sha256(path) if same else "0" * 64
        return SimpleNamespace(lfs=SimpleNamespace(sha256=digest), blob_id="ignored for LFS files")
    return SimpleNamespace(lfs=None, blob_id=git_blob_id(path) if same else "0" * 40)


def test_each_file_against_the_repo(tmp_path):
    for name in ("config.json", "model.safetensors", "tf_model.h5", "flax_model.msgpack", "README.md"):
        (tmp_path / name).write_bytes(name.encode())
    published = ["config.json", "flax_model.msgpack", "model.safetensors", "tf_model.h5"]
    remote = {"config.json": _remote(tmp_path / "config.json", lfs=False, same=True),
              "model.safetensors": _remote(tmp_path / "model.safetensors", lfs=True, same=True),
              "tf_model.h5": _remote(tmp_path / "tf_model.h5", lfs=True, same=False),
              "flax_model.msgpack": _remote(tmp_path / "flax_model.msgpack", lfs=False, same=False),
              # an earlier sharded save of a published format: its shards and index go
              "model-00001-of-00002.safetensors": _remote(tmp_path / "config.json", lfs=True, same=False),
              "model.safetensors.index.json": _remote(tmp_path / "config.json", lfs=False, same=False),
              # files of formats not being published, and the card, stay
              "pytorch_model.bin": _remote(tmp_path / "config.json", lfs=True, same=False),
              "README.md": _remote(tmp_path / "README.md", lfs=False, same=False)}
    states = publish._changes(tmp_path, published, remote, [FORMATS["safetensors"], FORMATS["tf"], FORMATS["flax"]])
    assert states == {"config.json": "unchanged", "flax_model.msgpack": "updated", "model.safetensors": "unchanged",
                      "tf_model.h5": "updated", "model-00001-of-00002.safetensors": "removed",
                      "model.safetensors.index.json": "removed"}
    assert publish._changes(tmp_path, ["config.json"], {}, [FORMATS["safetensors"]]) == {"config.json": "added"}
    result = PushResult("org/m", None, None, "", files=states)
    assert result.committed == ["flax_model.msgpack", "tf_model.h5", "model-00001-of-00002.safetensors",
                                "model.safetensors.index.json"]


def test_license_and_base_model_come_from_the_sources_card(tmp_path):
    assert publish._source_card(tmp_path) == {}  # no card
    (tmp_path / "README.md").write_text("---\nlicense: apache-2.0\nbase_model: albert/albert-base-v2\n---\n# m\n")
    (tmp_path / "model.safetensors").write_bytes(b"")
    expected = {"license": "apache-2.0", "base_model": "albert/albert-base-v2"}
    assert publish._source_card(tmp_path) == expected
    assert publish._source_card(tmp_path / "model.safetensors") == expected  # a file: the card beside it
    (tmp_path / "README.md").write_text("---\nlicense: [unclosed\n---\n")
    assert publish._source_card(tmp_path) == {}  # unreadable: we only know less


def test_the_source_files_a_card_lists(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("config.json", "model.safetensors", "tf_model.h5", "README.md", "sub/model.safetensors"):
        (tmp_path / name).write_bytes(b"x")
    assert publish._source_files(tmp_path, "safetensors") == [tmp_path / "config.json", tmp_path / "model.safetensors"]
    assert publish._source_files(tmp_path / "tf_model.h5", "tf") == [tmp_path / "tf_model.h5", tmp_path / "config.json"]
    (tmp_path / "config.json").unlink()
    assert publish._source_files(tmp_path / "tf_model.h5", "tf") == [tmp_path / "tf_model.h5"]


def test_how_to_load_in_each_framework_with_and_without_a_tokenizer():  # (`make mutation` -k: no "every_framework")
    assert publish._loading("org/m", "AlbertModel", ["torch", "tf", "flax", "onnx"], tokenizer="AlbertTokenizer") == [
        "With albert-bridge (`pip install albert-bridge[hub]`), in every framework:", "", "```python",
        "from albert_bridge import AlbertModel, TFAlbertModel, FlaxAlbertModel",
        'model = AlbertModel.from_pretrained("org/m")', 'model = TFAlbertModel.from_pretrained("org/m")',
        'model = FlaxAlbertModel.from_pretrained("org/m")',
        "from albert_bridge import AlbertTokenizer", 'tokenizer = AlbertTokenizer.from_pretrained("org/m")',
        "```", "", "With transformers 4.x (PyTorch, TensorFlow with tf-keras, Flax):", "", "```python",
        "from transformers import AlbertModel, TFAlbertModel, FlaxAlbertModel",
        'model = AlbertModel.from_pretrained("org/m")',
        'model = TFAlbertModel.from_pretrained("org/m", use_safetensors=False)  # reads tf_model.h5',
        'model = FlaxAlbertModel.from_pretrained("org/m")',
        "from transformers import AutoTokenizer", 'tokenizer = AutoTokenizer.from_pretrained("org/m")',
        "```", "",
        "With transformers 5 (PyTorch only: its TensorFlow and Flax classes ended with 4.x):", "", "```python",
        "from transformers import AlbertModel", 'model = AlbertModel.from_pretrained("org/m")', "```", "",
        "ONNX Runtime:", "", "```python", "import onnxruntime", "from huggingface_hub import hf_hub_download",
        'session = onnxruntime.InferenceSession(hf_hub_download("org/m", "model.onnx"))', "```", ""]
    # TF alone reads tf_model.h5 without being told; no tokenizer, no transformers 5, no ONNX paragraph
    assert publish._loading("o/n", "AlbertForMaskedLM", ["tf"], tokenizer=None) == [
        "With albert-bridge (`pip install albert-bridge[hub]`), in every framework:", "", "```python",
        "from albert_bridge import TFAlbertForMaskedLM", 'model = TFAlbertForMaskedLM.from_pretrained("o/n")', "```",
        "", "With transformers 4.x (PyTorch, TensorFlow with tf-keras, Flax):", "", "```python",
        "from transformers import TFAlbertForMaskedLM", 'model = TFAlbertForMaskedLM.from_pretrained("o/n")', "```",
        ""]


@pytest.mark.torch
def test_the_model_card_line_for_line(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "out"
    result = publish.push(FIXTURE, "org/tiny-card", formats=["safetensors"], dry_run=out, license="mit")
    card = (out / "README.md").read_text()
    assert card_metadata(card) == {"library_name": "transformers", "pipeline_tag": "fill-mask", "license": "mit",
                                   "tags": ["albert", "albert-bridge", "pytorch", "safetensors"]}

    def row(folder: Path, name: str, *cells: str) -> str:
        path = folder / name
        return "| " + " | ".join([f"`{name}`", *cells[:1], f"{path.stat().st_size:,}", f"`{file_sha256(path)}`",
                                  *cells[1:]]) + " |"

    assert result.verdict == "PASSED: 16 comparisons within tolerance"
    expected = "\n".join([
        "# tiny-card", "",
        "ALBERT `AlbertForPreTraining` (pretraining head, 61,754 parameters) for PyTorch, converted by albert-bridge "
        "from the local checkpoint `tiny-albert` (safetensors format). Parity: PASSED: 16 comparisons within "
        "tolerance.", "",
        "## Files", "", "| file | for | bytes | sha256 | this commit |", "|---|---|---|---|---|",
        row(out, "config.json", "all", "added"), row(out, "model.safetensors", "PyTorch", "added"), "",
        "Written by `albert-bridge push --dry-run`, as a first push to an empty repository would upload it.", "",
        "## Converted from", "", "The local checkpoint `tiny-albert`, read as HF PyTorch model.safetensors:", "",
        "| file | bytes | sha256 |", "|---|---|---|", row(FIXTURE, "config.json"), row(FIXTURE, "model.safetensors"),
        "", "## Parity", "",
        "Every published file ran on albert-bridge's backend of its framework and on transformers' own class "
        "(`hf-*`), on the same inputs as the source on `torch` (`source:*`); every output (logits, pooled output, "
        "every hidden state) was compared with the source's.", "",
        result.report.to_markdown(), "", "## How to load", "",
        "With albert-bridge (`pip install albert-bridge[hub]`), in every framework:", "", "```python",
        "from albert_bridge import AlbertForPreTraining", 'model = AlbertForPreTraining.from_pretrained("org/tiny-card")',
        "```", "", "With transformers 4.x (PyTorch, TensorFlow with tf-keras, Flax):", "", "```python",
        "from transformers import AlbertForPreTraining", 'model = AlbertForPreTraining.from_pretrained("org/tiny-card")',
        "```", "", "With transformers 5 (PyTorch only: its TensorFlow and Flax classes ended with 4.x):", "", "```python",
        "from transformers import AlbertForPreTraining", 'model = AlbertForPreTraining.from_pretrained("org/tiny-card")',
        "```", ""]) + "\n"
    assert card.split("---\n", 2)[2] == "\n" + expected


def test_a_forced_card_warns_and_names_what_was_not_checked(tmp_path, monkeypatch):
    """The card of a --force push: the warning first, the reason in the parity paragraph, a removed file listed,
    a Hub source named with its snapshot."""
    from albert_bridge.checkpoint import Checkpoint  # noqa: F401 - the type the card reads
    from albert_bridge import formats

    ckpt = formats.load(FIXTURE)
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    report = SimpleNamespace(runs=[SimpleNamespace(checkpoint="x", backend="flax")], to_markdown=lambda: "TABLE")
    result = PushResult("org/m", None, report, "no published file could be checked: tf",
                        forced="parity NOT CHECKED: published with --force: no published file could be checked: tf",
                        files={"config.json": "updated", "tf_model-00001-of-00002.h5": "removed"})
    snapshot = tmp_path / "abc123"
    snapshot.mkdir()
    card = publish._model_card(RepoSpec("org/m"), ckpt, {}, folder, result, snapshot, RepoSpec("src/repo", "v1"),
                               [FORMATS["tf"]], ["tf_model.h5 (no parity backend for tf)"], license=None,
                               base_model="src/repo", dry_run=False)
    body = card.split("---\n", 2)[2].splitlines()
    assert card_metadata(card) == {"library_name": "transformers", "pipeline_tag": "fill-mask",
                                   "base_model": "src/repo", "tags": ["albert", "albert-bridge", "tf"]}
    assert body[1:6] == [
        "# m", "",
        "> **Warning: parity NOT CHECKED: published with --force: no published file could be checked: tf.** Do not "
        "rely on these files computing what the source computes.", "",
        "ALBERT `AlbertForPreTraining` (pretraining head, 61,754 parameters) for TensorFlow, converted by "
        "albert-bridge from the Hub repository `src/repo@v1` at commit `abc123` (safetensors format). Parity: no "
        "published file could be checked: tf."]
    assert "| `tf_model-00001-of-00002.h5` | | | | removed (an earlier save) |" in body
    assert "Files marked unchanged were already in the repository with these bytes." in body
    assert "The Hub repository `src/repo@v1` at commit `abc123`, read as HF PyTorch model.safetensors:" in body
    assert "on the same inputs as the source on `flax` (`source:*`); every output" in "\n".join(body)
    parity = body.index("## Parity")
    assert body[parity + 3:parity + 6] == ["Not checked: tf_model.h5 (no parity backend for tf).", "", "TABLE"]
    assert get_format("tf").framework == "tf"


@pytest.mark.torch
def test_each_parity_run_reaches_on_run_as_it_finishes(tmp_path):
    pytest.importorskip("torch")
    seen = []
    result = publish.push(FIXTURE, "org/tiny-runs", formats=["safetensors"], dry_run=tmp_path / "out",
                          on_run=seen.append)
    # The runs start side by side, so they reach on_run in the order they finish; the report keeps the plan's order.
    assert [run.label for run in result.report.runs] == [
        "source:torch", "torch:model.safetensors", "hf-torch:model.safetensors"]
    assert sorted(run.label for run in seen) == sorted(run.label for run in result.report.runs)
    assert all(any(run is r for r in result.report.runs) for run in seen)  # the same run objects, each once


@pytest.mark.torch
def test_a_forced_commit_says_so_and_lists_its_files(online, monkeypatch):  # noqa: F811
    """The commit's own text (what the Hub's history shows): the verdict, the --force warning, each file's state."""
    from dataclasses import replace

    from albert_bridge.parity import BACKENDS
    from tests.hub_server import TOKEN

    for name, backend in list(BACKENDS.items()):
        if backend.framework == "tf":
            monkeypatch.setitem(BACKENDS, name, replace(backend, requires=(*backend.requires, "no_such_framework")))
    result = publish.push(FIXTURE, "org/tiny-forced", formats=["tf"], token=TOKEN, force=True)
    (commit,) = [c for c in online.commits if c.repo == "org/tiny-forced"]  # one server per module
    assert commit.summary == "[parity NOT CHECKED] albert-bridge: ALBERT weights for TensorFlow"
    assert commit.description.split("\n")[:6] == [
        f"Converted with albert-bridge; every published file was run against the source: {result.verdict}.", "",
        f"> **Warning** {result.forced}", "",
        "Files: `config.json` added, `tf_model.h5` added, `README.md` added", ""]
    assert commit.description.endswith(result.report.to_markdown())
    assert result.forced.startswith("parity NOT CHECKED: published with --force: no published file could be checked")


@pytest.mark.torch
def test_a_refused_commit_is_one_line_naming_the_repo(online, monkeypatch):  # noqa: F811
    import huggingface_hub
    import requests

    from tests.hub_server import TOKEN

    def refuse(*args, **kwargs):
        response = requests.Response()
        response.status_code, response.reason = 403, "Forbidden"
        raise huggingface_hub.errors.HfHubHTTPError("403 Forbidden", response=response)

    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", refuse)
    with pytest.raises(BridgeError) as caught:
        publish.push(FIXTURE, "org/tiny-refused", formats=["safetensors"], token=TOKEN)
    assert str(caught.value) == ("org/tiny-refused: the token may not do this (403 Forbidden: a read-only token, "
                                 "or someone else's namespace)")
    assert not [c for c in online.commits if c.repo == "org/tiny-refused"]


def test_offline_a_push_asks_nothing_of_the_hub(online, monkeypatch):  # noqa: F811
    """HF_HUB_OFFLINE set after huggingface_hub was imported (and used) online still holds: no request is made."""
    from tests.hub_server import TOKEN

    publish.huggingface_hub_client(publish.settings())  # imported and configured while online
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(online.requests)
    with pytest.raises(BridgeError) as caught:
        publish.push(FIXTURE, "org/tiny-offline", formats=["safetensors"], token=TOKEN)
    assert str(caught.value) == "org/tiny-offline: HF_HUB_OFFLINE is set: the Hub is not asked"
    assert len(online.requests) == before


@pytest.mark.torch
def test_a_private_hub_source_is_fetched_with_the_push_token_and_its_card_read(online, tmp_path):  # noqa: F811
    """The token given to push opens a private source repo too; the source's README.md comes along, so its license
    reaches the new card; the result names the dry-run folder."""
    from tests.hub_server import TOKEN

    files = {name: (FIXTURE / name).read_bytes() for name in ("config.json", "model.safetensors")}
    files["README.md"] = b"---\nlicense: apache-2.0\n---\n# private source\n"
    online.add_repo("org/private-src", files, private=True)
    result = publish.push("org/private-src", "org/tiny-from-private", formats=["safetensors"], token=TOKEN,
                          dry_run=tmp_path / "out")
    assert result.folder == tmp_path / "out"
    metadata = card_metadata((tmp_path / "out" / "README.md").read_text())
    assert (metadata["license"], metadata["base_model"]) == ("apache-2.0", "org/private-src")


@pytest.mark.torch
def test_a_push_to_a_new_branch_creates_it_and_commits_there(online):  # noqa: F811
    from tests.hub_server import TOKEN

    online.add_repo("org/tiny-branch", {"README.md": b"# on main\n"})
    result = publish.push(FIXTURE, "org/tiny-branch", formats=["safetensors"], token=TOKEN, revision="dev")
    (commit,) = [c for c in online.commits if c.repo == "org/tiny-branch"]
    assert commit.revision == "dev" and not commit.create_pr
    assert sorted(online.files("org/tiny-branch", "dev")) == ["README.md", "config.json", "model.safetensors"]
    assert online.files("org/tiny-branch") == {"README.md": b"# on main\n"}  # main untouched
    assert result.files == {"config.json": "added", "model.safetensors": "added", "README.md": "updated"}


@pytest.mark.torch
def test_a_format_without_a_parity_backend_is_named_in_the_card(tmp_path, monkeypatch):
    from dataclasses import replace

    from albert_bridge.parity import BACKENDS

    for name, backend in list(BACKENDS.items()):  # (setitem keeps the registry's order; delitem would not)
        if backend.framework == "tf":
            monkeypatch.setitem(BACKENDS, name, replace(backend, framework="not-tf"))
    result = publish.push(FIXTURE, "org/tiny-unchecked", formats=["safetensors", "tf"], dry_run=tmp_path / "out")
    card = (tmp_path / "out" / "README.md").read_text()
    assert "\nNot checked: tf_model.h5 (no parity backend for tf).\n" in card
    assert result.verdict.endswith("; not run: tf_model.h5 (no parity backend for tf)")
