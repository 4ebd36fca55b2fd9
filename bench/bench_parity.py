"""Wall time of `albert-bridge parity` per backend on an official-size checkpoint, and the differences it sees.

    python bench/bench_parity.py [--size base] [--head pretraining] [--backends all] [--device cpu] [--dtype float32]
                                 [--batch 3 --seq-len 128] [--out results.json]

Writes a random checkpoint of that size as model.safetensors, runs the harness once (every backend in its own
worker process, cold: the framework import is part of each backend's time) and prints, per backend, the run's wall
time with its load and forward parts, then the largest difference per output against the first backend, and the
tolerance the defaults give at this size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from albert_bridge.formats import get_format  # noqa: E402
from albert_bridge.parity import check  # noqa: E402
from albert_bridge.testing import OFFICIAL_SIZES, make_checkpoint, official_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=list(OFFICIAL_SIZES), default="base")
    parser.add_argument("--head", default="pretraining")
    parser.add_argument("--backends", default="all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        get_format("safetensors").save(make_checkpoint(args.head, seed=0, config=official_config(args.size)),
                                       Path(tmp))
        print(f"wrote a random {args.size} {args.head} checkpoint in {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        report = check(tmp, args.backends, device=args.device, dtype=args.dtype, batch=args.batch,
                       seq_len=args.seq_len)
        total = time.perf_counter() - start
    print(report.to_text())
    print(f"{'backend':10} {'wall s':>8} {'load s':>8} {'forward s':>10}  device")
    for run in report.runs:
        if run.ok:
            print(f"{run.backend:10} {run.seconds:8.2f} {run.load_seconds:8.2f} {run.forward_seconds:10.2f}  "
                  f"{run.ran_on}")
        else:
            print(f"{run.backend:10} {run.skipped or run.error}")
    worst = {}
    for c in report.comparisons:
        if c.max_abs_diff is not None:
            worst[c.b] = max(worst.get(c.b, 0.0), c.max_abs_diff)
    print(f"parity wall time {total:.1f} s; largest difference per backend: "
          + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()) + f"; atol {report.atol:.2e}, rtol {report.rtol:.2e}")
    if args.out:
        Path(args.out).write_text(json.dumps({"size": args.size, "total_seconds": total, **report.to_dict()},
                                             indent=2))


if __name__ == "__main__":
    main()
