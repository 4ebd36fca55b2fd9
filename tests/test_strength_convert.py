"""Conversion safety at its edges: a signal whose exception is swallowed, a signal inside the deferred swap, a
failed final rename under --force, tarball members with Windows `..\\` components, and the atomic directory's own
bookkeeping (stale temporaries, permissions, refusals)."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from pathlib import Path

import pytest

import albert_bridge.atomic as atomic_module
import albert_bridge.convert as convert_module
from albert_bridge.atomic import _SignalsRaise, atomic_directory, clear_stale_temporaries
from albert_bridge.convert import convert
from albert_bridge.errors import BridgeError, Terminated
from albert_bridge.formats import get_format, load
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint
from tests.helpers import cli, leftovers, one_line_error
from tests.test_hostile import _member, _tar_with

pytestmark = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                                reason="signal handlers are installed from the main thread only")


@pytest.fixture
def src(tmp_path) -> Path:
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=5), tmp_path / "src")
    return tmp_path / "src"


def old_output(tmp_path: Path) -> Path:
    """An earlier conversion's output, for --force to replace."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("the old output")
    return out


class _SignalInDel:
    """Delivers a signal from inside `__del__`, where the interpreter prints and discards any exception: the
    handler's KeyboardInterrupt (or Terminated) never reaches the conversion, as with importlib's module-lock
    callback in the Ctrl-C that once ended in exit 0."""

    def __init__(self, signum: int):
        self.signum = signum

    def __del__(self):
        signal.raise_signal(self.signum)  # runs the Python handler before it returns; its exception dies here


def _exception_of(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(128 + signum)


def _swallow_a_signal_during(monkeypatch, name: str, signum: int) -> list[int]:
    """Make convert's `name` deliver `signum` where its exception is swallowed, then carry on as usual."""
    original = getattr(convert_module, name)
    delivered = []

    def patched(*args, **kwargs):
        if not delivered:
            delivered.append(signum)
            _SignalInDel(signum)  # dropped at once: __del__ runs here
            gc.collect()
        return original(*args, **kwargs)

    monkeypatch.setattr(convert_module, name, patched)
    return delivered


@pytest.mark.parametrize("signum, code, message", [(signal.SIGINT, 130, "error: interrupted"),
                                                    (signal.SIGTERM, 143, "error: terminated")],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_whose_exception_is_swallowed_still_stops_the_conversion(src, tmp_path, capsys, monkeypatch,
                                                                         signum, code, message):
    delivered = _swallow_a_signal_during(monkeypatch, "_verify", signum)
    swallowed = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: swallowed.append(unraisable.exc_type))
    out = tmp_path / "out"
    result, _, err = cli(capsys, "convert", src, out, "--to", "safetensors,canonical")
    assert delivered == [signum]
    assert swallowed == [type(_exception_of(signum))]  # the handler's exception was discarded where it was raised
    assert result == code, err
    assert err.strip().splitlines()[-1] == message
    assert not out.exists() and leftovers(out) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the previous handlers are back


def test_a_swallowed_signal_is_raised_when_the_handlers_are_restored(monkeypatch):
    """The last chance (after the swap, nothing left to defer): leaving cleanly with a signal received raises it."""
    swallowed = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: swallowed.append(unraisable.exc_type))
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as caught:
        with _SignalsRaise():
            _SignalInDel(signal.SIGTERM)
            gc.collect()
            assert swallowed == [Terminated]  # gone where it was raised; the block carries on
    assert caught.value.code == 143
    assert signal.getsignal(signal.SIGTERM) == previous  # restored before raising
    with pytest.raises(ValueError):  # an exception already on its way out is not replaced
        with _SignalsRaise():
            _SignalInDel(signal.SIGINT)
            raise ValueError


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)])
def test_a_signal_inside_the_deferred_swap_is_raised_after_it(src, tmp_path, monkeypatch, signum, raised):
    out = old_output(tmp_path)
    original_swap = atomic_module.swap
    seen = []

    def swap_with_a_signal(staging, target):
        signal.raise_signal(signum)  # deferred: the handler records it and returns
        seen.append(sorted(p.name for p in staging.iterdir()))
        original_swap(staging, target)

    monkeypatch.setattr(atomic_module, "swap", swap_with_a_signal)
    with pytest.raises(raised) as caught:
        convert(src, out, ["canonical"], force=True)
    if raised is Terminated:
        assert caught.value.code == 128 + signal.SIGTERM
    assert seen == [["albert.canonical.safetensors"]]
    # the swap ran to its end after the signal: the new output in place, the old one gone
    assert sorted(p.name for p in out.iterdir()) == ["albert.canonical.safetensors"]
    assert leftovers(out) == []
    reloaded = load(out)
    assert reloaded.head is HeadKind.MASKED_LM and len(reloaded.tensors) == len(make_checkpoint(HeadKind.MASKED_LM)
                                                                               .tensors)


