"""flax_model.msgpack I/O (ours vs flax.serialization) and our Flax model's compile time and latency.

    python bench/bench_flax.py [--size base|large|xlarge|xxlarge] [--skip-model]

I/O: each case runs in its own subprocess after its imports; the child resets its peak-RSS mark
(/proc/self/clear_refs) and reports VmHWM minus VmRSS at the start: the memory the case itself added.
- ours-write: safetensors -> flax_model.msgpack with the adapter (streamed, one tensor at a time);
- flax-write: safetensors.numpy.load_file -> nested dict -> flax.serialization.to_bytes -> file (whole model);
- ours-read: the adapter's lazy load, then every tensor read and dropped one at a time;
- flax-read: flax.serialization.msgpack_restore(f.read()) (what transformers does).
Model: FlaxAlbertModel at the chosen size, batch 8 x 128 tokens, compile time (first call) and the median of
10 calls, float32 and bfloat16 compute. The machines are shared and noisy: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from albert_bridge.testing import OFFICIAL_SIZES  # noqa: E402

CHILD = r"""
import sys, time, json
mode, src, dst = sys.argv[1:4]
import numpy as np
from albert_bridge.convert import convert
from albert_bridge.formats import load
if mode.startswith("flax-"):
    import flax.serialization, safetensors.numpy
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status("VmRSS:")
t = time.perf_counter()
if mode == "ours-write":
    convert(src, dst, ["flax"], verify=False)
elif mode == "flax-write":
    tree = {}
    for name, value in safetensors.numpy.load_file(src + "/model.safetensors").items():
        node = tree
        *parents, last = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    with open(dst + "/flax_model.msgpack", "wb") as f:
        f.write(flax.serialization.to_bytes(tree))
elif mode == "ours-read":
    for tensor in load(src).tensors.values():
        tensor.read()
elif mode == "flax-read":
    with open(src + "/flax_model.msgpack", "rb") as f:
        tree = flax.serialization.msgpack_restore(f.read())
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "peak_kib": status("VmHWM:"), "base_kib": base}))
"""


def run_child(mode: str, src: Path, dst: Path) -> dict:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(src), str(dst)], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if out.returncode:
        raise SystemExit(f"{mode} failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["added_mib"] = (result["peak_kib"] - result["base_kib"]) / 1024
    return result


def bench_io(size: str, work: Path) -> None:
    from albert_bridge.formats import get_format
    from albert_bridge.schema import HeadKind
    from albert_bridge.testing import make_checkpoint, official_config

    config = official_config(size)
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=0, config=config)
    get_format("safetensors").save(ckpt, work / "st")
    get_format("flax").save(ckpt, work / "flax")
    print(f"{size}: {ckpt.nbytes() / 2**20:.0f} MiB of float32 tensors")
    for mode, src in (("ours-write", "st"), ("flax-write", "st"), ("ours-read", "flax"), ("flax-read", "flax")):
        r = run_child(mode, work / src, work / "out")
        print(f"  {mode:<11} {r['seconds']:6.2f} s   +{r['added_mib']:7.1f} MiB peak")


def bench_model(size: str) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from albert_bridge import FlaxAlbertModel
    from albert_bridge.testing import official_config

    config = official_config(size)
    ids = np.random.default_rng(0).integers(5, 30000, (8, 128))
    for dtype in (jnp.float32, jnp.bfloat16):
        model = FlaxAlbertModel(config, dtype=dtype)
        start = time.perf_counter()
        jax.block_until_ready(model(ids).last_hidden_state)
        compile_s = time.perf_counter() - start
        times = []
        for _ in range(10):
            start = time.perf_counter()
            jax.block_until_ready(model(ids).last_hidden_state)
            times.append(time.perf_counter() - start)
        print(f"  model {jnp.dtype(dtype).name:<9} first call {compile_s:6.2f} s, then {np.median(times) * 1e3:7.1f} ms "
              f"(batch 8 x 128, {jax.devices()[0].platform})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=OFFICIAL_SIZES, default="base")
    parser.add_argument("--skip-model", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-flax-"))
    try:
        bench_io(args.size, work)
        if not args.skip_model:
            bench_model(args.size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
