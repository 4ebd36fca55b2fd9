"""The fleet's ledger: one SQLite row per (source, revision, formats, albert-bridge version), written only by the
coordinator, each state change one transaction:

    pending --claim--> running --finish--> done | failed
    running (its run is dead) --reclaim--> pending          failed (attempts <= --retries) --requeue--> pending

A run registers itself in `runs` (host, pid, heartbeat). A coordinator killed at any moment leaves rows `running`
under a run that is gone: the next run reclaims them before it schedules anything; a run that is still alive
(its pid answers, its heartbeat is fresh) keeps the ledger to itself (a second coordinator is refused).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import BridgeError

SCHEMA_VERSION = 1
LEASE_SECONDS = 60.0        # a run whose heartbeat is older than this is dead, whatever its pid says
STATES = ("pending", "running", "done", "failed")
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started REAL NOT NULL,
                   heartbeat REAL NOT NULL, finished REAL);
CREATE TABLE sources (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, revision TEXT NOT NULL, formats TEXT NOT NULL,
    version TEXT NOT NULL, target TEXT, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    lost INTEGER NOT NULL DEFAULT 0, run TEXT, seen TEXT, started REAL, seconds REAL, parity_passed INTEGER,
    pr_url TEXT, output TEXT, error TEXT, note TEXT,
    UNIQUE (source, revision, formats, version));
CREATE INDEX sources_seen_state ON sources (seen, state);
"""


@dataclass
class Row:
    id: int
    source: str
    revision: str | None
    formats: tuple[str, ...]
    version: str
    target: str | None
    state: str
    attempts: int
    seconds: float | None
    parity_passed: bool | None
    pr_url: str | None
    output: str | None
    error: str | None
    note: str | None
    lost: int = 0

    def to_json(self) -> dict[str, Any]:
        """One entry of the status JSON (status.schema.json)."""
        return {"source": self.source, "revision": self.revision, "formats": list(self.formats),
                "state": self.state, "attempts": self.attempts, "seconds": self.seconds,
                "parity_passed": self.parity_passed, "pr_url": self.pr_url, "output": self.output,
                "error": self.error}


_COLUMNS = ("id, source, revision, formats, version, target, state, attempts, seconds, parity_passed, pr_url, "
            "output, error, note, lost")


def _row(values: tuple) -> Row:
    (id_, source, revision, formats, version, target, state, attempts, seconds, parity, pr_url, output, error,
     note, lost) = values
    return Row(id_, source, revision or None, tuple(formats.split(",")), version, target, state, attempts, seconds,
               None if parity is None else bool(parity), pr_url, output, error, note, lost)


