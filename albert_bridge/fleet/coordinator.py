"""The coordinator: manifest -> ledger -> engine -> ledger, with a bounded window of jobs in flight so its memory
does not grow with the number of sources (the manifest is streamed into the ledger, pending rows are claimed a
window at a time, results are written as they come).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence
from xml.sax.saxutils import quoteattr

import albert_bridge

from ..errors import BridgeError
from .engines import Job, Lost, make_engine
from .job import Outcome, Task, process
from .ledger import Ledger, Row
from .manifest import Entry

HEARTBEAT_SECONDS = 5.0
SHOWN = ("done", "failed", "pending", "running")  # the order summaries list the states in
MOST_LOST = 2                  # a row whose worker died this many times more is failed


@dataclass
class RunSummary:
    run: str
    counts: dict[str, int]
    failed_parity: int
    reclaimed: int
    seconds: float

    @property
    def exit_code(self) -> int:
        """0 every source done (and passing), 1 some failed."""
        return 1 if self.counts["failed"] or self.failed_parity or self.counts["pending"] else 0


def run_fleet(entries: Iterable[Entry], ledger_path: str | Path, *, formats: Sequence[str], mode: str,
              out_dir: str | Path | None = None, engine: str = "local", workers: int = 2,
              address: str | None = None, retries: int = 2, backends: Sequence[str] | None = None,
              endpoint_limit: int = 4, cpus: float = 1.0, memory: int | None = None, timeout: float = 900.0,
              window: int | None = None, job: Job = process,
              on_outcome: Callable[[Row, Outcome | Lost], None] | None = None) -> RunSummary:
    """Run every entry through `job` on the engine, recording each state change in the ledger; returns the counts
    of this manifest's rows. Bad input (manifest, ledger, options) raises BridgeError before anything runs."""
    if mode not in ("dry-run", "pr", "main"):
        raise BridgeError(f"unknown mode {mode!r}")
    if mode == "dry-run" and out_dir is None:
        raise BridgeError("a dry run needs its output directory")
    start = time.perf_counter()
    formats = tuple(formats)
    ledger = Ledger(ledger_path)
    run = uuid.uuid4().hex
    try:
        reclaimed = ledger.begin_run(run)
        try:
            return _schedule(ledger, run, reclaimed, start, entries, formats=formats, mode=mode, out_dir=out_dir,
                             engine=engine, workers=workers, address=address, retries=retries, backends=backends,
                             endpoint_limit=endpoint_limit, cpus=cpus, memory=memory, timeout=timeout,
                             window=window, job=job, on_outcome=on_outcome)
        finally:
            ledger.end_run(run)
    finally:
        ledger.close()


def _schedule(ledger: Ledger, run: str, reclaimed: int, start: float, entries: Iterable[Entry], *, formats, mode,
              out_dir, engine, workers, address, retries, backends, endpoint_limit, cpus, memory, timeout, window,
              job, on_outcome) -> RunSummary:
    version = albert_bridge.__version__

    def checked(items: Iterable[Entry]) -> Iterator[tuple[str, str | None, str]]:
        for entry in items:
            if entry.local and mode != "dry-run" and not entry.target:
                raise BridgeError("a local source needs a repo to publish to (SOURCE org/name in the manifest)",
                                  file=entry.source)
            yield entry.source, entry.revision, entry.repo()

    ledger.register(run, checked(entries), formats, version)
    ledger.requeue_failed(run, retries)
    window = window or max(2 * workers, 4)
    runner = make_engine(engine, workers, endpoint_limit, address, cpus=cpus, memory=memory,
                         max_retries=3, job=job)
    in_flight: dict[int, Row] = {}
    beat = time.monotonic()
    try:
        while True:
            if len(in_flight) < window:
                for row in ledger.claim(run, window - len(in_flight)):
                    in_flight[row.id] = row
                    runner.submit(row.id, _task(row, mode, out_dir, backends, timeout))
            if not in_flight:
                break
            for key, result in runner.poll(1.0):
                row = in_flight.pop(key)
                if isinstance(result, Lost):
                    ledger.lost(row.id, MOST_LOST)
                else:
                    ledger.finish(row.id, result.state, seconds=result.seconds, parity_passed=result.parity_passed,
                                  pr_url=result.pr_url, output=result.output, error=result.error, note=result.note)
                if on_outcome:
                    on_outcome(row, result)
            if time.monotonic() - beat > HEARTBEAT_SECONDS:
                ledger.heartbeat(run)
                beat = time.monotonic()
    except BaseException:  # Ctrl-C, SIGTERM, a ledger error: leave now; rows left running are reclaimed by the next run
        runner.close(wait=False)
        raise
    runner.close()
    return RunSummary(run, ledger.counts(run), ledger.failed_parity(run), reclaimed, time.perf_counter() - start)


