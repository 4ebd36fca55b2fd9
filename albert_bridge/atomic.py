"""The atomic output directory: a conversion (or a push's --dry-run folder) is written into a temporary directory
beside its destination and reaches it in one rename, or not at all; SIGINT and SIGTERM unwind through the same
clean-up as any failure, and what a killed run left behind is cleared by the next.

Standard library only: what reaches the destination, and how (a whole swap, or a file-by-file merge), is the
caller's `plan`; convert.py's merge plan knows the formats, this module knows none.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .errors import BridgeError, Terminated


class _SignalsRaise:
    """SIGINT and SIGTERM raise (KeyboardInterrupt, Terminated) while active, so an interrupted conversion unwinds
    through the same clean-up as any failure; the previous handlers come back on exit. In `deferred()` sections
    (the final swap, the clean-up) a signal waits until the section is done.

    The handler also records that a signal arrived, before it raises: its exception can be raised where the
    interpreter prints and discards exceptions (a `__del__`, a weakref callback, importlib's module-lock callback),
    and a lost Ctrl-C must not end in a silent success. `check()` (before the swap) and a clean exit raise it again."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.previous: dict[int, object] = {}
        self.deferring = False
        self.pending: int | None = None
        self.received: int | None = None  # the first signal that arrived, whatever became of its exception

    def __enter__(self) -> "_SignalsRaise":
        if threading.current_thread() is threading.main_thread():  # Python runs handlers in the main thread only
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if exc_type is None:  # leaving cleanly although a signal arrived: its exception was swallowed somewhere
            self.check()

    def _handle(self, signum: int, frame) -> None:
        self.received = self.received or signum
        if self.deferring:
            self.pending = self.pending or signum
        else:
            self._raise(signum)

    def check(self) -> None:
        """Raise for a signal that arrived, even if the exception its handler raised was swallowed."""
        if self.received is not None:
            self._raise(self.received)

    @staticmethod
    def _raise(signum: int) -> None:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(128 + signum)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None:  # reached only when the section succeeded: the signal takes effect now
            signum, self.pending = self.pending, None
            self._raise(signum)


def _temporary(target: Path, kind: str) -> Path:
    # The PID in the name tells a later run whether the process that made it is gone (see clear_stale_temporaries).
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.{kind}-{os.getpid()}-", dir=target.parent))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def clear_stale_temporaries(target: Path) -> list[Path]:
    """Remove what conversions to `target` that died (SIGKILL, a crash, power loss) left beside it: staging
    directories `.{name}.tmp-{pid}-*`, and backups `.{name}.old-{pid}-*` of the previous output, which is moved
    back first when the swap that set it aside never completed (no `target`). Only those whose process is gone:
    a conversion still running, to this destination or any other, keeps its own."""
    target = Path(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-(\d+)-\w+")
    cleared = []
    if not target.parent.is_dir():
        return cleared
    for entry in sorted(target.parent.iterdir()):
        match = pattern.fullmatch(entry.name)
        if not match or entry.is_symlink() or not entry.is_dir() or _alive(int(match.group(2))):
            continue
        if match.group(1) == "old" and not os.path.lexists(target) and (entry / "old").is_dir():
            os.rename(entry / "old", target)
        shutil.rmtree(entry, ignore_errors=True)
        cleared.append(entry)
    return cleared


@contextmanager
def atomic_directory(target: Path, force: bool = False,
                     plan: Callable[[Path], Callable[[Path, Path], None]] | None = None) -> Iterator[Path]:
    """Yield a temp dir beside `target`; on success it reaches `target` (`plan(target)` says how, and refuses what
    it must: by default a non-empty `target` is replaced whole only with `force`), on failure (SIGINT and SIGTERM
    included) nothing remains and an existing `target` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_stale_temporaries(target)
    if target.exists() and not target.is_dir():
        raise BridgeError("exists and is not a directory", file=target)
    publish = (plan or partial(_whole_directory, force=force))(target)
    with _SignalsRaise() as signals:
        staging = None
        try:
            staging = _temporary(target, "tmp")
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes 0700; the result should look like a normal directory
            yield staging
            signals.check()  # a signal whose exception was swallowed still stops the run before the swap
            with signals.deferred():
                publish(staging, target)
        except BaseException:
            with signals.deferred():  # a second Ctrl-C must not stop the clean-up halfway
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)
            raise


def _whole_directory(target: Path, force: bool) -> Callable[[Path, Path], None]:
    if is_non_empty_dir(target) and not force:
        raise BridgeError("output directory is not empty (choose a new or empty directory, or --force to replace "
                          f"it: removes {listing(directory_names(target))})", file=target)
    return swap


def is_non_empty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def directory_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def listing(names: Sequence[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def swap(staging: Path, target: Path) -> None:
    """Move the old output aside, the new one in, then drop the old; a failure between the two moves puts the old
    one back (and if the process dies there, the next run does: clear_stale_temporaries)."""
    backup = None
    if target.exists():
        backup = _temporary(target, "old")
        os.rename(target, backup / "old")
    try:
        os.rename(staging, target)
    except BaseException:
        if backup is not None:
            os.rename(backup / "old", target)
            shutil.rmtree(backup, ignore_errors=True)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
