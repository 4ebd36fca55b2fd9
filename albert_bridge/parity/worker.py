"""A backend's worker process: `python -m albert_bridge.parity.worker BACKEND`.

Reads one job per line (JSON, see `backends.Job`) on stdin and answers one JSON line per job on the file
descriptor it was given for answers (anything a framework prints goes to stderr, never into the answers). Outputs
travel as .npz files named in the job. It lives as long as its stdin stays open, so a session that checks many
checkpoints imports each framework once.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import asdict

from ..errors import BridgeError
from .backends import Job, Skip, run_job  # imports no framework: each job imports its backend's


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints of frameworks go to the log, not into the answers

    for line in sys.stdin:
        if not line.strip():
            continue
        answer: dict = {"skipped": None, "error": None}
        try:
            answer.update(asdict(run_job(Job(**json.loads(line)))))
        except Skip as exc:
            answer["skipped"] = str(exc)
        except BridgeError as exc:
            answer["error"] = exc.one_line()
        except Exception as exc:  # noqa: BLE001 - reported as this run's error; the worker serves the next job
            traceback.print_exc()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            answer["error"] = f"{type(exc).__name__}: {first}"
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
