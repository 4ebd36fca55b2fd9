"""What a fleet runs over: a manifest file (one source a line) or a Hub search, read as a stream.

    # comments and blank lines are skipped
    albert/albert-base-v2                  a Hub repo: the pull request goes to the repo itself
    org/name@v1.0  org/name-pt             a revision, and another repo to publish to
    ./checkpoints/finetune-3  org/ft-3     a local path (relative to the manifest) needs a repo to publish to
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import BridgeError
from ..sources import find_token, hub_error, huggingface_hub_client, is_local, parse_repo_id, settings


@dataclass(frozen=True)
class Entry:
    source: str                 # a Hub repo id (without its revision) or an absolute local path
    revision: str | None
    target: str | None          # the repo to publish to (None: the source repo itself)

    @property
    def local(self) -> bool:
        return parse_repo_id(self.source) is None

    @property
    def spec(self) -> str:
        """What the single commands take: `org/name@revision` or the path."""
        return self.source + (f"@{self.revision}" if self.revision else "")

    def repo(self) -> str:
        """The repo published to, and the name of its dry-run folder."""
        if self.target:
            return self.target
        if self.local:
            return f"local/{_safe(Path(self.source).name)}"
        return self.source

    def folder_name(self) -> str:
        """`<org>--<name>` (and `--<revision>` when a revision was asked for): the dry-run folder."""
        name = self.repo().replace("/", "--")
        return name + (f"--{_safe(self.revision)}" if self.revision else "")


def _safe(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text)


def read_manifest(path: str | os.PathLike) -> Iterator[Entry]:
    """The manifest's entries in order (duplicates left to the ledger); a line that is neither a Hub repo id nor
    an existing path is refused, naming the file and the line (exit 3) before anything runs."""
    path = Path(path)
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise BridgeError(f"cannot read the manifest ({exc.strerror})", file=path) from None
    with handle:
        lines = enumerate(handle, 1)
        while True:
            try:
                number, line = next(lines)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise BridgeError("the manifest is not UTF-8 text", file=path) from None
            try:
                entry = parse_line(line, path.parent)
            except BridgeError as exc:
                raise BridgeError(exc.message, file=f"{path}:{number}") from None
            if entry is not None:
                yield entry


def parse_line(line: str, base: Path) -> Entry | None:
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    if len(words) > 2:
        raise BridgeError(f"expected SOURCE [TARGET-REPO], got {len(words)} words")
    source, target = words[0], (words[1] if len(words) == 2 else None)
    if target is not None:
        spec = parse_repo_id(target)
        if spec is None or spec.revision:
            raise BridgeError(f"{target!r} is not a Hub repo id org/name to publish to")
    local = Path(source) if Path(source).is_absolute() else base / source
    if is_local(local):
        return Entry(str(local.resolve()), None, target)
    spec = parse_repo_id(source)
    if spec is None:
        raise BridgeError(f"{source!r} is neither a Hub repo id org/name[@revision] nor an existing path")
    return Entry(spec.repo_id, spec.revision, target)


def hub_search(query: str, token: str | None = None, limit: int | None = None) -> Iterator[Entry]:
    """huggingface_hub's model listing: words of QUERY are searched, `author:NAME` keeps one author's models."""
    author = None
    words = []
    for word in query.split():
        if word.startswith("author:"):
            author = word.split(":", 1)[1]
        else:
            words.append(word)
    current = settings()
    hub = huggingface_hub_client(current)
    api = hub.HfApi(endpoint=current.endpoint, token=find_token(token) or False)
    try:
        for model in api.list_models(search=" ".join(words) or None, author=author, limit=limit):
            yield Entry(model.id, None, None)
    except Exception as exc:  # noqa: BLE001 - one line naming the query
        raise hub_error(exc, f"--hub-search {query!r}", current) from None
