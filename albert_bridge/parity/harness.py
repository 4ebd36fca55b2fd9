"""The equivalence harness: every (checkpoint, backend) pair on identical inputs, every output compared.

    report = check(["out/"], backends="torch,tf,flax")     # -> Report
    assert_parity("out/")                                   # raises ParityFailure with the text report

Each backend runs in a worker process of the environment it needs (see `worker.py`, `backends.PROCESSES`), started
on first use and kept for the rest of the session (`WorkerPool`): a test suite that checks many checkpoints imports
each framework once. Arrays pass between processes as .npy files in a temporary directory.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..errors import BridgeError, ParityError
from ..formats import load
from ..inputs import make_inputs
from ..schema import HeadKind
from ..sources import resolve_source
from ..tokenization import AlbertTokenizerFast
from .backends import BACKENDS, DEVICES, DTYPES, Job, check_job_inputs, parse_backends, read_outputs
from .compare import METRICS, compare_outputs, default_tolerance, first_divergent_layer
from .report import Report, Run

DEFAULT_TIMEOUT = 900.0  # seconds one run may take (worker start included)


class ParityFailure(ParityError, AssertionError):
    """assert_parity's failure: a ParityError (CLI exit 1) that pytest shows as an assertion, with the report."""


# --- worker processes ---------------------------------------------------------------------------------------------
class _Worker:
    def __init__(self, backend: str, device: str, log_dir: Path):
        self.log = log_dir / f"worker-{BACKENDS[backend].worker}-{device}.log"
        env = BACKENDS[backend].environment(device)
        package_root = str(Path(__file__).resolve().parents[2])  # importable even when not installed
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "albert_bridge.parity.worker"],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env)
        self._buffer = b""

    def send(self, job: Job) -> str | None:
        """Queue a job (the worker takes its jobs in order); an error line if the worker is gone."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps(asdict(job)) + "\n").encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            return self._died()
        return None

    def fill(self) -> bool:
        """Read what the worker has written (call when its stdout is readable); False at its end."""
        chunk = os.read(self.process.stdout.fileno(), 65536)
        self._buffer += chunk
        return bool(chunk)

    def answer(self) -> dict[str, Any] | None:
        """The next complete answer read so far, or None."""
        if b"\n" not in self._buffer:
            return None
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _died(self, timeout: float | None = None) -> str:
        self.close(kill=True)
        last = [x for x in self.log.read_text(errors="replace").splitlines() if x.strip()][-1:] if \
            self.log.exists() else []
        cause = f"timed out after {timeout:.0f} s" if timeout else f"exited with code {self.process.returncode}"
        return f"worker {cause}" + (f": {last[0].strip()[:300]}" if last else "") + f" (log: {self.log})"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, kill: bool = False) -> None:
        if self.alive:
            if kill:
                self.process.kill()
            else:
                self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream and not stream.closed:
                stream.close()


class WorkerPool:
    """One worker process per (process environment, device) -- backends that share an environment share a worker
    (`backends.PROCESSES`) --, started on first use, closed with the pool."""

    def __init__(self) -> None:
        self._workers: dict[tuple[str, str], _Worker] = {}
        self.directory = Path(tempfile.mkdtemp(prefix="albert-parity-"))

    def run(self, backend: str, device: str, job: Job, timeout: float) -> tuple[dict[str, Any], float]:
        """(the worker's answer, wall seconds including the worker's start when this job started it)."""
        answers: list = []
        self.run_all([(backend, device, job)], timeout, lambda _, answer, seconds: answers.append((answer, seconds)))
        return answers[0]

    @staticmethod
    def _key(backend: str, device: str) -> tuple[str, str]:
        return BACKENDS[backend].worker, device

    def _worker(self, backend: str, device: str) -> _Worker:
        key = self._key(backend, device)
        worker = self._workers.get(key)
        if worker is None or not worker.alive:
            worker = self._workers[key] = _Worker(backend, device, self.directory)
        return worker

    def run_all(self, jobs: Sequence[tuple[str, str, Job]], timeout: float,
                on_answer: Callable[[int, dict[str, Any], float], None]) -> None:
        """Every (backend, device, job) at once: the workers they need start together, so the frameworks import
        (and the runs compute) side by side; each worker takes its own jobs in order. `on_answer(index, answer,
        seconds)` as each answer arrives, seconds counted from when the job could start (its worker's previous
        answer, or now) -- a job gets `timeout` seconds from then. A worker that dies or times out fails the job
        it was running; the jobs queued behind it (backends sharing its process) go to a fresh worker."""
        queues: dict[tuple[str, str], list[int]] = {}

        def send(indices):
            for index in indices:
                backend, device, job = jobs[index]
                error = self._worker(backend, device).send(job)
                if error:
                    on_answer(index, {"error": error}, 0.0)
                else:
                    queues.setdefault(self._key(backend, device), []).append(index)

        send(range(len(jobs)))
        started = dict.fromkeys(queues, time.perf_counter())

        def finish(key, error):
            on_answer(queues[key].pop(0), {"error": error}, time.perf_counter() - started[key])
            send(queues.pop(key))
            started[key] = time.perf_counter()

        while queues:
            now = time.perf_counter()
            for key in [k for k in queues if now - started[k] > timeout]:
                finish(key, self._workers[key]._died(timeout))
            if not queues:
                break
            by_fd = {self._workers[k].process.stdout.fileno(): k for k in queues}
            wait = max(0.0, min(started[k] + timeout for k in queues) - now)
            for fd in select.select(list(by_fd), [], [], wait)[0]:
                key = by_fd[fd]
                worker = self._workers[key]
                alive = worker.fill()
                while key in queues and (answer := worker.answer()) is not None:
                    now = time.perf_counter()
                    on_answer(queues[key].pop(0), answer, now - started[key])
                    started[key] = now
                    if not queues[key]:
                        del queues[key]
                if key in queues and not alive:
                    finish(key, worker._died())

    def close(self) -> None:
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_SHARED_POOL: WorkerPool | None = None


def shared_pool() -> WorkerPool:
    """The pool check() uses unless given one: lives until the interpreter exits."""
    global _SHARED_POOL
    if _SHARED_POOL is None:
        _SHARED_POOL = WorkerPool()
        atexit.register(_SHARED_POOL.close)
    return _SHARED_POOL


# --- inputs -------------------------------------------------------------------------------------------------------
def text_inputs(texts: Sequence[str], src: Path, head: HeadKind, max_length: int) -> dict[str, np.ndarray]:
    """Texts tokenized by the tokenizer found beside the checkpoint (the fast one: the slow one's ids for
    SentencePiece, and it also reads the Chinese releases' vocab.txt); for multiple choice, the texts are the choices
    of one example."""
    directory = src if src.is_dir() else src.parent
    try:
        tokenizer = AlbertTokenizerFast.from_pretrained(directory)
    except BridgeError as exc:
        raise BridgeError(f"--text needs a tokenizer beside the checkpoint: {exc.one_line()}") from None
    encoded = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="np")
    batch = {k: np.asarray(encoded[k], np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    if head is HeadKind.MULTIPLE_CHOICE:
        batch = {k: v[None] for k, v in batch.items()}
    return batch


def read_text_file(path: str | os.PathLike) -> list[str]:
    """The texts of a file, one example a line (blank lines skipped): UTF-8, at least one text."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BridgeError("file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BridgeError(f"cannot read it as UTF-8 text ({exc})", file=path) from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise BridgeError("holds no text (one example a line)", file=path)
    return texts


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise BridgeError("file not found", file=path) from None
    except Exception as exc:  # noqa: BLE001 - zip, header or pickle errors of a bad file: one line naming it
        raise BridgeError(f"not a readable .npz file ({type(exc).__name__}: {exc})", file=path) from None


def load_expected(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """(inputs, outputs, metadata) of a file written by --save-outputs."""
    path = Path(path)
    arrays = _read_npz(path)
    inputs = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("input/")}
    outputs = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("output/")}
    if not outputs or "input_ids" not in inputs or "meta" not in arrays:
        raise BridgeError("not a parity outputs file (written by --save-outputs)", file=path)
    try:
        return inputs, outputs, json.loads(str(arrays["meta"]))
    except ValueError:
        raise BridgeError("its metadata is not JSON", file=path) from None


