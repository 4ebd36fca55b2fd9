"""Conversion time and peak memory, side by side in one run (the machines are shared and noisy: compare ratios).

    python bench/bench_convert.py [--size base|large|xlarge|xxlarge] [--repeat 1]

Each conversion runs in its own subprocess after its imports; the child resets its peak-RSS mark
(/proc/self/clear_refs) and reports VmHWM minus VmRSS at the start: the memory the conversion itself added.
The baseline is the whole-dict approach (safetensors.numpy.load_file + save_file).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from albert_bridge.testing import OFFICIAL_SIZES  # noqa: E402

CHILD = r"""
import sys, time, json
mode, src, dst = sys.argv[1:4]
import numpy, safetensors.numpy
from albert_bridge.convert import convert
if mode.startswith("to-"):
    import torch  # noqa: F401  (the .bin writer needs it; import before measuring the baseline RSS)
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak-RSS mark, so import-time peaks do not hide the conversion's
base = status("VmRSS:")
t = time.perf_counter()
if mode == "idle":
    pass
elif mode == "whole-dict":
    tensors = safetensors.numpy.load_file(src + "/model.safetensors")
    safetensors.numpy.save_file(tensors, dst + "/model.safetensors", metadata={"format": "pt"})
else:
    convert(src, dst, [mode[3:]], verify="--no-verify" not in sys.argv)
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "peak_kib": status("VmHWM:"), "base_kib": base}))
"""


def run_child(mode: str, src: Path, dst: Path, *extra: str) -> dict:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(src), str(dst), *extra], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=OFFICIAL_SIZES, default="base")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    from albert_bridge.formats import get_format
    from albert_bridge.schema import HeadKind
    from albert_bridge.testing import make_checkpoint, official_config

    config = official_config(args.size)
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        tmp = Path(tmp)
        ckpt = make_checkpoint(HeadKind.PRETRAINING, config=config)
        get_format("safetensors").save(ckpt, tmp / "src")
        model_mib = ckpt.nbytes() / 2**20
        print(f"ALBERT-{args.size}: {ckpt.num_parameters() / 1e6:.1f}M parameters, {model_mib:.0f} MiB fp32")
        rows = [("whole-dict", ()), ("to-safetensors", ("--no-verify",)), ("to-safetensors", ()),
                ("to-canonical", ()), ("to-pytorch", ())]
        for mode, extra in rows:
            for _ in range(args.repeat):
                r = run_child(mode, tmp / "src", tmp / "dst", *extra)
                extra_mib = (r["peak_kib"] - r["base_kib"]) / 1024
                label = mode + (" (no verify)" if extra else "")
                print(f"{label:28} {r['seconds']:7.2f} s   peak +{extra_mib:7.1f} MiB = "
                      f"{extra_mib / model_mib:4.2f}x model")


if __name__ == "__main__":
    main()
