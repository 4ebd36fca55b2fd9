"""Publishing at its edges: identical weights without a card, a push where only the source ran, base_model from a
source at a revision, and what a card's verdict says. Against the loopback Hub of tests/hub_server.py."""

from dataclasses import replace

import pytest

from albert_bridge.sources import RepoSpec, parse_repo_id
from albert_bridge.parity import BACKENDS
from tests.helpers import FIXTURE
from tests.helpers import card_metadata, cli, one_line_error
from tests.hub_server import TOKEN
from tests.test_hub import converted

pytest.importorskip("huggingface_hub")
pytest.importorskip("torch")

pytestmark = pytest.mark.hub


def test_identical_weights_without_a_card_get_one_commit_adding_it(online, tmp_path, capsys):  # noqa: F811
    expected = converted(FIXTURE, tmp_path)
    online.add_repo("org/tiny-no-card", dict(expected))
    code, out, err = cli(capsys, "push", FIXTURE, "org/tiny-no-card", "--formats", "safetensors", "--token", TOKEN)
    assert code == 0, out + err
    commits = [c for c in online.commits if c.repo == "org/tiny-no-card"]
    assert len(commits) == 1 and sorted(commits[0].files) == ["README.md"] and not commits[0].deleted
    card = commits[0].files["README.md"].decode()
    assert card_metadata(card)["library_name"] == "transformers"
    assert "| `model.safetensors` |" in card and "| unchanged |" in card
    assert sorted(online.files("org/tiny-no-card")) == ["README.md", *sorted(expected)]
    # and once the card is there, the same push commits nothing (a fresh card alone is no reason for a commit)
    code, out, err = cli(capsys, "push", FIXTURE, "org/tiny-no-card", "--formats", "safetensors", "--token", TOKEN)
    assert code == 0 and "nothing to commit" in out, out + err
    assert len([c for c in online.commits if c.repo == "org/tiny-no-card"]) == 1


def test_a_push_where_only_the_source_ran_is_not_checked_not_failed(online, tmp_path, capsys, monkeypatch):  # noqa: F811
    """The source runs on torch; the published tf_model.h5 would run on tf and hf-tf, neither installed here: no
    published file was compared, so the push is refused as NOT CHECKED (exit 3), never as a parity failure (1)."""
    for name, backend in list(BACKENDS.items()):
        if backend.framework == "tf":
            monkeypatch.setitem(BACKENDS, name, replace(backend, requires=(*backend.requires, "no_such_framework")))
    assert not BACKENDS["torch"].missing()
    args = ("push", FIXTURE, "org/tiny-tf-only", "--formats", "tf")
    code, out, err = cli(capsys, *args, "--dry-run", tmp_path / "refused")
    assert code == 3, out + err
    one_line_error(err, "parity NOT CHECKED: no published file could be checked: tf:tf_model.h5 (not installed: "
                        "no_such_framework); hf-tf:tf_model.h5 (not installed: no_such_framework)",
                   "nothing was written", "--force")
    assert "parity FAILED" not in err and not (tmp_path / "refused").exists()
    assert "source:torch" in out and "ok" in out  # the source did run: the table says so
    code, out, err = cli(capsys, *args, "--dry-run", tmp_path / "forced", "--force")
    assert code == 0, err
    card = (tmp_path / "forced" / "README.md").read_text()
    assert "> **Warning: parity NOT CHECKED: published with --force: no published file could be checked" in card


def test_base_model_of_a_hub_source_at_a_revision_is_the_repo_id(online, tmp_path, capsys):  # noqa: F811
    assert parse_repo_id("org/name@v1.0") == RepoSpec("org/name", "v1.0")
    assert str(RepoSpec("org/name", "v1.0")) == "org/name@v1.0" and str(RepoSpec("org/name")) == "org/name"
    files = {name: (FIXTURE / name).read_bytes() for name in ("config.json", "model.safetensors")}
    online.add_repo("org/albert-src", files)
    online.repos["org/albert-src"].branches["v1"] = online.repos["org/albert-src"].branches["main"]
    code, out, err = cli(capsys, "push", "org/albert-src@v1", "org/albert-dst", "--formats", "safetensors",
                         "--dry-run", tmp_path / "out")
    assert code == 0, out + err
    card = (tmp_path / "out" / "README.md").read_text()
    assert card_metadata(card)["base_model"] == "org/albert-src"
    assert "org/albert-src@v1" in card  # the card still says which revision was converted
    # an explicit --base-model wins over the source's
    code, out, err = cli(capsys, "push", "org/albert-src@v1", "org/albert-dst", "--formats", "safetensors",
                         "--dry-run", tmp_path / "explicit", "--base-model", "albert/albert-base-v2")
    assert code == 0, out + err
    assert card_metadata((tmp_path / "explicit" / "README.md").read_text())["base_model"] == "albert/albert-base-v2"