def save_outputs(path: str | Path, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray],
                 meta: dict[str, Any]) -> None:
    """Golden outputs with the inputs they were computed on, so `--expect` can run the same inputs again."""
    arrays = {**{f"input/{k}": v for k, v in inputs.items()}, **{f"output/{k}": v for k, v in outputs.items()},
              "meta": np.asarray(json.dumps(meta))}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


# --- the check ------------------------------------------------------------------------------------------------------
def check(
    srcs: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
    backends: str | Sequence[str] | None = None,
    *,
    runs: Sequence[tuple] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    atol: float | None = None,
    rtol: float | None = None,
    head: HeadKind | str | None = None,
    inputs: dict[str, np.ndarray] | str | os.PathLike | None = None,
    texts: Sequence[str] | None = None,
    text_file: str | os.PathLike | None = None,
    metric: str = "tolerance",
    min_agreement: float = 0.97,
    batch: int = 3,
    seq_len: int = 16,
    seed: int = 0,
    expect: str | os.PathLike | None = None,
    save_outputs_to: str | os.PathLike | None = None,
    emulate_device: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    pool: WorkerPool | None = None,
    on_run: Callable[[Run], None] | None = None,
) -> Report:
    """Run every checkpoint in `srcs` (local paths or Hub repo ids) on every backend with the same inputs and
    compare each output of each run with the first run (and with `expect`'s golden outputs). `runs` replaces the
    cross product with explicit `(checkpoint, backend)` or `(checkpoint, backend, label)` runs, the first being
    the reference. Bad input raises BridgeError; a mismatch does not raise (see `Report.passed`, or use
    `assert_parity`). `on_run` gets each run as it finishes (progress). `text_file`: one text per line, fed like
    `texts`. `metric="agreement"` judges by top-1 agreement of logits and cosine of the other outputs (at least
    `min_agreement`) instead of a tolerance: for reduced-precision tiers (int8, float16)."""
    plan = _plan(srcs, backends, runs)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (expected one of: {', '.join(METRICS)})")
    if not 0.0 <= min_agreement <= 1.0:
        raise ValueError(f"min_agreement must lie in [0, 1], got {min_agreement}")
    if text_file is not None:
        texts = [*(texts or ()), *read_text_file(text_file)]
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r} (expected one of: {', '.join(DEVICES)})")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} (expected one of: {', '.join(DTYPES)})")
    local = {path: resolve_source(path) for path, _, _ in plan}  # Hub ids fetched once; workers get local paths
    checkpoints = {path: load(local[path]) for path in local}  # lazy: reads headers and configs, fails early
    reference = checkpoints[plan[0][0]]
    head = HeadKind.parse(head) if head else reference.head

    expected = load_expected(expect) if expect else None
    feed, described = _inputs(inputs, texts, expected, expect, plan[0][0], local[plan[0][0]], head, reference.config,
                              batch=batch, seq_len=seq_len, seed=seed)
    report = _report(reference.config, atol, rtol, device=device, dtype=dtype, head=head, described=described)
    if metric == "agreement":
        report.metric, report.min_agreement = metric, min_agreement
        report.tolerance = (f"a logits output passes when its top-1 agreement with the reference run is at least "
                            f"{min_agreement:g}, any other output when its mean cosine similarity is (reduced "
                            "precision: agreement, not an absolute tolerance)")
    pool = pool or shared_pool()
    work = Path(tempfile.mkdtemp(prefix="run-", dir=pool.directory))
    try:
        inputs_file = work / "inputs.npz"
        np.savez(inputs_file, **feed)
        settings = dict(head=head.value, inputs=str(inputs_file), device=device, dtype=dtype,
                        emulate_device=emulate_device)
        comparisons = _Comparisons(report, expected, feed.get("attention_mask"))
        outputs = _runs(report, plan, local, settings, work, pool, timeout, on_run, comparisons.arrived)
        comparisons.finish(outputs)
        ok = [r for r in report.runs if r.ok]
        if save_outputs_to and ok:
            save_outputs(save_outputs_to, feed, outputs[ok[0].label],
                         {"checkpoint": ok[0].checkpoint, "backend": ok[0].backend, "head": head.value,
                          "device": device, "dtype": dtype})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _inputs(inputs, texts, expected, expect, first_src, first: Path, head: HeadKind, config, *, batch: int,
            seq_len: int, seed: int) -> tuple[dict[str, np.ndarray], str]:
    """(the inputs every run gets, checked against the config; how the report describes them): a .npz file, the
    caller's arrays, texts tokenized beside the first checkpoint, the golden file's, or random ids, in that order."""
    if isinstance(inputs, (str, os.PathLike)):
        origin, feed = str(inputs), _read_npz(Path(inputs))
        described = f"from {inputs}"
    elif inputs is not None:
        origin, feed, described = "inputs", dict(inputs), "given by the caller"
    elif texts:
        origin, feed = "--text", text_inputs(texts, first, head, config.max_position_embeddings)
        described = f"{len(texts)} text(s) tokenized by the tokenizer beside {first_src}"
    elif expected:
        origin, feed, described = str(expect), expected[0], f"those of {expect}"
    else:
        origin = "random inputs"
        feed = make_inputs(head, batch=batch, seq_len=min(seq_len, config.max_position_embeddings), seed=seed,
                           vocab_size=config.vocab_size)
        shape = "x".join(map(str, feed["input_ids"].shape))
        described = f"random ids {shape} (seed {seed}), the last sequence padded, two segments"
    feed = check_job_inputs(feed, head, config.vocab_size, config.max_position_embeddings, config.type_vocab_size,
                            origin)
    if expected and not all(np.array_equal(feed[k], expected[0].get(k)) for k in feed):
        raise BridgeError("the inputs differ from those the expected outputs were computed on", file=expect)
    return feed, described


