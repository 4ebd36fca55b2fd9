"""Helpers shared by the CLI-facing tests."""

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
