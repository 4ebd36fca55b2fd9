"""The Hugging Face Hub: repo ids as sources, and `push`.

- `resolve_source("org/name@rev", fmt)`: a local path that exists is returned as it is; otherwise a Hub repo id is
  fetched with huggingface_hub's cache (`snapshot_download`), only the files the format needs (the `hub_files` of
  its registry entry, config.json and the tokenizer's files), and the snapshot directory is returned. Every load
  (`formats.load`, hence convert / inspect / parity, and every `from_pretrained`) goes through it.
- `push(src, "org/name")`: convert SRC into one Hub-ready folder, check with the parity harness that the files
  themselves load with SRC's outputs on our backend and transformers' of their framework, write a model card,
  and upload what changed in one commit (or a pull request).

huggingface_hub is imported only here, and only when a repo id or a push needs it (the `hub` extra). It reads
HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE once, at its import; we read them at each call (`settings()`), so the
environment a command runs in is the one honoured. Errors are one line naming the repo (`BridgeError`, exit 3).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .config import CONFIG_NAME
from .errors import BridgeError, ParityError
from .formats import FORMATS, Format, get_format
from .formats.hf_layout import TOKENIZER_FILES, weight_file_pattern
from .schema import ARCHITECTURES, HeadKind

DEFAULT_ENDPOINT = "https://huggingface.co"
TOKENIZER_PATTERNS = (*TOKENIZER_FILES, "*.model")  # a lone *.model is the SentencePiece model (TF1: 30k-clean)
# from_pretrained keywords about fetching (transformers' names) that a Hub id honours.
FETCH_ARGUMENTS = ("revision", "token", "use_auth_token", "cache_dir", "local_files_only", "subfolder")

# `org/name` with an optional `@revision` (a branch, tag, commit or refs/pr/N); the Hub's own rules for names.
_REPO_ID = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95})(?:@(?P<revision>[\w./-]+))?")


@dataclass(frozen=True)
class RepoSpec:
    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "")


def parse_repo_id(text: str | os.PathLike) -> RepoSpec | None:
    """`org/name[@revision]` as a RepoSpec; None when the text cannot be a Hub repo id."""
    match = _REPO_ID.fullmatch(str(text))
    if not match or ".." in match["repo"] or "--" in match["repo"] or match["repo"].endswith(".git"):
        return None
    return RepoSpec(match["repo"], match["revision"])


@dataclass(frozen=True)
class HubSettings:
    endpoint: str
    cache_dir: str
    offline: bool
    token_path: str


def settings() -> HubSettings:
    """HF_ENDPOINT, HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE and the login's token file, as huggingface_hub reads
    them, but now rather than at its import."""
    env = os.environ
    home = os.path.expanduser(os.path.expandvars(
        env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")))
    offline = (env.get("HF_HUB_OFFLINE") or env.get("TRANSFORMERS_OFFLINE") or "").upper() in {"1", "ON", "YES", "TRUE"}
    return HubSettings(
        endpoint=(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
        cache_dir=os.path.expanduser(os.path.expandvars(env.get("HF_HUB_CACHE") or os.path.join(home, "hub"))),
        offline=offline,
        token_path=os.path.expanduser(os.path.expandvars(env.get("HF_TOKEN_PATH") or os.path.join(home, "token"))),
    )


def find_token(explicit: str | None = None) -> str | None:
    """The token: given, else HF_TOKEN, else the huggingface_hub login (`hf auth login`'s token file)."""
    if explicit:
        return explicit
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token and token.strip():
        return token.strip()
    path = Path(settings().token_path)
    return (path.read_text().strip() or None) if path.is_file() else None


def _huggingface_hub(current: HubSettings):
    try:
        import huggingface_hub
    except ImportError:
        raise BridgeError("Hub access needs huggingface_hub: pip install 'albert-bridge[hub]'") from None
    from huggingface_hub import constants, file_download
    from huggingface_hub.utils import reset_sessions

    # Its import-time copies of the environment, where passing endpoint= is not enough: sessions made while
    # HF_HUB_OFFLINE was set refuse every request, and a commit's answer is parsed against ENDPOINT.
    if constants.HF_HUB_OFFLINE != current.offline:
        constants.HF_HUB_OFFLINE = current.offline
        reset_sessions()
    if constants.ENDPOINT != current.endpoint:
        template = current.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        constants.ENDPOINT = current.endpoint
        constants.HUGGINGFACE_CO_URL_TEMPLATE = file_download.HUGGINGFACE_CO_URL_TEMPLATE = template
    return huggingface_hub


@contextmanager
def _quiet_progress() -> Iterator[None]:
    """huggingface_hub's progress bars only on a terminal (stderr carries one-line errors otherwise)."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    silence = not sys.stderr.isatty() and not are_progress_bars_disabled()
    if silence:
        disable_progress_bars()
    try:
        yield
    finally:
        if silence:
            enable_progress_bars()


# --- sources -------------------------------------------------------------------------------------------------------
def _is_local(path: Path) -> bool:
    """It exists, or is a TF1 checkpoint prefix (`dir/model.ckpt-best` names no file of its own)."""
    return path.exists() or (path.parent.is_dir() and any(path.parent.glob(f"{glob_escape(path.name)}.*")))


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def model_patterns(fmt: Format) -> list[str]:
    """What a repo must hand over for a checkpoint in this format: its files, config.json, the tokenizer's."""
    return [*fmt.hub_files, CONFIG_NAME, *TOKENIZER_PATTERNS]


def first_format(files: Sequence[str]) -> Format | None:
    """The format a repo holding these files is read as: the first in the registry's detection order (an
    announced format that is not available yet only when nothing else matches: its require() explains)."""
    matching = [f for f in FORMATS.values() if any(fnmatch(name, p) for name in files for p in f.hub_files)]
    available = [f for f in matching if f.available]
    return available[0] if available else matching[0].require() if matching else None


def resolve_source(src: str | os.PathLike, fmt: str | None = None, *, tokenizer: bool = False,
                   extra_files: Sequence[str] = (), revision: str | None = None, token: str | None = None,
                   cache_dir: str | os.PathLike | None = None, local_files_only: bool = False) -> Path:
    """A local path (one that exists always wins), or the snapshot directory of a Hub repo id `org/name[@rev]`
    holding the files a checkpoint in `fmt` needs (no format: the first the repo holds, in detection order), or
    with `tokenizer` only the tokenizer's. Anything else is returned as a Path for the caller to report missing."""
    path = Path(src)
    spec = None if _is_local(path) else parse_repo_id(src)
    if spec is None:
        return path
    if revision:
        spec = replace(spec, revision=revision)
    current = settings()
    hub = _huggingface_hub(current)
    import requests  # huggingface_hub's HTTP client

    # Why only the cache may answer, when it must (offline, snapshot_download serves the cached snapshot).
    cache_only = "HF_HUB_OFFLINE is set" if current.offline else "local_files_only is set" if local_files_only else None
    access = {"endpoint": current.endpoint, "token": find_token(token) or False}  # False: no implicit lookup
    chosen = get_format(fmt).require() if fmt else None
    try:
        if tokenizer:
            patterns: list[str] | None = list(TOKENIZER_PATTERNS)
        elif chosen is None and cache_only:
            patterns = None  # nothing to list: the cached snapshot is what there is
        else:
            if chosen is None:
                try:
                    chosen = first_format(hub.HfApi(**access).list_repo_files(spec.repo_id, revision=spec.revision))
                except (requests.ConnectionError, requests.Timeout):  # no network: the cache may still have it
                    cache_only = f"{current.endpoint} cannot be reached"
                else:
                    if chosen is None:
                        raise BridgeError("the repository holds no ALBERT checkpoint (looked for " + ", ".join(
                            f.describe for f in FORMATS.values() if f.available) + ")", file=spec)
            patterns = model_patterns(chosen) if chosen else None
        with _quiet_progress():
            folder = Path(hub.snapshot_download(
                spec.repo_id, revision=spec.revision, allow_patterns=patterns and [*patterns, *extra_files],
                cache_dir=str(cache_dir or current.cache_dir), local_files_only=bool(cache_only), **access))
    except BridgeError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure of the client becomes one line naming the repo
        raise hub_error(exc, spec, current, cache_only) from None
    _check_fetched(folder, spec, chosen, tokenizer, cache_only)
    return folder


def _check_fetched(folder: Path, spec: RepoSpec, fmt: Format | None, tokenizer: bool, cache_only: str | None) -> None:
    """Say which repo lacks what (not which snapshot directory): a repo without the files, or a cache without them."""
    where = f" in the cache ({cache_only})" if cache_only else ""
    names = [p.relative_to(folder).as_posix() for p in folder.rglob("*")] if folder.is_dir() else []
    if tokenizer:
        if not any(fnmatch(name, t) for name in names for t in TOKENIZER_PATTERNS):
            raise BridgeError(f"no tokenizer files (spiece.model, tokenizer.json){where}", file=spec)
        return
    fmt = fmt or first_format(names)
    if fmt is None or not fmt.detect(folder):
        raise BridgeError(f"no {fmt.describe if fmt else 'ALBERT checkpoint'}{where}", file=spec)


def resolve_pretrained(src: str | os.PathLike, options: dict[str, Any], fmt: str | None = None,
                       tokenizer: bool = False) -> Path:
    """resolve_source for from_pretrained: transformers' fetching keywords (revision, token, cache_dir,
    local_files_only) apply to a Hub id; they mean nothing for a local path."""
    if options.get("subfolder") and parse_repo_id(src) and not _is_local(Path(src)):
        raise BridgeError("subfolder= is not supported for Hub repos", file=src)
    return resolve_source(src, fmt, tokenizer=tokenizer, revision=options.get("revision"),
                          token=options.get("token") or options.get("use_auth_token") or None,
                          cache_dir=options.get("cache_dir"), local_files_only=bool(options.get("local_files_only")))


def hub_error(exc: Exception, spec: RepoSpec | str, current: HubSettings, cache_only: str | None = None) -> BridgeError:
    """One line for what went wrong with the Hub (never the token, never a traceback); `cache_only`: why only the
    cache was asked."""
    import requests
    from huggingface_hub import errors

    endpoint = current.endpoint
    if isinstance(exc, errors.GatedRepoError):
        message = "gated repository: request access on the Hub, then pass a token (--token, HF_TOKEN or hf auth login)"
    elif isinstance(exc, errors.RepositoryNotFoundError):
        message = f"no such repository on {endpoint} (nor a local path); a private one needs a token"
    elif isinstance(exc, errors.RevisionNotFoundError):
        message = f"no revision {getattr(spec, 'revision', None) or 'main'!r} in the repository"
    elif isinstance(exc, errors.LocalEntryNotFoundError):
        message = f"neither a local path nor in the Hub cache, and {cache_only or f'{endpoint} cannot be reached'}"
    elif isinstance(exc, errors.EntryNotFoundError):
        message = "a file is missing in the repository"
    elif isinstance(exc, (requests.ConnectionError, requests.Timeout)):  # OfflineModeIsEnabled is one too
        message = ("HF_HUB_OFFLINE is set: the Hub is not asked" if current.offline else
                   f"cannot reach the Hub at {endpoint}")
    elif isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        message = {401: "the Hub rejected the token (401 Unauthorized)",
                   403: "the token may not do this (403 Forbidden: a read-only token, or someone else's namespace)",
                   }.get(status, f"the Hub answered {status} {exc.response.reason or ''}".strip())
    else:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        message = f"{type(exc).__name__}: {first}"
    return BridgeError(message, file=str(spec))


# --- push ----------------------------------------------------------------------------------------------------------
FRAMEWORK_NAMES = {"torch": "PyTorch", "tf": "TensorFlow", "flax": "Flax", "onnx": "ONNX"}
FRAMEWORK_TAGS = {"torch": ("pytorch", "safetensors"), "tf": ("tf",), "flax": ("jax",), "onnx": ("onnx",)}
PIPELINE_TAGS = {
    HeadKind.BASE: "feature-extraction",
    HeadKind.PRETRAINING: "fill-mask",
    HeadKind.MASKED_LM: "fill-mask",
    HeadKind.SEQUENCE_CLASSIFICATION: "text-classification",
    HeadKind.MULTIPLE_CHOICE: "multiple-choice",
    HeadKind.TOKEN_CLASSIFICATION: "token-classification",
    HeadKind.QUESTION_ANSWERING: "question-answering",
}
REFERENCE_BACKENDS = ("torch", "flax", "tf")  # SRC runs on the first one installed


def publish_formats(names: Sequence[str] | str | None) -> list[Format]:
    """`--formats`: registry names of formats with a framework (transformers loads them); `all` (the default) is
    every publishable format that is available, so a format joins when it lands."""
    if names is None or names == "all" or list(names) == ["all"]:
        return [f for f in FORMATS.values() if f.publish and f.available]
    formats = [get_format(n) for n in ([names] if isinstance(names, str) else names)]
    for fmt in formats:
        if not fmt.publish:
            why = ("PyTorch weights are published as model.safetensors" if fmt.framework == "torch" else
                   "transformers does not load it")
            raise BridgeError(f"format {fmt.name!r} cannot be published: {why} "
                              f"(publishable: {', '.join(f.name for f in FORMATS.values() if f.publish)})")
        fmt.require()
    return list({f.name: f for f in formats}.values())


@dataclass
class PushResult:
    repo: str
    folder: Path | None                   # the dry-run folder
    report: Any                           # the parity Report
    verdict: str                          # what the card and the commit say about parity
    forced: str | None = None             # the warning --force wrote, when parity failed or was not checked
    files: dict[str, str] = field(default_factory=dict)  # name -> added | updated | unchanged | removed
    commit_url: str | None = None
    pr_url: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def committed(self) -> list[str]:
        return [name for name, state in self.files.items() if state != "unchanged"]


def push(src: str | os.PathLike, repo_id: str, *, formats: Sequence[str] | str | None = None,
         create_pr: bool = False, revision: str | None = None, private: bool = False,
         commit_message: str | None = None, token: str | None = None, dry_run: str | os.PathLike | None = None,
         force: bool = False, license: str | None = None, base_model: str | None = None,
         src_format: str | None = None, timeout: float | None = None,
         on_run: Callable[[Any], None] | None = None) -> PushResult:
    """Convert SRC into a Hub-ready folder, prove with the parity harness that each published file loads with SRC's
    outputs, write the model card, and upload what differs from the repo in one commit (`create_pr`: a pull
    request). Parity that fails or could not be checked stops the push (ParityError / BridgeError) unless `force`,
    which says so in the card and the commit message. `dry_run`: write the folder there and upload nothing.
    `on_run` gets each parity run as it finishes."""
    target = parse_repo_id(repo_id)
    if target is None or target.revision:
        raise BridgeError("expected a Hub repo id org/name (the branch goes in --revision)", file=repo_id)
    fmts = publish_formats(formats)
    if dry_run is not None and Path(dry_run).exists() and (not Path(dry_run).is_dir() or any(Path(dry_run).iterdir())):
        raise BridgeError("the --dry-run directory must be new or empty", file=dry_run)
    current = settings()
    api = None
    if dry_run is None:  # the token first: a missing or rejected one should not wait for a conversion
        token = find_token(token)
        if not token:
            raise BridgeError("no Hub token: pass --token, set HF_TOKEN or log in with `hf auth login`", file=target)
        api = _huggingface_hub(current).HfApi(endpoint=current.endpoint, token=token)
        _hub_call(lambda: api.whoami(), target, current)
    source = resolve_source(src, src_format, extra_files=("README.md",), token=token)
    source_repo = None if _is_local(Path(src)) else parse_repo_id(src)
    shown = str(source_repo) if source_repo else Path(src).name  # never this machine's paths in a public card
    from .convert import convert

    with _workspace(dry_run) as folder:
        conversion = convert(source, folder, [f.name for f in fmts], src_format=src_format)
        ckpt = conversion.checkpoint
        report, unchecked = _parity(source, folder, fmts, shown, timeout, on_run)
        verdict, forced = _judge(report, unchecked, force, dry_run is not None)
        published = sorted(p.name for p in folder.iterdir() if p.is_file())
        result = PushResult(str(target), Path(dry_run) if dry_run else None, report, verdict, forced,
                            warnings=list(conversion.warnings))
        remote: dict[str, Any] = {}
        if api is not None:
            remote = _prepare_repo(api, target, revision, private, current)
        result.files = _changes(folder, published, remote, fmts)
        card_source = _source_card(source)
        (folder / "README.md").write_text(_model_card(
            target, ckpt, conversion.written, folder, result, source, source_repo, fmts, unchecked,
            license=license or card_source.get("license"),
            base_model=base_model or (source_repo.repo_id if source_repo else card_source.get("base_model")),
            dry_run=dry_run is not None))
        if api is None:
            return result
        if not result.committed and "README.md" in remote:
            return result  # the weights are already there: a fresh card alone is no reason for a commit
        result.files["README.md"] = "updated" if "README.md" in remote else "added"
        message = commit_message or ("albert-bridge: ALBERT weights for "
                                     + ", ".join(FRAMEWORK_NAMES[f.framework] for f in fmts)
                                     + (" (parity-checked)" if forced is None else ""))
        if forced:
            message = f"[{forced.split(':')[0]}] {message}"
        info = _commit(api, target, revision, create_pr, folder, result, message, current)
        result.commit_url, result.pr_url = info.commit_url, info.pr_url
    return result


def _hub_call(call, target: RepoSpec, current: HubSettings):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - one line naming the repo
        raise hub_error(exc, target, current) from None


@contextmanager
def _workspace(dry_run: str | os.PathLike | None) -> Iterator[Path]:
    """Where the folder is built: the dry-run directory (atomically: nothing appears on failure) or a temp dir."""
    if dry_run is not None:
        from .convert import atomic_directory

        with atomic_directory(Path(dry_run)) as staging:
            yield staging
    else:
        with tempfile.TemporaryDirectory(prefix="albert-push-") as tmp:
            yield Path(tmp) / "repo"


def _parity(source: Path, folder: Path, fmts: list[Format], shown: str, timeout: float | None,
            on_run: Callable[[Any], None] | None = None):
    """SRC on our first installed backend against every published file on each backend of its framework (ours
    and transformers'): the proof is that the uploaded files themselves load with SRC's outputs."""
    from .parity import BACKENDS, check

    reference = next((b for b in REFERENCE_BACKENDS if not BACKENDS[b].missing()), REFERENCE_BACKENDS[0])
    runs = [(source, reference, f"source:{reference}")]
    shown_as = {str(source): shown}
    unchecked = []
    for fmt in fmts:
        weights = fmt.detect(folder)  # its single file or shard index, beside the others in the folder
        backends = [b.name for b in BACKENDS.values() if b.framework == fmt.framework]
        if not backends:
            unchecked.append(f"{weights.name} (no parity backend for {fmt.framework})")
        runs += [(weights, name, f"{name}:{weights.name}") for name in backends]
        shown_as[str(weights)] = weights.name
    options = {} if timeout is None else {"timeout": timeout}
    report = check(runs=runs, on_run=on_run, **options)
    for run in report.runs:  # the card shows repo file names, not this machine's temp paths
        run.checkpoint = shown_as.get(run.checkpoint, run.checkpoint)
    return report, unchecked


def _judge(report, unchecked: list[str], force: bool, dry_run: bool) -> tuple[str, str | None]:
    """(the verdict, the --force warning or None); without --force a failure or no proof at all raises."""
    source_run = report.runs[0]
    checked = [r for r in report.runs[1:] if r.ok]
    skipped = [f"{r.label} ({r.skipped})" for r in report.runs[1:] if r.skipped]
    nothing = "nothing was written" if dry_run else "nothing was published"
    if not source_run.ok:
        problem = f"the source could not run on {source_run.backend}: {source_run.skipped or source_run.error}"
        kind = "parity NOT CHECKED"
    elif not checked:
        problem = "no published file could be checked: " + "; ".join(skipped + unchecked)
        kind = "parity NOT CHECKED"
    elif not report.passed:
        problem = report.verdict().removeprefix("FAILED: ")
        kind = "parity FAILED"
    else:
        verdict = report.verdict()
        if skipped or unchecked:
            verdict += "; not run: " + "; ".join(skipped + unchecked)
        return verdict, None
    if not force:
        error = (ParityError if kind == "parity FAILED" else BridgeError)(
            f"{kind}: {problem}; {nothing} (--force publishes anyway, with a warning)")
        error.report = report  # the CLI shows the comparisons that refused the push
        raise error
    return problem, f"{kind}: published with --force: {problem}"


def _prepare_repo(api, target: RepoSpec, revision: str | None, private: bool, current: HubSettings) -> dict[str, Any]:
    """Create the repo (and the branch) when missing; the files already there, by path."""
    def prepare():
        api.create_repo(target.repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(target.repo_id, branch=revision, exist_ok=True)
        return {f.path: f for f in api.list_repo_tree(target.repo_id, revision=revision, recursive=True)
                if hasattr(f, "blob_id")}

    return _hub_call(prepare, target, current)


def _changes(folder: Path, published: list[str], remote: dict[str, Any], fmts: list[Format]) -> dict[str, str]:
    """Each published file against the repo: added, updated or unchanged (by git blob id or LFS sha256); files of
    an earlier save of a published format that this one does not write (other shards) are removed."""
    states = {}
    for name in published:
        there = remote.get(name)
        if there is None:
            states[name] = "added"
        elif there.lfs is not None:
            states[name] = "unchanged" if there.lfs.sha256 == file_sha256(folder / name) else "updated"
        else:
            states[name] = "unchanged" if there.blob_id == git_blob_id(folder / name) else "updated"
    patterns = [weight_file_pattern(fmt.marker_files[0]) for fmt in fmts]
    for name in remote:
        if name not in states and any(p.fullmatch(name) for p in patterns):
            states[name] = "removed"
    return states


def _commit(api, target: RepoSpec, revision: str | None, create_pr: bool, folder: Path, result: PushResult,
            message: str, current: HubSettings):
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    operations = [CommitOperationDelete(name) if state == "removed" else
                  CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
                  for name, state in result.files.items() if state != "unchanged"]
    description = "\n".join([
        f"Converted with albert-bridge; every published file was run against the source: {result.verdict}.", "",
        *([f"> **Warning** {result.forced}", ""] if result.forced else []),
        "Files: " + ", ".join(f"`{n}` {s}" for n, s in result.files.items()), "",
        result.report.to_markdown()])
    with _quiet_progress():
        return _hub_call(lambda: api.create_commit(
            target.repo_id, operations, commit_message=message, commit_description=description,
            revision=revision, create_pr=create_pr), target, current)


def _hexdigest(digest: Any, path: Path) -> str:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return _hexdigest(hashlib.sha256(), Path(path))


def file_sha256(path: Path) -> str:
    """A file's sha256, read once however often a push asks (the changed-files check and the card both do)."""
    stat = Path(path).stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


def git_blob_id(path: Path) -> str:
    """What the Hub lists as a regular file's oid: git's blob sha1."""
    return _hexdigest(hashlib.sha1(f"blob {path.stat().st_size}\0".encode()), path)


# --- the model card ------------------------------------------------------------------------------------------------
def _source_card(source: Path) -> dict[str, Any]:
    """license / base_model from the card beside SRC (a Hub snapshot's README.md included), when it has one."""
    readme = (source if source.is_dir() else source.parent) / "README.md"
    if not readme.is_file():
        return {}
    from huggingface_hub import ModelCard

    try:
        return ModelCard.load(readme).data.to_dict()
    except Exception:  # noqa: BLE001 - an unreadable card only means we know less
        return {}


def _source_files(source: Path, format_name: str) -> list[Path]:
    """The files SRC was read from: its format's files and config beside it."""
    if source.is_file():
        return [p for p in (source, source.parent / CONFIG_NAME) if p.is_file()]
    patterns = [*get_format(format_name).hub_files, CONFIG_NAME]
    return sorted(p for p in source.rglob("*") if p.is_file() and
                  any(fnmatch(p.relative_to(source).as_posix(), pattern) for pattern in patterns))


def _model_card(target: RepoSpec, ckpt, written: dict[str, list[Path]], folder: Path, result: PushResult,
                source: Path, source_repo: RepoSpec | None, fmts: list[Format], unchecked: list[str], *,
                license: str | None, base_model: str | None, dry_run: bool) -> str:
    from huggingface_hub import ModelCard, ModelCardData

    head = ckpt.head
    frameworks = [f.framework for f in fmts]
    data = ModelCardData(
        library_name="transformers", pipeline_tag=PIPELINE_TAGS[head], license=license, base_model=base_model,
        tags=["albert", "albert-bridge", *dict.fromkeys(t for fw in frameworks for t in FRAMEWORK_TAGS[fw])])
    architecture = ARCHITECTURES[head]
    framework_of = {p.name: FRAMEWORK_NAMES[get_format(name).framework] for name, paths in written.items()
                    for p in paths}
    origin = (f"the Hub repository `{source_repo}` at commit `{source.name}`" if source_repo  # a snapshot dir
              else f"the local checkpoint `{result.report.runs[0].checkpoint}`")
    lines = [f"# {target.repo_id.split('/')[1]}", ""]
    if result.forced:
        lines += [f"> **Warning: {result.forced}.** Do not rely on these files computing what the source computes.",
                  ""]
    lines += [
        f"ALBERT `{architecture}` ({head.value} head, {ckpt.num_parameters():,} parameters) for "
        + ", ".join(FRAMEWORK_NAMES[fw] for fw in frameworks)
        + f", converted by albert-bridge from {origin} "
        f"({ckpt.report.format} format). Parity: {result.verdict}.", "",
        "## Files", "",
        "| file | for | bytes | sha256 | this commit |", "|---|---|---|---|---|",
        *(f"| `{name}` | {framework_of.get(name, 'all')} | {(folder / name).stat().st_size:,} | "
          f"`{file_sha256(folder / name)}` | {state} |" for name, state in result.files.items() if state != "removed"),
        *(f"| `{name}` | | | | removed (an earlier save) |" for name, state in result.files.items() if state == "removed"),
        "",
        ("Written by `albert-bridge push --dry-run`, as a first push to an empty repository would upload it."
         if dry_run else "Files marked unchanged were already in the repository with these bytes."), "",
        "## Converted from", "",
        f"{origin[0].upper()}{origin[1:]}, read as {get_format(ckpt.report.format).describe}:", "",
        "| file | bytes | sha256 |", "|---|---|---|",
        *(f"| `{p.relative_to(source if source.is_dir() else source.parent).as_posix()}` | {p.stat().st_size:,} | "
          f"`{file_sha256(p)}` |" for p in _source_files(source, ckpt.report.format)),
        "", "## Parity", "",
        f"Every published file ran on albert-bridge's backend of its framework and on transformers' own class "
        f"(`hf-*`), on the same inputs as the source on `{result.report.runs[0].backend}` (`source:*`); every output "
        "(logits, pooled output, every hidden state) was compared with the source's.",
        *([f"Not checked: {'; '.join(unchecked)}."] if unchecked else []), "",
        result.report.to_markdown(), "",
        "## How to load", "",
        *_loading(target.repo_id, architecture, frameworks, has_tokenizer=any(
            (folder / n).is_file() for n in ("spiece.model", "tokenizer.json"))),
    ]
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")
    if card.data.to_dict() != data.to_dict():  # the YAML reads back as written
        raise BridgeError("the model card's metadata does not read back", file=target)
    return str(card)


def _loading(repo_id: str, architecture: str, frameworks: list[str], has_tokenizer: bool) -> list[str]:
    prefixes = {"torch": "", "tf": "TF", "flax": "Flax"}
    ours = theirs_4 = [f"{prefixes[fw]}{architecture}" for fw in frameworks if fw in prefixes]  # the same names
    lines = ["With albert-bridge (`pip install albert-bridge[hub]`), in every framework:", "", "```python",
             f"from albert_bridge import {', '.join(ours)}"]
    lines += [f'model = {name}.from_pretrained("{repo_id}")' for name in ours]
    if has_tokenizer:
        lines += ["from albert_bridge import AlbertTokenizer", f'tokenizer = AlbertTokenizer.from_pretrained("{repo_id}")']
    lines += ["```", "", "With transformers 4.x (PyTorch, TensorFlow with tf-keras, Flax):", "", "```python",
              f"from transformers import {', '.join(theirs_4)}"]
    for name in theirs_4:
        if name.startswith("TF") and "torch" in frameworks:  # its TF classes would convert model.safetensors instead
            lines.append(f'model = {name}.from_pretrained("{repo_id}", use_safetensors=False)  # reads tf_model.h5')
        else:
            lines.append(f'model = {name}.from_pretrained("{repo_id}")')
    if has_tokenizer:
        lines += ["from transformers import AutoTokenizer", f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")']
    lines += ["```", ""]
    if "torch" in frameworks:
        lines += ["With transformers 5 (PyTorch only: its TensorFlow and Flax classes ended with 4.x):", "", "```python",
                  f"from transformers import {architecture}", f'model = {architecture}.from_pretrained("{repo_id}")',
                  "```", ""]
    if "onnx" in frameworks:
        lines += ["ONNX Runtime:", "", "```python", "import onnxruntime", "from huggingface_hub import hf_hub_download",
                  f'session = onnxruntime.InferenceSession(hf_hub_download("{repo_id}", "model.onnx"))', "```", ""]
    return lines
