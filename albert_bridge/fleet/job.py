"""One source's job, a plain function both engines call (`process(task) -> Outcome`, never raises): the single
commands' own functions, in their order:

    resolve_source (fetch) -> already complete? -> describe (inspect) -> open PR with our marker? -> push
                                                                         (convert + parity + card + commit or PR)

The task carries no token: the worker reads it from its environment (HF_TOKEN, as `push` does), which the pool
inherits and Ray sets through the job's runtime_env.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import albert_bridge

from ..errors import BridgeError, ParityError
from ..formats import get_format
from ..inspection import describe
from ..publish import push
from ..sources import find_token, hub_error, huggingface_hub_client, parse_repo_id, resolve_source, settings
from . import politeness

MODES = ("dry-run", "pr", "main")


@dataclass(frozen=True)
class Task:
    row: int
    source: str                         # Hub repo id or local path
    revision: str | None
    target: str                         # the repo published to
    formats: tuple[str, ...]
    mode: str                           # dry-run | pr | main
    output: str | None = None           # the dry-run folder DIR/<org>--<name>
    backends: tuple[str, ...] | None = None
    timeout: float = 900.0

    @property
    def spec(self) -> str:
        return self.source + (f"@{self.revision}" if self.revision else "")


@dataclass
class Outcome:
    row: int
    state: str                          # done | failed
    seconds: float = 0.0
    parity_passed: bool | None = None
    pr_url: str | None = None
    output: str | None = None
    error: str | None = None
    note: str | None = None
    fetched: str | None = field(default=None, repr=False)  # the snapshot folder: named as the repo in errors


def marker(task: Task) -> str:
    """What our pull request's title ends with: a digest of (source, revision, formats, version), so a rerun finds
    the PR an earlier attempt opened, and another version or format set does not."""
    key = "\n".join([task.source, task.revision or "", ",".join(task.formats), albert_bridge.__version__])
    return "albert-bridge " + hashlib.sha256(key.encode()).hexdigest()[:12]


def process(task: Task, limiter: politeness.Limiter | None = None) -> Outcome:
    """Run one source; every failure becomes a failed Outcome with the one-line error."""
    start = time.perf_counter()
    outcome = Outcome(task.row, "failed")
    try:
        politeness.install(limiter)
        _run(task, outcome)
    except ParityError as exc:
        outcome.state, outcome.parity_passed, outcome.error = "failed", False, exc.one_line()
    except BridgeError as exc:
        outcome.state, outcome.error = "failed", exc.one_line()
    except Exception as exc:  # noqa: BLE001 - one source's failure never stops the others
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        outcome.state, outcome.error = "failed", f"{task.spec}: {type(exc).__name__}: {first}"
    if outcome.error and outcome.fetched and parse_repo_id(task.source):
        outcome.error = outcome.error.replace(outcome.fetched, task.spec)  # the repo, not this worker's cache
    outcome.seconds = round(time.perf_counter() - start, 3)
    outcome.fetched = None
    return outcome


def _run(task: Task, outcome: Outcome) -> None:
    token = find_token()
    local = parse_repo_id(task.source) is None
    folder = resolve_source(task.spec, token=token)
    outcome.fetched = str(folder)
    present = _files(task, folder, local, token)
    complete = [f for f in task.formats if any(fnmatch(name, p) for name in present for p in get_format(f).hub_files)]
    if len(complete) == len(task.formats):
        outcome.state, outcome.note = "done", "already holds " + ", ".join(complete) + ": nothing to do"
        return
    info = describe(str(folder))
    if info["problems"]:
        first = info["problems"][0]
        raise BridgeError(f"{first['problem']}", file=task.spec, tensor=first["tensor"])
    if task.mode == "dry-run":
        output = Path(task.output)
        if output.is_dir() and any(output.iterdir()):  # written whole (atomically) by an earlier attempt
            outcome.state, outcome.output, outcome.parity_passed = "done", str(output), True
            outcome.note = "written by an earlier attempt"
            return
    if task.mode == "pr":
        existing = _open_pull_request(task, token)
        if existing:
            outcome.state, outcome.pr_url, outcome.parity_passed = "done", existing, True
            outcome.note = "the pull request an earlier attempt opened"
            return
    result = push(task.spec, task.target, formats=list(task.formats), create_pr=task.mode == "pr", token=token,
                  dry_run=task.output if task.mode == "dry-run" else None, backends=task.backends,
                  marker=marker(task), timeout=task.timeout)
    outcome.state, outcome.parity_passed = "done", bool(result.report.passed)
    outcome.output = str(result.folder) if result.folder else None
    outcome.pr_url = result.pr_url or result.commit_url
    if task.mode != "dry-run" and result.commit_url is None:
        outcome.note = "the repo already holds these files"


def _files(task: Task, folder: Path, local: bool, token: str | None) -> list[str]:
    """The names the source holds: a local folder's files, or the repo's at the revision (not just the fetched)."""
    if local:
        root = folder if folder.is_dir() else folder.parent
        return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    current = settings()
    api = huggingface_hub_client(current).HfApi(endpoint=current.endpoint, token=token or False)
    try:
        return api.list_repo_files(task.source, revision=task.revision)
    except Exception as exc:  # noqa: BLE001 - one line naming the repo
        raise hub_error(exc, task.spec, current) from None


def _open_pull_request(task: Task, token: str | None) -> str | None:
    """The URL of an open pull request on the target whose title carries this task's marker, if any."""
    current = settings()
    api = huggingface_hub_client(current).HfApi(endpoint=current.endpoint, token=token or False)
    wanted = marker(task)
    try:
        for discussion in api.get_repo_discussions(task.target, discussion_type="pull_request",
                                                   discussion_status="open"):
            if wanted in discussion.title:
                return f"{current.endpoint}/{task.target}/discussions/{discussion.num}"
    except Exception as exc:  # noqa: BLE001
        from huggingface_hub.errors import RepositoryNotFoundError  # the `hub` extra, loaded by now

        if isinstance(exc, RepositoryNotFoundError):
            return None  # push creates it
        raise hub_error(exc, task.target, current) from None
    return None
