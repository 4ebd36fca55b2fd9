"""Helpers shared by the CLI-facing tests."""

import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from albert_bridge.cli import main
from albert_bridge.errors import BridgeError


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run `albert-bridge ARGS` in-process: (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err: str, *needles: str) -> None:
    """The contract for bad input: exactly one line, `error: ...`, naming what the needles name."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


class Overrun(Exception):
    """A test step ran past its deadline (a hang, in a test about hostile input)."""


@contextmanager
def deadline(seconds: float):
    """Raise Overrun inside the block after `seconds` (main thread; Python code only, as any signal handler)."""
    def expire(signum, frame):
        raise Overrun(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def hostile_call(call: Callable[[], object], names: Sequence[str], seconds: float) -> tuple[str, str | None]:
    """One case of a fuzz test: ("loaded" | "refused" | "escaped", what went wrong or None). Bad input must end in
    a one-line BridgeError naming one of `names`; anything else, or a run past `seconds` (a hang), is wrong."""
    try:
        with deadline(seconds):
            call()
        return "loaded", None
    except BridgeError as exc:
        line = exc.one_line()
        if "\n" in line or not any(name in line for name in names):
            return "refused", f"error does not name {names[0]}: {line!r}"
        return "refused", None
    except Exception as exc:  # noqa: BLE001 - what fuzz tests are about (Overrun: a hang)
        return "escaped", f"{type(exc).__name__}: {str(exc)[:300]}"


def fuzz_file(file: Path, cases: int, seed: int, mutation: Callable, call: Callable[[], object], names: Sequence[str],
              seconds: float, label: str, record_property) -> None:
    """Write `cases` mutations of `file` (`mutation(case, rng, original)` -> (kind, bytes)), calling `call` after each,
    then restore it; fails with every case that escaped (hostile_call), by number and kind, for the seed to replay."""
    original = file.read_bytes()
    rng = np.random.default_rng(seed)
    outcomes = {"loaded": 0, "refused": 0, "escaped": 0}
    escaped: list[str] = []
    started = time.perf_counter()
    try:
        for case in range(cases):
            kind, data = mutation(case, rng, original)
            file.write_bytes(data)
            outcome, problem = hostile_call(call, names, seconds)
            outcomes[outcome] += 1
            if problem:
                escaped.append(f"case {case} ({kind}): {problem}")
    finally:
        file.write_bytes(original)
    took = time.perf_counter() - started
    record_property("fuzz", {"target": label, "cases": cases, "seconds": round(took, 2), **outcomes})
    print(f"{label}: {cases} cases in {took:.1f} s, {outcomes}, {len(escaped)} escaped")
    assert not escaped, "\n".join(escaped[:20])