class Ledger:
    """The SQLite file. Anything that is not a ledger of this schema is refused (BridgeError, exit 3)."""

    def __init__(self, path: str | os.PathLike, create: bool = True):
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise BridgeError("no such ledger", file=self.path)
        if self.path.exists() and not self.path.is_file():
            raise BridgeError("the ledger must be a file", file=self.path)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives a killed process
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise BridgeError(f"not a fleet ledger (SQLite: {exc})", file=self.path) from None
        if not tables:
            if not create:
                raise BridgeError("not a fleet ledger (an empty database)", file=self.path)
            with self.transaction():
                self._create()
            return
        if not {"meta", "runs", "sources"} <= tables:
            raise BridgeError("not a fleet ledger (tables " + ", ".join(sorted(tables)) + ")", file=self.path)
        found = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if found is None or found[0] != str(SCHEMA_VERSION):
            raise BridgeError(f"ledger schema version {found and found[0]!r}, this albert-bridge reads "
                              f"{SCHEMA_VERSION}", file=self.path)

    def _create(self) -> None:
        for statement in filter(str.strip, _SCHEMA.split(";")):
            self.db.execute(statement)
        self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    class _Transaction:
        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, kind, *exc):
            self.db.execute("ROLLBACK" if kind else "COMMIT")

    def transaction(self) -> "Ledger._Transaction":
        return Ledger._Transaction(self.db)

    def close(self) -> None:
        self.db.close()

    # --- runs ---------------------------------------------------------------------------------------------------
    def begin_run(self, run: str) -> int:
        """Register this run; reclaim what dead runs left `running`. Returns how many rows were reclaimed."""
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        with self.transaction():
            for other, other_host, other_pid, beat in self.db.execute(
                    "SELECT run, host, pid, heartbeat FROM runs WHERE finished IS NULL").fetchall():
                if _alive(other_host, other_pid, beat, now):
                    raise BridgeError(f"the ledger is in use by a running fleet (pid {other_pid} on {other_host}); "
                                      "wait for it or stop it first", file=self.path)
                self.db.execute("UPDATE runs SET finished=? WHERE run=?", (now, other))
            reclaimed = self.db.execute("UPDATE sources SET state='pending', run=NULL WHERE state='running'").rowcount
            self.db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, NULL)", (run, host, pid, now, now))
        return reclaimed

    def heartbeat(self, run: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE runs SET heartbeat=? WHERE run=?", (time.time(), run))

    def end_run(self, run: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE runs SET finished=?, heartbeat=? WHERE run=?", (time.time(), time.time(), run))

    # --- sources ------------------------------------------------------------------------------------------------
    def register(self, run: str, entries: Iterable[tuple[str, str | None, str | None]], formats: Iterable[str],
                 version: str, batch: int = 1000) -> int:
        """Mark each (source, revision, target) of the manifest as this run's, adding the rows not yet there;
        streamed in batches (the manifest is never held whole). Returns how many entries were seen."""
        key = ",".join(formats)
        count = 0
        chunk: list[tuple] = []

        def flush() -> None:
            with self.transaction():
                self.db.executemany(
                    "INSERT INTO sources (source, revision, formats, version, target, seen) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (source, revision, formats, version) DO UPDATE SET seen=excluded.seen, "
                    "target=excluded.target", chunk)
            chunk.clear()

        for source, revision, target in entries:
            chunk.append((source, revision or "", key, version, target, run))
            count += 1
            if len(chunk) >= batch:
                flush()
        if chunk:
            flush()
        return count

    def requeue_failed(self, run: str, retries: int) -> int:
        """Failures of this manifest that have attempts left go back to pending."""
        with self.transaction():
            return self.db.execute("UPDATE sources SET state='pending' WHERE seen=? AND state='failed' AND attempts<=?",
                                   (run, retries)).rowcount

    def claim(self, run: str, limit: int) -> list[Row]:
        """Up to `limit` pending rows of this run, now running under it (one transaction)."""
        with self.transaction():
            rows = [_row(r) for r in self.db.execute(
                f"SELECT {_COLUMNS} FROM sources WHERE seen=? AND state='pending' ORDER BY id LIMIT ?", (run, limit))]
            now = time.time()
            self.db.executemany("UPDATE sources SET state='running', run=?, started=?, attempts=attempts+1 WHERE id=?",
                                [(run, now, r.id) for r in rows])
        for r in rows:
            r.state, r.attempts = "running", r.attempts + 1
        return rows

    def finish(self, row_id: int, state: str, *, seconds: float | None, parity_passed: bool | None = None,
               pr_url: str | None = None, output: str | None = None, error: str | None = None,
               note: str | None = None) -> None:
        assert state in ("done", "failed"), state
        with self.transaction():
            self.db.execute("UPDATE sources SET state=?, seconds=?, parity_passed=?, pr_url=?, output=?, error=?, "
                            "note=?, run=NULL WHERE id=?",
                            (state, seconds, None if parity_passed is None else int(parity_passed), pr_url, output,
                             error, note, row_id))

    def lost(self, row_id: int, most: int) -> bool:
        """A worker died under this row: back to pending (its attempt not counted) unless it was lost `most`
        times already, then failed. True when it goes back."""
        with self.transaction():
            lost = self.db.execute("UPDATE sources SET lost=lost+1, attempts=attempts-1, state='pending', run=NULL "
                                   "WHERE id=? RETURNING lost", (row_id,)).fetchone()[0]
            if lost > most:
                self.db.execute("UPDATE sources SET state='failed', attempts=attempts+1, error=? WHERE id=?",
                                (f"its worker died {lost} times", row_id))
                return False
        return True

    def rows(self, run: str | None = None) -> Iterator[Row]:
        """Every row (of one run's manifest), in manifest order, read as a stream."""
        query = f"SELECT {_COLUMNS} FROM sources" + (" WHERE seen=?" if run else "") + " ORDER BY id"
        for values in self.db.execute(query, (run,) if run else ()):
            yield _row(values)

    def counts(self, run: str | None = None) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        query = "SELECT state, count(*) FROM sources" + (" WHERE seen=?" if run else "") + " GROUP BY state"
        for state, n in self.db.execute(query, (run,) if run else ()):
            counts[state] = n
        return counts

    def failed_parity(self, run: str | None = None) -> int:
        query = "SELECT count(*) FROM sources WHERE parity_passed=0" + (" AND seen=?" if run else "")
        return self.db.execute(query, (run,) if run else ()).fetchone()[0]


def _alive(host: str, pid: int, heartbeat: float, now: float) -> bool:
    """A run is alive while its heartbeat is fresh and, on this host, its process exists."""
    if now - heartbeat > LEASE_SECONDS:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