def _report(config, atol: float | None, rtol: float | None, *, device: str, dtype: str, head: HeadKind,
            described: str) -> Report:
    """An empty report with the tolerance settled: the defaults for dtype and model size, unless given."""
    default_atol, default_rtol = default_tolerance(dtype, config)
    atol = default_atol if atol is None else float(atol)
    rtol = default_rtol if rtol is None else float(rtol)
    chosen = "the defaults" if (atol, rtol) == (default_atol, default_rtol) else "as given"
    tolerance = (f"an output passes when max|a - b| <= atol {atol:.2g} + rtol {rtol:.2g} * max|a|, a being the "
                 f"reference run ({chosen} for {dtype} at this model's size)")
    return Report(atol=atol, rtol=rtol, device=device, dtype=dtype, head=head.value, inputs=described,
                  tolerance=tolerance)


def _runs(report: Report, plan, local: dict, settings: dict[str, Any], work: Path, pool: WorkerPool,
          timeout: float, on_run: Callable[[Run], None] | None,
          on_arrival: Callable[[Run, dict], None] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Run the plan in the pool, recording each run in the report; the outputs of the runs that succeeded.
    `on_arrival(run, outputs so far)` as each run ends (before `on_run`)."""
    outputs: dict[str, dict[str, np.ndarray]] = {}
    jobs: list[tuple[str, str, Job]] = []
    queued: list[Run] = []
    for path, name, label in plan:
        run = Run(checkpoint=str(path), backend=name, device=settings["device"], dtype=settings["dtype"], label=label)
        report.runs.append(run)
        run.skipped = BACKENDS[name].missing() or BACKENDS[name].unsupported(HeadKind.parse(settings["head"]))
        if run.skipped:
            if on_run:
                on_run(run)
            continue
        job = Job(backend=name, checkpoint=str(local[path].resolve()),
                  outputs=str(work / f"outputs-{len(report.runs)}"), **settings)
        jobs.append((name, job.device, job))
        queued.append(run)

    def answered(index: int, answer: dict[str, Any], seconds: float) -> None:
        run, job = queued[index], jobs[index][2]
        run.seconds = seconds
        run.skipped, run.error = answer.get("skipped"), answer.get("error")
        run.load_seconds, run.forward_seconds = answer.get("load_seconds"), answer.get("forward_seconds")
        run.ran_on, run.notes = answer.get("device") or None, answer.get("notes") or []
        if run.ok:
            outputs[run.label] = read_outputs(Path(job.outputs), answer.get("outputs") or [])
        if on_arrival:
            on_arrival(run, outputs)
        if on_run:
            on_run(run)

    # All at once: a worker's start (the framework import, most of a run at small sizes) overlaps the others'.
    pool.run_all(jobs, timeout, answered)
    return outputs


class _Comparisons:
    """Every run that succeeded against the first one (the reference), and against the golden outputs if given,
    each compared as soon as its outputs and the reference's are in (while other runs still compute), and listed
    in the plan's order."""

    def __init__(self, report: Report, expected, mask: np.ndarray | None = None):
        self.report, self.expected = report, expected
        self.by = dict(metric=report.metric, min_agreement=report.min_agreement or 0.0, mask=mask)
        self.done: dict[str, tuple[list, list]] = {}  # run label -> _compare's answer
        self.cache: dict[str, dict] = {"reference": {}, "expected": {}}  # compare_outputs' caches of each side

    def _reference(self, outputs: dict[str, dict[str, np.ndarray]]) -> Run | None:
        """The first run that succeeded, once every run before it has ended (else None: not known yet)."""
        for run in self.report.runs:
            if run.label in outputs:
                return run
            if run.ok:  # neither skipped nor failed, no outputs yet: still running
                return None
        return None

    def arrived(self, _run: Run | None, outputs: dict[str, dict[str, np.ndarray]]) -> None:
        reference = self._reference(outputs)
        if reference is None:
            return
        for run in self.report.runs:
            if run.label in outputs and run.label not in self.done:
                self.done[run.label] = self._compare(reference, run, outputs)

    def _compare(self, reference: Run, run: Run, outputs: dict[str, dict[str, np.ndarray]]) -> tuple[list, list]:
        """(its comparisons with the reference, with the golden outputs)."""
        tolerance = (self.report.atol, self.report.rtol)
        mine, hidden = outputs[run.label], BACKENDS[run.backend].hidden_states
        with_reference = [] if run is reference else compare_outputs(
            reference.label, outputs[reference.label], run.label, mine, *tolerance, **self.by,
            cache=self.cache["reference"], hidden_states=hidden and BACKENDS[reference.backend].hidden_states)
        with_expected = compare_outputs("expected", self.expected[1], run.label, mine, *tolerance, **self.by,
                                        cache=self.cache["expected"], hidden_states=hidden) if self.expected else []
        return with_reference, with_expected

    def finish(self, outputs: dict[str, dict[str, np.ndarray]]) -> None:
        self.arrived(None, outputs)  # anything not compared yet
        done = [self.done[r.label] for r in self.report.runs if r.label in self.done]
        self.report.comparisons += [c for pair in done for c in pair[0]] + [c for pair in done for c in pair[1]]
        self.report.first_divergent_layer = first_divergent_layer(self.report.comparisons)


def _plan(srcs, backends, runs) -> list[tuple[str | os.PathLike, str, str]]:
    """(checkpoint, backend, label) of every run: srcs x backends, or the given runs (labels made unique)."""
    if runs is not None:
        if srcs is not None or backends is not None:
            raise ValueError("check() takes srcs (and backends) or runs, not both")
        parse_backends([run[1] for run in runs] or None)  # unknown names fail here
        plan, seen = [], set()
        for checkpoint, name, *given in runs:
            label = base = given[0] if given else f"{name}:{Path(checkpoint).name}"
            while label in seen:  # comparisons and outputs are keyed by label
                label = f"{base}#{len(seen)}"
            seen.add(label)
            plan.append((checkpoint, name, label))
    else:
        paths = [] if srcs is None else [srcs] if isinstance(srcs, (str, os.PathLike)) else list(srcs)
        names = parse_backends(backends)
        plan = [(path, name, name if len(paths) == 1 else f"src{i + 1}:{name}")
                for i, path in enumerate(paths) for name in names]
    if not plan:
        raise ValueError("check() needs at least one checkpoint")
    return plan


def assert_parity(srcs: str | os.PathLike | Iterable[str | os.PathLike], backends: str | Sequence[str] | None = None,
                  **options: Any) -> Report:
    """check(), raising ParityFailure (an AssertionError) with the text report unless it passed."""
    report = check(srcs, backends, **options)
    if not report.passed:
        raise ParityFailure(report.verdict() + "\n\n" + report.to_text())
    return report
