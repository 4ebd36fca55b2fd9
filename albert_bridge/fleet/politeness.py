"""Politeness towards the Hub, inside each worker: every HTTP request huggingface_hub makes goes through one
requests adapter that (1) holds the endpoint's concurrency slot while it is in flight, a slot shared by every worker
of the fleet (a multiprocessing semaphore for the process pool, an actor for Ray), and (2) answers 429 and 5xx with
exponential backoff, waiting what the Hub's Retry-After asks when it says.

huggingface_hub 0.36 retries on its own only in `http_backoff` (uploads and some downloads, 5xx and connection
errors, never 429 and never Retry-After); its plain API calls (listing, commits, discussions) are not retried.
"""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any, Callable, Protocol

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MOST_TRIES = 6              # one request, then 5 retries: 0.5 + 1 + 2 + 4 + 8 s at most without Retry-After
FIRST_WAIT = 0.5
LONGEST_WAIT = 60.0


class Limiter(Protocol):
    def acquire(self) -> Any: ...

    def release(self) -> Any: ...


class Unlimited:
    def acquire(self) -> None:
        return None

    def release(self) -> None:
        return None


def retry_wait(attempt: int, retry_after: str | None, rng: Callable[[], float] = random.random) -> float:
    """Seconds before retry number `attempt` (1-based): the Hub's Retry-After (seconds or an HTTP date) when given,
    else FIRST_WAIT * 2^(attempt-1) with up to 10 % jitter; never more than LONGEST_WAIT."""
    if retry_after:
        try:
            return min(LONGEST_WAIT, max(0.0, float(retry_after)))
        except ValueError:
            when = email.utils.parsedate_to_datetime(retry_after) if retry_after.strip() else None
            if when is not None:
                return min(LONGEST_WAIT, max(0.0, when.timestamp() - time.time()))
    return min(LONGEST_WAIT, FIRST_WAIT * 2 ** (attempt - 1) * (1 + 0.1 * rng()))


_LIMITER: Limiter = Unlimited()
_INSTALLED = False


def install(limiter: Limiter | None = None) -> None:
    """Route this process's huggingface_hub requests through the polite adapter (idempotent; a new limiter
    replaces the old one)."""
    global _LIMITER, _INSTALLED
    _LIMITER = limiter or Unlimited()
    if _INSTALLED:
        return
    import requests  # huggingface_hub's HTTP client (the `hub` extra)
    from huggingface_hub import configure_http_backend, constants
    from huggingface_hub.utils._http import OfflineAdapter, UniqueRequestIdAdapter

    class PoliteAdapter(UniqueRequestIdAdapter):
        def send(self, request, *args, **kwargs):
            body = request.body
            start = body.tell() if hasattr(body, "tell") and hasattr(body, "seek") else None
            for attempt in range(1, MOST_TRIES + 1):
                if start is not None:
                    body.seek(start)  # a file body is read again on a retry
                _LIMITER.acquire()
                try:
                    response = super().send(request, *args, **kwargs)
                finally:
                    _LIMITER.release()
                if response.status_code not in RETRY_STATUSES or attempt == MOST_TRIES:
                    return response
                wait = retry_wait(attempt, response.headers.get("Retry-After"))
                response.close()
                time.sleep(wait)
            raise AssertionError("unreachable")

    def factory() -> requests.Session:
        session = requests.Session()
        adapter = OfflineAdapter() if constants.HF_HUB_OFFLINE else PoliteAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    configure_http_backend(backend_factory=factory)  # also drops the sessions made before
    _INSTALLED = True


def uninstall() -> None:
    """huggingface_hub's own sessions again (tests that install the adapter in their own process)."""
    global _LIMITER, _INSTALLED
    from huggingface_hub import configure_http_backend

    configure_http_backend()
    _LIMITER, _INSTALLED = Unlimited(), False
