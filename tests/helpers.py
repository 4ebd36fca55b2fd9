"""Helpers shared by the CLI-facing tests."""

import signal
from contextlib import contextmanager

from albert_bridge.cli import main


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
