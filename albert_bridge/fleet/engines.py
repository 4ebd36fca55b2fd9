"""Where the jobs run: the same plain function (`job.process`) on a local process pool or as Ray tasks. The
coordinator sees one small interface: `submit(key, task)`, `poll(timeout) -> [(key, Outcome | Lost)]`, `close()`.

- `LocalEngine`: `concurrent.futures.ProcessPoolExecutor` (spawned workers that live for the whole run, so each
  keeps its frameworks imported and its parity backend processes started). A worker killed under a job breaks the
  pool: its jobs come back as `Lost` and a fresh pool takes over.
- `RayEngine`: each job a Ray task with a CPU and memory request and Ray's `max_retries` for lost workers, on an
  existing cluster (`address`) or a local Ray; the token travels in the job's runtime_env, never in task arguments.

The Hub concurrency limit is one semaphore across all workers: a multiprocessing semaphore for the pool, an actor
for Ray.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import BridgeError
from . import politeness
from .job import Outcome, Task, process

# Environment a Ray worker needs to act like this process (the token among them, through runtime_env).
FORWARDED_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE",
                 "HF_TOKEN_PATH", "PYTHONPATH", "USE_TF", "USE_FLAX", "TF_CPP_MIN_LOG_LEVEL", "TRANSFORMERS_VERBOSITY")


@dataclass
class Lost:
    """The worker died under this job (SIGKILL, out of memory): the job is run again."""
    why: str


Job = Callable[..., Outcome]


# --- the process pool ------------------------------------------------------------------------------------------
_WORKER_LIMITER: Any = None
_WORKER_JOB: Job | None = None


class _Semaphore:
    def __init__(self, semaphore: Any):
        self.semaphore = semaphore

    def acquire(self) -> None:
        self.semaphore.acquire()

    def release(self) -> None:
        self.semaphore.release()


def _init_worker(semaphore: Any, job: Job) -> None:
    global _WORKER_LIMITER, _WORKER_JOB
    _WORKER_LIMITER, _WORKER_JOB = _Semaphore(semaphore), job
    _die_with_parent()


def _die_with_parent() -> None:
    """A worker outlives no coordinator: an orphan finishing its job (a pull request) while a resumed run redoes it
    would publish twice. Linux: the kernel kills it with its parent (PR_SET_PDEATHSIG); elsewhere a thread watches."""
    parent = os.getppid()
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0:  # PR_SET_PDEATHSIG
            if os.getppid() != parent:  # the parent died before the call
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _pool_job(task: Task) -> Outcome:
    assert _WORKER_JOB is not None
    return _WORKER_JOB(task, _WORKER_LIMITER)


class LocalEngine:
    name = "local"

    def __init__(self, workers: int, endpoint_limit: int, job: Job = process):
        self.workers, self.endpoint_limit, self.job = workers, endpoint_limit, job
        self.context = multiprocessing.get_context("spawn")  # no fork of a coordinator's threads or sockets
        self.futures: dict[Future, Any] = {}
        self._start()

    def _start(self) -> None:
        self.semaphore = self.context.Semaphore(self.endpoint_limit)  # fresh: a killed worker may have held one
        self.pool = ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=_init_worker,
                                        initargs=(self.semaphore, self.job))

    def submit(self, key: Any, task: Task) -> None:
        try:
            future = self.pool.submit(_pool_job, task)
        except BrokenProcessPool:
            self._restart()
            future = self.pool.submit(_pool_job, task)
        self.futures[future] = key

    def poll(self, timeout: float) -> list[tuple[Any, Outcome | Lost]]:
        if not self.futures:
            return []
        finished, _ = wait(list(self.futures), timeout=timeout, return_when=FIRST_COMPLETED)
        results, broken = [], False
        for future in finished:
            key = self.futures.pop(future)
            try:
                results.append((key, future.result()))
            except BrokenProcessPool:
                broken = True
                results.append((key, Lost("a worker process died")))
        if broken:  # every job still queued in the broken pool is lost with it
            for future, key in list(self.futures.items()):
                results.append((key, Lost("a worker process died")))
                self.futures.pop(future)
            self._restart()
        return results

    def _restart(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._start()

    def close(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=True)


# --- Ray -----------------------------------------------------------------------------------------------------------
class RayEngine:
    name = "ray"

    def __init__(self, workers: int, endpoint_limit: int, address: str | None = None, *, cpus: float = 1.0,
                 memory: int | None = None, max_retries: int = 3, job: Job = process):
        try:
            import ray  # the `ray` extra: only for --engine ray
        except ImportError:
            raise BridgeError("--engine ray needs Ray: pip install 'albert-bridge[ray]'") from None
        self.ray = ray
        env = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
        self.started = not ray.is_initialized()
        if self.started:
            options: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False,
                                       "include_dashboard": False, "logging_level": "ERROR"}
            if address:
                options["address"] = address
            else:
                options["num_cpus"] = max(workers, 1)
            try:
                ray.init(**options)
            except Exception as exc:  # noqa: BLE001 - one line naming the cluster
                raise BridgeError(f"cannot start or join Ray: {type(exc).__name__}: {exc}",
                                  file=address or "local Ray") from None
        limiter_class = ray.remote(num_cpus=0)(_RayLimiter)
        self.limiter = limiter_class.remote(endpoint_limit)
        remote_options: dict[str, Any] = {"num_cpus": cpus, "max_retries": max_retries, "retry_exceptions": False,
                                          "runtime_env": {"env_vars": env}}
        if memory:
            remote_options["memory"] = memory
        self.remote = ray.remote(_ray_job).options(**remote_options)
        self.job = job
        self.refs: dict[Any, Any] = {}

    def submit(self, key: Any, task: Task) -> None:
        self.refs[self.remote.remote(task, self.limiter, self.job)] = key

    def poll(self, timeout: float) -> list[tuple[Any, Outcome | Lost]]:
        if not self.refs:
            return []
        ready, _ = self.ray.wait(list(self.refs), num_returns=1, timeout=timeout)
        if not ready:
            return []
        ready, _ = self.ray.wait(list(self.refs), num_returns=len(self.refs), timeout=0)  # all that are ready now
        results = []
        for ref in ready:
            key = self.refs.pop(ref)
            try:
                results.append((key, self.ray.get(ref)))
            except self.ray.exceptions.RayError as exc:  # the worker died more often than max_retries
                results.append((key, Lost(f"Ray: {type(exc).__name__}")))
        return results

    def close(self, wait: bool = True) -> None:
        for ref in list(self.refs):
            self.ray.cancel(ref, force=True)
        self.refs.clear()
        if self.started:
            self.ray.shutdown()


class _RayLimiter:
    """The endpoint's slots as an async actor: `acquire` waits for a free one."""

    def __init__(self, slots: int):
        import asyncio

        self.semaphore = asyncio.Semaphore(slots)

    async def acquire(self) -> None:
        await self.semaphore.acquire()

    async def release(self) -> None:
        self.semaphore.release()


class _ActorSlot:
    def __init__(self, actor: Any):
        self.actor = actor

    def acquire(self) -> None:
        import ray

        ray.get(self.actor.acquire.remote())

    def release(self) -> None:
        import ray

        ray.get(self.actor.release.remote())


def _ray_job(task: Task, limiter: Any, job: Job) -> Outcome:
    return job(task, _ActorSlot(limiter))


def make_engine(name: str, workers: int, endpoint_limit: int, address: str | None = None, *, cpus: float = 1.0,
                memory: int | None = None, max_retries: int = 3, job: Job = process):
    if name == "local":
        if address:
            raise BridgeError("--address is for --engine ray")
        return LocalEngine(workers, endpoint_limit, job)
    if name == "ray":
        return RayEngine(workers, endpoint_limit, address, cpus=cpus, memory=memory, max_retries=max_retries,
                         job=job)
    raise BridgeError(f"unknown engine {name!r} (local or ray)")


__all__ = ["LocalEngine", "RayEngine", "Lost", "make_engine", "politeness"]
