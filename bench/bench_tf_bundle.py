"""Throughput and peak memory of tf_bundle: stream-write N tensors, then read them back one by one.

    python bench/bench_tf_bundle.py [--tensors 16] [--mib 64] [--dir /tmp]

Peak RSS should stay near one tensor (plus the interpreter), however many tensors the bundle holds.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import numpy as np

from albert_bridge.formats.tf_bundle import BundleReader, write_bundle


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tensors", type=int, default=16)
    ap.add_argument("--mib", type=int, default=64, help="size of each float32 tensor")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    n = args.mib * (1 << 20) // 4
    total = args.tensors * args.mib
    base = peak_rss_mib()

    def make(i):
        return lambda: np.full(n, i, np.float32)  # materialized only when the writer asks for it

    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        t = time.perf_counter()
        write_bundle(f"{d}/bench", {f"layer_{i:03d}/kernel": make(i) for i in range(args.tensors)})
        w = time.perf_counter() - t
        print(f"write {total} MiB: {w:.2f} s ({total / w:.0f} MiB/s), peak RSS +{peak_rss_mib() - base:.0f} MiB")
        t = time.perf_counter()
        with BundleReader(f"{d}/bench") as r:
            for name in r:
                a = r.read(name)
                del a
        rd = time.perf_counter() - t
        print(f"read  {total} MiB: {rd:.2f} s ({total / rd:.0f} MiB/s, CRC checked), peak RSS +{peak_rss_mib() - base:.0f} MiB")


if __name__ == "__main__":
    main()
