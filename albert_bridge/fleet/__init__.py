"""Fleet: convert, check and publish many checkpoints at once, resumable, on a local process pool or Ray.

    summary = run_fleet(read_manifest("manifest.txt"), "fleet.sqlite", formats=["safetensors"], mode="pr")

Each source runs the single commands' own functions (`job.process`: resolve -> inspect -> convert -> parity ->
push); the ledger (`ledger.py`, SQLite) records every state change, so a killed run resumes where it stopped.
Nothing here imports a framework or Ray at import time.
"""

from .coordinator import RunSummary, run_fleet, status, to_junit, to_markdown, write_json
from .job import Outcome, Task, process
from .ledger import SCHEMA_VERSION, Ledger
from .manifest import Entry, hub_search, read_manifest

STATUS_SCHEMA = "status.schema.json"  # beside this file: the status JSON's schema

__all__ = ["RunSummary", "run_fleet", "status", "to_junit", "to_markdown", "write_json", "Outcome", "Task",
           "process", "SCHEMA_VERSION", "Ledger", "Entry", "hub_search", "read_manifest", "STATUS_SCHEMA"]