def test_signals_during_the_clean_up_wait_for_it_and_the_first_one_wins():
    with _SignalsRaise() as signals:
        with pytest.raises(Terminated) as caught:
            with signals.deferred():
                signal.raise_signal(signal.SIGTERM)
                signal.raise_signal(signal.SIGINT)  # a second one: the first is what takes effect
                assert signals.pending == signal.SIGTERM
        assert caught.value.code == 143 and signals.pending is None and not signals.deferring
        with pytest.raises(KeyboardInterrupt):  # outside a deferred section: at once
            signal.raise_signal(signal.SIGINT)
        signals.received = None  # both were delivered as exceptions: nothing left to report at the exit
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_failed_final_rename_under_force_restores_the_old_output_intact(src, tmp_path, monkeypatch):
    out = old_output(tmp_path)
    (out / "sub").mkdir()
    (out / "sub" / "notes.txt").write_text("kept")
    real_rename = os.rename
    attempts = []

    def failing_rename(a, b):
        if Path(a).name.startswith(".out.tmp-") and Path(b) == out:  # the staging directory moving into place
            attempts.append(a)
            raise OSError(28, "No space left on device")
        return real_rename(a, b)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="No space left"):
        convert(src, out, ["canonical"], force=True)
    monkeypatch.undo()
    assert len(attempts) == 1
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "sub"]
    assert (out / "config.json").read_text() == "the old output" and (out / "sub" / "notes.txt").read_text() == "kept"
    assert leftovers(out) == []  # neither the staging directory nor the emptied backup remains