def _task(row: Row, mode: str, out_dir, backends, timeout: float) -> Task:
    entry = Entry(row.source, row.revision, row.target)
    output = str(Path(out_dir) / entry.folder_name()) if mode == "dry-run" else None
    return Task(row.id, row.source, row.revision, entry.repo(), row.formats, mode, output,
                tuple(backends) if backends else None, timeout)


# --- reports -----------------------------------------------------------------------------------------------------
def status(ledger_path: str | Path, run: str | None = None) -> dict:
    """The status JSON (status.schema.json) of the whole ledger, or of one run's manifest."""
    with closing(Ledger(ledger_path, create=False)) as ledger:
        return {"sources": [r.to_json() for r in ledger.rows(run)], "counts": ledger.counts(run)}


def write_json(path: Path, ledger_path: str | Path, run: str | None = None) -> None:
    """The status JSON, streamed row by row (a 100,000-row ledger is never one list in memory)."""
    with closing(Ledger(ledger_path, create=False)) as ledger:
        path = Path(path)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(partial, "w", encoding="utf-8") as out:
            out.write('{"sources": [')
            for i, row in enumerate(ledger.rows(run)):
                out.write(("," if i else "") + "\n  " + json.dumps(row.to_json()))
            out.write('\n],\n"counts": ' + json.dumps(ledger.counts(run)) + "}\n")
        os.replace(partial, path)  # whole or not at all


def to_markdown(ledger_path: str | Path, run: str | None = None) -> str:
    with closing(Ledger(ledger_path, create=False)) as ledger:
        counts = ledger.counts(run)
        lines = ["# albert-bridge fleet", "", ", ".join(f"{counts[s]} {s}" for s in SHOWN), "",
                 "| source | state | attempts | seconds | parity | pull request / output | error |",
                 "|---|---|---|---|---|---|---|"]
        for r in ledger.rows(run):
            parity = "" if r.parity_passed is None else "passed" if r.parity_passed else "FAILED"
            cell = [r.source + (f"@{r.revision}" if r.revision else ""), r.state, str(r.attempts),
                    "" if r.seconds is None else f"{r.seconds:.1f}", parity, r.pr_url or r.output or r.note or "",
                    r.error or ""]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cell) + " |")
        return "\n".join(lines) + "\n"


def to_junit(ledger_path: str | Path, run: str | None = None) -> str:
    with closing(Ledger(ledger_path, create=False)) as ledger:
        counts = ledger.counts(run)
        total = sum(counts.values())
        cases = []
        for r in ledger.rows(run):
            name = quoteattr(r.source + (f"@{r.revision}" if r.revision else ""))
            body = ""
            if r.state == "failed":
                body = f"<failure message={quoteattr(r.error or 'failed')}/>"
            elif r.state != "done":
                body = f"<skipped message={quoteattr(r.state)}/>"
            cases.append(f'  <testcase classname="fleet" name={name} time="{r.seconds or 0:.3f}">{body}</testcase>')
        return ('<?xml version="1.0" encoding="utf-8"?>\n'
                f'<testsuite name="albert-bridge fleet" tests="{total}" failures="{counts["failed"]}" '
                f'skipped="{counts["pending"] + counts["running"]}">\n' + "\n".join(cases) + "\n</testsuite>\n")


__all__ = ["run_fleet", "status", "write_json", "to_markdown", "to_junit", "RunSummary"]
