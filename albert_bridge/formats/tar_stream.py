"""A tar archive (gzip, bzip2, xz or none) read as a stream and never unpacked to disk: the released ALBERT
`*.tar.gz` files are read this way (formats/tf1_original.py). A compressed stream cannot seek, so a member is a file
that only seeks forwards; members that are links, devices, absolute paths or `..` paths are refused outright."""

from __future__ import annotations

import io
import os
import re
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

from ..errors import BridgeError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES)


class ForwardOnly(io.RawIOBase):
    """A tar member of a compressed stream as a file that only seeks forwards (skipping bytes), which is all a
    bundle reader needs when tensors are read in offset order. Seeking to the end reports the size without moving."""

    def __init__(self, raw, size: int):
        self._raw, self._size, self._pos, self._target = raw, size, 0, 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._target, os.SEEK_END: self._size}[whence]
        self._target = base + offset
        return self._target

    def tell(self) -> int:
        return self._target

    def readinto(self, buffer) -> int:
        if self._target < self._pos:
            raise OSError(f"tensor data out of order (needs byte {self._target}, stream is at {self._pos})")
        while self._pos < self._target:
            skipped = len(self._raw.read(min(1 << 20, self._target - self._pos)))
            if not skipped:
                return 0
            self._pos += skipped
        n = self._raw.readinto(buffer) or 0
        self._pos += n
        self._target = self._pos
        return n


STREAM_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


class TarStream:
    """A tar archive (any compression) read as a stream, never extracted to disk: one pass at open keeps the small
    members `keep` names in memory (`small`); `stream_members` makes a fresh pass for the large ones."""

    SMALL = 256 << 20  # index files, configs and tokenizer models are far below this

    def __init__(self, path: Path, keep: Callable[[str], bool]):
        self.path = path
        self.small: dict[str, bytes] = {}  # member name (without ./) -> bytes, for the small members only
        with self._stream() as tar:
            for member in self._members(tar):
                name = self._name(member)
                if keep(name) and member.size <= self.SMALL:
                    self.small[name] = self.guard(lambda m=member: tar.extractfile(m).read())

    @staticmethod
    def _name(member: tarfile.TarInfo) -> str:
        name = member.name
        while name.startswith("./"):
            name = name[2:]
        return name

    def guard(self, fn, tensor: str | None = None):
        try:
            return fn()
        except STREAM_ERRORS as exc:
            raise BridgeError(f"not a readable tar archive ({exc})", file=self.path, tensor=tensor) from None

    def _stream(self) -> tarfile.TarFile:
        return self.guard(lambda: tarfile.open(self.path, mode="r|*"))

    def _members(self, tar: tarfile.TarFile):
        iterator = iter(tar)
        while True:
            member = self.guard(lambda: next(iterator, None))
            if member is None:
                return
            self._refuse_hostile(member)
            if member.isfile():
                yield member

    def _refuse_hostile(self, member: tarfile.TarInfo) -> None:
        """Nothing is extracted, but a release never holds these: an archive that does was not made to be read."""
        name = member.name
        parts = re.split(r"[/\\]", name)
        why = ("an absolute path" if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) else
               "a '..' component" if ".." in parts else
               f"a link (to {member.linkname!r})" if member.issym() or member.islnk() else
               "a device or fifo" if not (member.isfile() or member.isdir()) else None)
        if why:
            raise BridgeError(f"refused: archive member {name!r} has {why}", file=self.path)

    def stream_members(self, wanted: set[str]):
        """Yield (name, file object) for the wanted members, in archive order, in a fresh pass."""
        with self._stream() as tar:
            for member in self._members(tar):
                name = self._name(member)
                if name in wanted:
                    yield name, ForwardOnly(tar.extractfile(member), member.size)