def test_the_swap_replaces_an_old_output_and_drops_the_backup(src, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.bin").write_text("from an earlier run")
    convert(src, out, ["canonical"], force=True)
    assert [p.name for p in out.iterdir()] == ["albert.canonical.safetensors"]
    assert leftovers(out) == []


def test_atomic_directory_refusals_and_permissions(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(BridgeError, match="exists and is not a directory"):
        with atomic_directory(file, force=True):
            pass
    full = tmp_path / "full"
    full.mkdir()
    (full / "a").write_text("a")
    with pytest.raises(BridgeError, match="not empty"):
        with atomic_directory(full, force=False):
            pass
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_directory(empty, force=False) as staging:  # an empty directory is no output to protect
        assert staging.parent == tmp_path and staging.name.startswith(f".empty.tmp-{os.getpid()}-")
        (staging / "x").write_text("new")
    assert (empty / "x").read_text() == "new"
    umask = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "nested" / "out", force=False) as staging:
            (staging / "y").write_text("y")
    finally:
        os.umask(umask)
    assert (tmp_path / "nested" / "out").stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700
    with pytest.raises(ValueError):
        with atomic_directory(tmp_path / "failed", force=False) as staging:
            raise ValueError
    assert not (tmp_path / "failed").exists() and leftovers(tmp_path / "failed") == []


def test_clear_stale_temporaries_only_matches_its_own_names(tmp_path):
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    assert clear_stale_temporaries(tmp_path / "missing-parent" / "out") == []
    out = tmp_path / "out"
    names = [f".out.tmp-{dead}-a", f"x.out.tmp-{dead}-b", f".out.tmp-{dead}-c.d", f".out.new-{dead}-e",
             f".out.tmp-{dead}-", f".outs.tmp-{dead}-f"]
    for name in names:
        (tmp_path / name).mkdir()
    (tmp_path / f".out.old-{dead}-g").write_text("a file, not a directory")
    (tmp_path / f".out.tmp-{dead}-h").symlink_to(tmp_path / names[1])
    assert clear_stale_temporaries(out) == [tmp_path / names[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names[1:], f".out.old-{dead}-g",
                                                                f".out.tmp-{dead}-h"])
    # a backup whose swap died, while a new output is already in place: dropped, the new output kept
    out.mkdir()
    (out / "config.json").write_text("new")
    backup = tmp_path / f".out.old-{dead}-i"
    (backup / "old").mkdir(parents=True)
    (backup / "old" / "config.json").write_text("old")
    assert clear_stale_temporaries(out) == [backup]
    assert (out / "config.json").read_text() == "new" and not backup.exists()


@pytest.mark.parametrize("name", ["..\\evil.txt", "albert_base\\..\\..\\evil.txt", "albert_base/..\\evil.txt",
                                  "\\evil.txt", "C:evil.txt"],
                         ids=["dotdot", "nested-dotdot", "mixed", "root", "drive"])
def test_tarball_members_with_windows_separators_are_refused_like_posix_ones(tmp_path, capsys, name):
    archive = _tar_with(tmp_path, _member(name))
    code, _, err = cli(capsys, "convert", archive, tmp_path / "out", "--to", "safetensors")
    assert code == 3
    why = "an absolute path" if name in ("\\evil.txt", "C:evil.txt") else "a '..' component"
    one_line_error(err, str(archive), repr(name), why)
    assert not (tmp_path / "out").exists()


def test_a_member_named_like_dotdot_but_not_one_is_read(tmp_path, capsys):
    archive = _tar_with(tmp_path, _member("albert_base/..notes"))
    code, out, err = cli(capsys, "convert", archive, tmp_path / "out", "--to", "canonical")
    assert code == 0, err


def test_a_failed_final_rename_without_an_old_output_raises_its_own_error(src, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_rename = os.rename

    def failing_rename(a, b):
        if Path(b) == out:
            raise OSError(28, "No space left on device")
        return real_rename(a, b)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="No space left on device"):  # not an error from restoring a backup
        convert(src, out, ["canonical"])
    monkeypatch.undo()
    assert not out.exists() and leftovers(out) == []


def test_the_old_output_is_set_aside_under_a_name_the_next_run_recognises(src, tmp_path, monkeypatch):
    out = old_output(tmp_path)
    real_rename = os.rename
    moves = []

    def recording(a, b):
        moves.append((Path(a), Path(b)))
        return real_rename(a, b)

    monkeypatch.setattr(os, "rename", recording)
    convert(src, out, ["canonical"], force=True)
    monkeypatch.undo()
    (old, aside), (staging, final) = moves
    assert old == out and aside.name == "old" and aside.parent.name.startswith(f".out.old-{os.getpid()}-")
    assert staging.name.startswith(f".out.tmp-{os.getpid()}-") and final == out
    assert leftovers(out) == []


def test_a_process_that_cannot_be_signalled_counts_as_alive(monkeypatch):
    from albert_bridge.atomic import _alive

    assert _alive(os.getpid())

    def refuse(pid, signum):
        raise PermissionError(1, "Operation not permitted")  # another user's process

    monkeypatch.setattr(os, "kill", refuse)
    assert _alive(12345)

    def gone(pid, signum):
        raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(os, "kill", gone)
    assert not _alive(12345)
