"""The ground floor of every load: a local path or a Hugging Face Hub repo id -> local files.

`resolve_source("org/name@rev", fmt)`: a local path that exists is returned as it is; otherwise a Hub repo id is
fetched with huggingface_hub's cache (`snapshot_download`), only the files the format needs (the `hub_files` of
its registry entry, config.json and the tokenizer's files, `tokenizer_files.TOKENIZER_PATTERNS`), and the snapshot
directory is returned. Every entry point (convert, inspect, parity, every `from_pretrained`) resolves through it
before it reads; `formats.load` itself takes local paths only.

huggingface_hub is imported only here and in `publish`, and only when a repo id or a push needs it (the `hub`
extra). It reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE once, at its import; we read them at each call
(`settings()`), so the environment a command runs in is the one honoured. Errors are one line naming the repo
(`BridgeError`, exit 3).
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Iterator, Sequence

from .config import CONFIG_NAME
from .errors import BridgeError
from .formats import FORMATS, Format, get_format
from .tokenizer_files import TOKENIZER_PATTERNS

DEFAULT_ENDPOINT = "https://huggingface.co"
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


def huggingface_hub_client(current: HubSettings):
    try:
        import huggingface_hub  # the `hub` extra: only when a repo id is asked for
    except ImportError:
        raise BridgeError("Hub access needs huggingface_hub: pip install 'albert-bridge[hub]'") from None
    from huggingface_hub import constants, file_download  # (the same extra, now known to be installed)
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
def quiet_progress() -> Iterator[None]:
    """huggingface_hub's progress bars only on a terminal (stderr carries one-line errors otherwise)."""
    from huggingface_hub.utils import (  # the `hub` extra, installed when a fetch or push gets here
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    silence = not sys.stderr.isatty() and not are_progress_bars_disabled()
    if silence:
        disable_progress_bars()
    try:
        yield
    finally:
        if silence:
            enable_progress_bars()


def is_local(path: Path) -> bool:
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
    spec = None if is_local(path) else parse_repo_id(src)
    if spec is None:
        return path
    if revision:
        spec = replace(spec, revision=revision)
    current = settings()
    hub = huggingface_hub_client(current)
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
        with quiet_progress():
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
            raise BridgeError(f"no tokenizer files (spiece.model, tokenizer.json, vocab.txt){where}", file=spec)
        return
    fmt = fmt or first_format(names)
    if fmt is None or not fmt.detect(folder):
        raise BridgeError(f"no {fmt.describe if fmt else 'ALBERT checkpoint'}{where}", file=spec)


def resolve_pretrained(src: str | os.PathLike, options: dict[str, Any], fmt: str | None = None,
                       tokenizer: bool = False) -> Path:
    """resolve_source for from_pretrained: transformers' fetching keywords (revision, token, cache_dir,
    local_files_only) apply to a Hub id; they mean nothing for a local path."""
    if options.get("subfolder") and parse_repo_id(src) and not is_local(Path(src)):
        raise BridgeError("subfolder= is not supported for Hub repos", file=src)
    return resolve_source(src, fmt, tokenizer=tokenizer, revision=options.get("revision"),
                          token=options.get("token") or options.get("use_auth_token") or None,
                          cache_dir=options.get("cache_dir"), local_files_only=bool(options.get("local_files_only")))


def hub_error(exc: Exception, spec: RepoSpec | str, current: HubSettings, cache_only: str | None = None) -> BridgeError:
    """One line for what went wrong with the Hub (never the token, never a traceback); `cache_only`: why only the
    cache was asked."""
    import requests  # huggingface_hub's HTTP client (the `hub` extra), like the errors it raises
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
    elif isinstance(exc, (requests.ConnectionError, requests.Timeout, errors.OfflineModeIsEnabled)):
        # (OfflineModeIsEnabled is the builtin ConnectionError, not requests'; HF_HUB_OFFLINE raises it)
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