@pytest.mark.parametrize("text, spec", [
    ("org/name", RepoSpec("org/name")), ("o/n@refs/pr/3", RepoSpec("o/n", "refs/pr/3")),
    ("org/na.me-x_y@main", RepoSpec("org/na.me-x_y", "main")), ("org/name.git", None), ("org/na..me", None),
    ("org--x/name", None), ("name", None), ("org/name/extra", None), ("/abs/path", None), ("-org/name", None),
    ("org/name@", None), ("./org/name", None)])
def test_repo_ids(text, spec):
    assert parse_repo_id(text) == spec


def test_the_verdict_on_a_push_from_its_runs():
    from albert_bridge.errors import BridgeError, ParityError
    from albert_bridge.publish import _judge
    from albert_bridge.parity.compare import Comparison
    from albert_bridge.parity.report import Report, Run

    def report(*runs, passed=True):
        r = Report(atol=1e-5, rtol=1e-5, device="cpu", dtype="float32", head="base", inputs="random")
        r.runs = list(runs)
        r.comparisons = [Comparison("source:torch", "torch:model.safetensors", "x", 0.0 if passed else 1.0, 0.0,
                                    passed)]
        return r

    source = Run("src", "torch", "cpu", "float32", 1.0, label="source:torch")
    one = Run("model.safetensors", "torch", "cpu", "float32", 1.0, label="torch:model.safetensors")
    skipped = Run("model.safetensors", "hf-torch", "cpu", "float32", label="hf-torch:model.safetensors",
                  skipped="not installed: transformers")
    verdict, forced = _judge(report(source, one, skipped), [], force=False, dry_run=False)
    assert forced is None and verdict == ("PASSED: 1 comparisons within tolerance; not run: hf-torch:model.safetensors "
                                          "(not installed: transformers)")
    with pytest.raises(ParityError, match="^parity FAILED: 1 of 1 comparisons exceed tolerance; nothing was published"):
        _judge(report(source, one, passed=False), [], force=False, dry_run=False)
    broken = Run("src", "torch", "cpu", "float32", label="source:torch", error="worker exited with code 1")
    with pytest.raises(BridgeError, match="^parity NOT CHECKED: the source could not run on torch: worker exited") as e:
        _judge(report(broken, one), [], force=False, dry_run=True)
    assert not isinstance(e.value, ParityError) and "nothing was written" in str(e.value)
    verdict, forced = _judge(report(source, skipped), ["model.onnx (no parity backend for onnx)"], force=True,
                             dry_run=False)
    assert forced == f"parity NOT CHECKED: published with --force: {verdict}"
    assert verdict.endswith("(not installed: transformers); model.onnx (no parity backend for onnx)")


def test_push_timeout_reaches_every_parity_run_and_the_card_names_the_source_run(tmp_path, capsys, monkeypatch):
    """`push --timeout` bounds each parity run (it reaches the harness), and the card's parity paragraph names the
    backend the source ran on (the first run), not a published file's."""
    from albert_bridge import publish

    seen = []

    def check(*args, **kwargs):
        seen.append(kwargs.get("timeout"))
        return real_check(*args, **kwargs)

    real_check = publish.check
    monkeypatch.setattr(publish, "check", check)
    # the source on the float64 NumPy reference: a card naming any run but the first names torch or hf-torch
    monkeypatch.setattr(publish, "REFERENCE_BACKENDS", ("numpy",))
    code, out, err = cli(capsys, "push", FIXTURE, "org/tiny-timeout", "--formats", "safetensors", "--timeout", "321",
                         "--dry-run", tmp_path / "out")
    assert code == 0, out + err
    assert seen == [321.0]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "on the same inputs as the source on `numpy` (`source:*`)" in card
    assert "source:numpy" in out and "torch:model.safetensors" in out
