"""`albert-bridge fleet`: 31 repos of every kind on a loopback Hub, each with its expected outcome; a coordinator
SIGKILLed mid-run and resumed (each repo handled once, no duplicate pull request); the same manifest on a local Ray
and on the process pool giving the same ledger; the ledger, manifest and politeness contracts.

The repos are generated once per module (tiny checkpoints written by our adapters); parity runs the NumPy reference
on the source and our PyTorch model on the published model.safetensors (`--backends numpy,torch`), the cheapest
proof that the published file loads with the source's outputs.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import pytest

from albert_bridge.fleet import Entry, Ledger, run_fleet, status
from albert_bridge.fleet import politeness
from albert_bridge.fleet.manifest import hub_search, read_manifest
from albert_bridge.formats import get_format
from albert_bridge.testing import make_checkpoint
from tests.helpers import ROOT, one_line_error
from tests.helpers import cli as call
from tests.hub_server import TOKEN, HubServer

pytestmark = pytest.mark.hub

BACKENDS = "torch"  # our PyTorch model on the source and on the published model.safetensors: one process
# kind -> (how many repos, expected state, what the row says)
KINDS = {  # 6 to convert, 25 that end early (they cost little): 31 repos
    "tf-only": (2, "done", "pr"),
    "flax-only": (2, "done", "pr"),
    "bin-only": (2, "done", "pr"),
    "complete": (8, "done", "already holds safetensors"),
    "corrupt": (6, "failed", "file is truncated"),
    "gated": (5, "failed", "gated repository"),
    "missing-revision": (4, "failed", "no revision 'v9'"),
    "missing-repo": (2, "failed", "no such repository"),
}


def _files(fmt: str, seed: int) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        get_format(fmt).save(make_checkpoint("masked-lm", seed=seed), Path(tmp))
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir()}


@pytest.fixture(scope="module")
def fleet_hub():
    """(hub, {source spec: kind}) with 31 repos; the same bytes serve several repos of a kind (what differs between
    them is the repo, which is what the fleet keys on)."""
    tf, flax, torch_bin, safetensors = (_files("tf", 1), _files("flax", 2), _files("pytorch", 3),
                                        _files("safetensors", 4))
    corrupt = {**tf, "tf_model.h5": tf["tf_model.h5"][:2000]}
    with HubServer() as hub:
        expected = {}
        for kind, (count, _, _) in KINDS.items():
            for i in range(count):
                repo = f"{kind.split('-')[0]}{i}/albert-{kind}"
                spec = repo
                if kind == "tf-only":
                    hub.add_repo(repo, tf)
                elif kind == "flax-only":
                    hub.add_repo(repo, flax)
                elif kind == "bin-only":
                    hub.add_repo(repo, torch_bin)
                elif kind == "complete":
                    hub.add_repo(repo, {**safetensors, "tf_model.h5": tf["tf_model.h5"]})
                elif kind == "corrupt":
                    hub.add_repo(repo, corrupt)
                elif kind == "gated":
                    hub.add_repo(repo, tf, gated=True, granted=())  # our token has no access
                elif kind == "missing-revision":
                    hub.add_repo(repo, tf)
                    spec = f"{repo}@v9"
                expected[spec] = kind
        assert len(expected) >= 30
        yield hub, expected


@pytest.fixture(scope="module")
def hub_env(fleet_hub, tmp_path_factory):
    """(hub, expected, manifest of all 31) with the Hub's environment set for the module (workers inherit it)."""
    hub, expected = fleet_hub
    tmp = tmp_path_factory.mktemp("fleet")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_ENDPOINT", hub.url)
        env.setenv("HF_HOME", str(tmp / "hf-home"))
        env.setenv("HF_HUB_OFFLINE", "0")
        env.setenv("HF_TOKEN", TOKEN)
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        for name in ("HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE", "HF_TOKEN_PATH"):
            env.delenv(name, raising=False)
        manifest = tmp / "manifest.txt"
        manifest.write_text("# every kind of ALBERT repo\n" + "\n".join(expected) + "\n\n")
        yield hub, expected, manifest


def _rows(ledger: Path) -> dict[str, dict]:
    return {r["source"] + (f"@{r['revision']}" if r["revision"] else ""): r for r in status(ledger)["sources"]}


