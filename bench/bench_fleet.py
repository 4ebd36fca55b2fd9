"""The fleet's coordinator at scale, and what one repo costs.

    python bench/bench_fleet.py [--sizes 1000,5000,10000] [--workers 2] [--engine local|ray] [--per-repo] [--out F]

Scale: N synthetic sources (no weights: each job returns at once) go through the real path, manifest -> ledger
(SQLite) -> engine -> ledger, each N in a fresh process. Per source: the coordinator's CPU time and wall time, and
its memory (tracemalloc's peak of Python allocations, and the process's peak RSS): flat in N is the claim.

--per-repo: a loopback Hub holding TF-only repos at tiny and base size; a dry-run fleet (1 worker, --backends torch,
and push's default backends) converts them and the ledger's seconds per repo are printed (the first repo of a run
includes its worker's start, so warm repos are reported apart).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from albert_bridge.fleet import Entry, Outcome, run_fleet, status  # noqa: E402


def synthetic_job(task, limiter=None) -> Outcome:
    """What a worker returns for a source, without any work: the coordinator's cost is what remains."""
    return Outcome(task.row, "done", seconds=0.0, parity_passed=True, output=f"/out/{task.row}")


def entries(n: int):
    for i in range(n):  # streamed, as a manifest file is
        yield Entry(f"org{i % 97}/albert-{i}", None, None)


def one(n: int, workers: int, engine: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tracemalloc.start()
        cpu, wall = time.process_time(), time.perf_counter()
        summary = run_fleet(entries(n), Path(tmp) / "ledger.sqlite", formats=["safetensors"], mode="dry-run",
                            out_dir=Path(tmp) / "out", engine=engine, workers=workers, job=synthetic_job)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert summary.counts["done"] == n, summary
        # A rerun skips everything: the cost of finding that nothing is left.
        again = time.perf_counter()
        run_fleet(entries(n), Path(tmp) / "ledger.sqlite", formats=["safetensors"], mode="dry-run",
                  out_dir=Path(tmp) / "out", engine=engine, workers=workers, job=synthetic_job)
        again = time.perf_counter() - again
    return {"sources": n, "wall_s": round(wall, 3), "coordinator_cpu_ms_per_source": round(1000 * cpu / n, 3),
            "wall_ms_per_source": round(1000 * wall / n, 3), "tracemalloc_peak_mb": round(peak / 2**20, 2),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rerun_ms_per_source": round(1000 * again / n, 3)}


def per_repo() -> list[dict]:
    from albert_bridge.formats import get_format
    from albert_bridge.testing import make_checkpoint, official_config
    from tests.hub_server import TOKEN, HubServer

    results = []
    with tempfile.TemporaryDirectory() as tmp, HubServer() as hub:
        os.environ.update(HF_ENDPOINT=hub.url, HF_HOME=str(Path(tmp) / "hf"), HF_HUB_OFFLINE="0", HF_TOKEN=TOKEN)
        for size in ("tiny", "base"):
            config = None if size == "tiny" else official_config("base")
            folder = Path(tmp) / f"src-{size}"
            get_format("tf").save(make_checkpoint("masked-lm", seed=1, config=config), folder)
            files = {p.name: p.read_bytes() for p in folder.iterdir()}
            for backends in (["torch"], None):
                label = "torch" if backends else "default"
                names = [f"{size}-{label}{i}/albert" for i in range(3)]
                for name in names:
                    hub.add_repo(name, files)
                ledger = Path(tmp) / f"{size}-{label}.sqlite"
                start = time.perf_counter()
                run_fleet([Entry(n, None, None) for n in names], ledger, formats=["safetensors"], mode="dry-run",
                          out_dir=Path(tmp) / f"out-{size}-{label}", workers=1, backends=backends)
                wall = time.perf_counter() - start
                rows = status(ledger)["sources"]
                assert all(r["state"] == "done" and r["parity_passed"] for r in rows), rows
                seconds = [r["seconds"] for r in rows]
                results.append({"size": size, "backends": label, "bytes": sum(map(len, files.values())),
                                "first_repo_s": seconds[0], "warm_repo_s": round(statistics.median(seconds[1:]), 2),
                                "run_wall_s": round(wall, 2)})
                print(json.dumps(results[-1]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", default="local")
    parser.add_argument("--per-repo", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.workers, args.engine)))
        return
    results: dict = {"scale": []}
    for n in map(int, args.sizes.split(",")):  # each size in a fresh process: peak RSS is per size
        answer = subprocess.run([sys.executable, __file__, "--one", str(n), "--workers", str(args.workers),
                                 "--engine", args.engine], capture_output=True, text=True, check=True)
        results["scale"].append(json.loads(answer.stdout.strip().splitlines()[-1]))
        print(json.dumps(results["scale"][-1]), flush=True)
    if args.per_repo:
        results["per_repo"] = per_repo()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