def _check_outcomes(rows: dict[str, dict], expected: dict[str, str], mode: str) -> None:
    assert sorted(rows) == sorted(expected)
    for spec, kind in expected.items():
        row, (_, state, says) = rows[spec], KINDS[kind]
        assert row["state"] == state, (spec, row)
        if says == "pr":
            assert row["parity_passed"] is True, (spec, row)
            if mode == "pr":
                assert row["pr_url"] and "/discussions/" in row["pr_url"], (spec, row)
            else:
                assert row["output"] and Path(row["output"]).name == spec.replace("/", "--"), (spec, row)
                assert (Path(row["output"]) / "model.safetensors").is_file()
        elif state == "failed":
            assert says in row["error"] and spec.split("@")[0] in row["error"], (spec, row)
            assert "\n" not in row["error"] and "/snapshots/" not in row["error"], row["error"]
        else:
            assert row["parity_passed"] is None and row["pr_url"] is None and row["output"] is None, (spec, row)


def _wait_for(ledger: Path, done: int, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if ledger.exists():
            try:
                with sqlite3.connect(ledger, timeout=5) as db:
                    counts = dict(db.execute("SELECT state, count(*) FROM sources GROUP BY state").fetchall())
            except sqlite3.OperationalError:  # the schema is being created
                counts = {}
            if counts.get("done", 0) >= done and counts.get("running", 0):
                return
        time.sleep(0.05)
    raise AssertionError(f"the fleet did not finish {done} sources in {seconds} s")


@pytest.mark.slow
def test_a_coordinator_killed_mid_run_resumes_each_repo_once_without_duplicate_prs(hub_env, tmp_path, capsys):
    hub, expected, manifest = hub_env
    ledger = tmp_path / "fleet.sqlite"
    args = ["fleet", str(manifest), "--ledger", str(ledger), "--create-pr", "--backends", BACKENDS,
            "--workers", "2", "--retries", "0"]
    first = subprocess.Popen([sys.executable, "-m", "albert_bridge.cli", *args, "-q"], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(ledger, done=4)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    before = status(ledger)["counts"]
    assert before["running"] >= 1 and before["done"] >= 4, before  # killed with work in flight

    resume = [*args[:-4], "--workers", "1", "--retries", "0"]  # one worker starts faster and is enough now
    code, out, err = call(capsys, *resume, "--json", tmp_path / "status.json")
    assert code == 1, err  # some sources failed, as they should
    rows = _rows(ledger)
    _check_outcomes(rows, expected, "pr")
    assert f"{before['running']} reclaimed from a run that stopped" in out
    for spec, kind in expected.items():
        repo = spec.split("@")[0]
        prs = hub.pull_requests(repo) if repo in hub.repos else []
        commits = [c for c in hub.commits if c.repo == repo]
        assert len(prs) == len(commits) == (1 if KINDS[kind][2] == "pr" else 0), (spec, prs, commits)
        assert all(c.create_pr and c.revision.startswith("refs/pr/") for c in commits), commits  # never main
        if prs:
            assert prs[0]["title"].endswith("]") and "[albert-bridge " in prs[0]["title"]
            assert rows[spec]["pr_url"].endswith(f"/{repo}/discussions/{prs[0]['num']}")
            assert rows[spec]["attempts"] == 1 or rows[spec]["pr_url"], rows[spec]
    # The failures ran once (--retries 0): a rerun touches nothing and opens nothing.
    assert all(r["attempts"] == 1 for r in rows.values() if r["state"] == "failed"), rows
    commits = len(hub.commits)
    code, _, err = call(capsys, *resume)
    assert code == 1 and len(hub.commits) == commits and _rows(ledger) == rows, err
    # The JSON written by --json is the schema's, and no token is anywhere in what the fleet wrote.
    written = json.loads((tmp_path / "status.json").read_text())
    _validate(written)
    assert written["counts"] == status(ledger)["counts"]
    assert TOKEN.encode() not in ledger.read_bytes() + (tmp_path / "status.json").read_bytes() + (out + err).encode()


def _validate(document: dict) -> None:
    import jsonschema

    schema = json.loads(resources.files("albert_bridge.fleet").joinpath("status.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema)


@pytest.mark.slow
@pytest.mark.ray
def test_one_repo_of_each_kind_on_the_pool_rerun_and_on_ray_gives_the_same_ledger(hub_env, tmp_path, capsys):
    """A dry run on the process pool (the CLI, with its reports), a rerun that retries only the failures, then the
    same manifest on a local Ray: the same ledger."""
    hub, expected, _ = hub_env
    chosen = {}
    for spec, kind in expected.items():
        if kind not in chosen.values():
            chosen[spec] = kind
    manifest, ledger, out = tmp_path / "manifest.txt", tmp_path / "pool.sqlite", tmp_path / "pool"
    manifest.write_text("\n".join(chosen) + "\n")
    commits = len(hub.commits)
    args = ["fleet", manifest, "--ledger", ledger, "--dry-run", out, "--backends", BACKENDS, "--retries", "1",
            "--workers", "1"]
    code, _, err = call(capsys, *args)
    assert code == 1, err
    rows = _rows(ledger)
    _check_outcomes(rows, chosen, "dry-run")
    assert all(r["attempts"] == 1 for r in rows.values())

    # A rerun retries the failures once more (--retries 1) and skips what is done; its reports.
    requests = len(hub.requests)
    code, _, err = call(capsys, *args, "--markdown", tmp_path / "fleet.md", "--junit", tmp_path / "fleet.xml")
    assert code == 1, err
    markdown = (tmp_path / "fleet.md").read_text()
    assert "4 done, 4 failed, 0 pending, 0 running" in markdown and "| corrupt0/albert-corrupt | failed | 2 |" in markdown
    assert '<testsuite name="albert-bridge fleet" tests="8" failures="4"' in (tmp_path / "fleet.xml").read_text()
    again = _rows(ledger)
    assert {s: r["attempts"] for s, r in again.items()} == {s: 2 if r["state"] == "failed" else 1
                                                            for s, r in rows.items()}
    assert all(again[s]["output"] == rows[s]["output"] for s in rows)
    done = [spec for spec, r in rows.items() if r["state"] == "done"]
    asked = [r.path for r in hub.requests[requests:]]
    assert asked and not [p for p in asked for spec in done if f"/{spec}/" in p + "/"], asked  # the failures only
    # status: the whole ledger; exit 1 while some failed.
    code, out_text, _ = call(capsys, "fleet", "status", "--ledger", ledger)
    assert code == 1 and out_text.startswith("4 done, 4 failed, 0 pending, 0 running")
    assert "failed corrupt0/albert-corrupt: corrupt0/albert-corrupt" in out_text
    code, out_text, _ = call(capsys, "fleet", "status", "--ledger", ledger, "--json")
    _validate(json.loads(out_text))

    # The same manifest on a local Ray (num_cpus=2), into a ledger of its own: the pool's ledger after its first run.
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})  # one Ray for both runs
    try:
        summary = run_fleet(read_manifest(manifest), tmp_path / "ray.sqlite", formats=["safetensors"],
                            mode="dry-run", out_dir=tmp_path / "ray", engine="ray", workers=2, retries=1,
                            backends=BACKENDS.split(","))
        assert summary.exit_code == 1

        def comparable(rows: dict[str, dict]) -> dict:
            return {spec: {k: (Path(v).name if k == "output" and v else v) for k, v in row.items() if k != "seconds"}
                    for spec, row in rows.items()}

        assert comparable(_rows(tmp_path / "ray.sqlite")) == comparable(rows)
        assert len(hub.commits) == commits  # dry runs upload nothing
        # Ray's side of the slots and the lost workers: one Hub slot held at a time over both task slots, and the
        # worker SIGKILLed under row 2 is Ray's to retry (the ledger never sees it lost).
        _check_slots_and_lost_worker(tmp_path / "held", "ray", lost_rows=set())
    finally:
        ray.shutdown()


def test_a_hub_search_whose_repos_are_all_done_exits_0(hub_env, tmp_path, capsys):
    hub, expected, _ = hub_env
    commits = len(hub.commits)
    code, _, err = call(capsys, "fleet", "--hub-search", "albert-complete", "--ledger", tmp_path / "l.sqlite",
                        "--create-pr", "--workers", "1")
    assert code == 0, err
    rows = status(tmp_path / "l.sqlite")["sources"]
    assert sorted(r["source"] for r in rows) == sorted(s for s, k in expected.items() if k == "complete")
    assert {r["state"] for r in rows} == {"done"} and len(hub.commits) == commits
    assert [e.spec for e in hub_search("albert author:complete2")] == ["complete2/albert-complete"]
    assert [e.spec for e in hub_search("author:gated0")] == ["gated0/albert-gated"]


@pytest.mark.slow
def test_no_pr_commits_to_the_main_branch_of_the_repo_the_manifest_names(hub_env, tmp_path, capsys):
    hub, _, _ = hub_env
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("flax0/albert-flax-only  tester/flax0-pt   # another repo to publish to\n")
    code, out, err = call(capsys, "fleet", manifest, "--ledger", tmp_path / "l.sqlite", "--no-pr", "--workers", "1",
                          "--backends", BACKENDS)
    assert code == 0, err
    (row,) = status(tmp_path / "l.sqlite")["sources"]
    assert row["state"] == "done" and row["parity_passed"] and "/tester/flax0-pt/commit/" in row["pr_url"]
    (commit,) = [c for c in hub.commits if c.repo == "tester/flax0-pt"]
    assert commit.revision == "main" and not commit.create_pr and "model.safetensors" in commit.files
    assert not [c for c in hub.commits if c.repo == "flax0/albert-flax-only" and not c.create_pr]  # the source: untouched


def test_bad_manifest_ledger_and_usage_exit_3_or_2(hub_env, tmp_path, capsys):
    _, _, manifest = hub_env
    bad = tmp_path / "bad.txt"
    bad.write_text("org/ok\n\nnot a repo id at all\n")
    code, _, err = call(capsys, "fleet", bad, "--ledger", tmp_path / "l.sqlite", "--create-pr")
    assert code == 3
    one_line_error(err, f"{bad}:3", "expected SOURCE [TARGET-REPO]")
    bad.write_text("./no-such-dir\n")
    code, _, err = call(capsys, "fleet", bad, "--ledger", tmp_path / "l.sqlite", "--create-pr")
    assert code == 3
    one_line_error(err, f"{bad}:1", "neither a Hub repo id")
    local = tmp_path / "ckpt"
    get_format("safetensors").save(make_checkpoint("masked-lm", seed=5), local)
    bad.write_text("ckpt\n")
    code, _, err = call(capsys, "fleet", bad, "--ledger", tmp_path / "l.sqlite", "--create-pr")
    assert code == 3
    one_line_error(err, str(local), "needs a repo to publish to")

    not_a_db = tmp_path / "notes.sqlite"
    not_a_db.write_text("just text, not SQLite\n" * 100)
    for args in (["fleet", "status", "--ledger", not_a_db],
                 ["fleet", manifest, "--ledger", not_a_db, "--create-pr"],
                 ["fleet", "status", "--ledger", tmp_path / "missing.sqlite"]):
        code, _, err = call(capsys, *args)
        assert code == 3, args
        one_line_error(err, str(args[-1] if args[1] == "status" else not_a_db))
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    code, _, err = call(capsys, "fleet", "status", "--ledger", other)
    assert code == 3 and "not a fleet ledger" in err
    newer = tmp_path / "newer.sqlite"
    Ledger(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    code, _, err = call(capsys, "fleet", "status", "--ledger", newer)
    assert code == 3 and "schema version '99'" in err

    code, _, err = call(capsys, "fleet", manifest, "--ledger", tmp_path / "l.sqlite")
    assert code == 2 and "--dry-run DIR, --create-pr, --no-pr" in err
    code, _, err = call(capsys, "fleet", manifest, "--ledger", tmp_path / "l.sqlite", "--create-pr", "--no-pr")
    assert code == 2


def test_a_live_coordinator_keeps_the_ledger_and_a_dead_ones_rows_are_reclaimed(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.begin_run("first")
    ledger.register("first", [("org/a", None, "org/a"), ("org/b", "v1", "org/b")], ["safetensors"], "0.1.0")
    assert [r.source for r in ledger.claim("first", 1)] == ["org/a"]
    with pytest.raises(Exception, match="in use by a running fleet"):  # this process is alive
        Ledger(tmp_path / "l.sqlite").begin_run("second")
    # The first run's process is gone (a pid that does not exist): its running row is reclaimed, attempts kept.
    ledger.db.execute("UPDATE runs SET pid=? WHERE run='first'", (_dead_pid(),))
    second = Ledger(tmp_path / "l.sqlite")
    assert second.begin_run("second") == 1
    assert [(r.source, r.state, r.attempts) for r in second.rows()] == [("org/a", "pending", 1),
                                                                      ("org/b", "pending", 0)]
    # A worker lost twice goes back to pending; the third time the row fails.
    second.register("second", [("org/a", None, "org/a")], ["safetensors"], "0.1.0")
    for expected in (True, True, False):
        (row,) = second.claim("second", 1)
        assert second.lost(row.id, 2) is expected
    assert next(second.rows()).state == "failed" and "died 3 times" in next(second.rows()).error


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_hub_429_and_503_are_retried_with_backoff_honouring_retry_after(fleet_hub, monkeypatch):
    hub, _ = fleet_hub
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    waits = []
    monkeypatch.setattr(politeness.time, "sleep", waits.append)
    from huggingface_hub import HfApi

    politeness.install()
    try:
        hub.fail("GET", r"/api/models/tf0/albert-tf-only", 429, times=2, retry_after="3")
        hub.fail("GET", r"/api/models/tf0/albert-tf-only", 503, times=1)
        before = len(hub.requests)
        assert HfApi(endpoint=hub.url, token=False).model_info("tf0/albert-tf-only").id == "tf0/albert-tf-only"
        assert len(hub.requests) - before == 4
        assert waits[:2] == [3.0, 3.0] and 2.0 <= waits[2] <= 2.2  # Retry-After, then 0.5 * 2^2 with jitter
        hub.fail("GET", r"/api/models/tf0/albert-tf-only", 503, times=politeness.MOST_TRIES)
        with pytest.raises(Exception, match="503"):  # it gives up: the last answer is the caller's
            HfApi(endpoint=hub.url, token=False).model_info("tf0/albert-tf-only")
    finally:
        politeness.uninstall()
    assert politeness.retry_wait(1, None, rng=lambda: 0.0) == 0.5
    assert politeness.retry_wait(12, None) == politeness.LONGEST_WAIT
    assert politeness.retry_wait(1, "Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait


def _held_job(task, limiter):
    """A job without weights: holds one Hub slot for 0.1 s and records when; the job of row 2 SIGKILLs its own
    worker on its first try."""
    from albert_bridge.fleet import Outcome

    log = Path(task.output)
    if task.row == 2 and not (log.parent / "killed").exists():
        (log.parent / "killed").touch()
        os.kill(os.getpid(), signal.SIGKILL)
    limiter.acquire()
    try:
        start = time.time()
        time.sleep(0.1)
        log.write_text(f"{start} {time.time()}")
    finally:
        limiter.release()
    return Outcome(task.row, "done", parity_passed=True, output=str(log))


def _check_slots_and_lost_worker(tmp_path: Path, engine: str, lost_rows: set[int]) -> None:
    tmp_path.mkdir()
    entries = [Entry(f"org/m{i}", None, None) for i in range(6)]
    summary = run_fleet(entries, tmp_path / "l.sqlite", formats=["safetensors"], mode="dry-run", out_dir=tmp_path,
                        engine=engine, workers=2, endpoint_limit=1, job=_held_job)
    assert summary.exit_code == 0 and summary.counts["done"] == 6
    assert (tmp_path / "killed").exists()
    spans = sorted(tuple(map(float, (tmp_path / f"org--m{i}").read_text().split())) for i in range(6))
    assert all(end <= next_start + 1e-3 for (_, end), (next_start, _) in zip(spans, spans[1:])), spans  # one at a time
    rows = list(Ledger(tmp_path / "l.sqlite").rows())
    assert all(r.attempts == 1 for r in rows), rows  # a lost try is not an attempt
    assert {r.id for r in rows if r.lost} >= lost_rows and all(r.lost <= 1 for r in rows), rows


def test_the_hub_slots_are_shared_by_all_workers_and_a_killed_worker_is_replaced(tmp_path):
    # The pool breaks with its worker: the jobs in flight then (row 2's among them) run again.
    _check_slots_and_lost_worker(tmp_path / "held", "local", lost_rows={2})
