"""Issue-12 performance table, every number measured side by side in one run (compare ratios: machines are noisy).

    python bench/bench_perf.py [--sections convert,copy,load,forward,cli,scaling,tfgraph,parity] [--size xxlarge]
                               [--baseline /work/main] [--rounds 3] [--out results.json]

- convert: an ALBERT-<size> checkpoint (random weights) as TF1 and as model.safetensors; `cp` of the data file,
  then `albert-bridge convert` TF1 -> safetensors / tf / flax and safetensors -> tf / flax / tf1 (verification on),
  and transformers' own TF1 path (AlbertForPreTraining + load_tf_weights_in_albert + save_pretrained);
- load: `from_pretrained` of that model.safetensors in our PyTorch, TF2 and Flax classes and transformers' three
  (TF and Flax with from_pt, as transformers needs), each class imported before the clock starts;
- forward: AlbertForMaskedLM at base size, batch 8 x 128, fp32 CPU, ours vs transformers on each backend, best of 7,
  three alternating rounds;
- cli: `albert-bridge --help` and `inspect` of a safetensors file (wall time of the whole command);
- tfgraph: TF2 where users run it (their tf.function, model.predict, a fit step), ours vs transformers' TF class;
- parity: `parity --backends all` at base size, this tree and a --baseline checkout's, alternated;
- copy: issue 23's yardstick: TF1 -> safetensors / tf against `cp` of the data file (no sync on either side, each
  into a new destination), alternated over --rounds with --baseline's tree, ratios by wall and CPU time, and one
  profiled conversion per tree (seconds per phase: transpose, write, checksum, finite check, rename);
- scaling: conversion time and peak memory TF1 -> safetensors for base, large, xlarge and xxlarge.

Each measurement runs in a fresh subprocess; peak memory is VmHWM minus the RSS before the measured step
(the child resets its peak mark first), as a multiple of the checkpoint's bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRELUDE = r"""
import json, os, sys, time
def _status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
def measure(fn):
    open("/proc/self/clear_refs", "w").write("5")
    base = _status("VmRSS:")
    cpu, start = os.times(), time.perf_counter()
    fn()
    seconds, end = time.perf_counter() - start, os.times()
    print(json.dumps({"seconds": seconds, "peak_bytes": _status("VmHWM:") - base,
                      "cpu_seconds": end.user + end.system - cpu.user - cpu.system}))
"""

CONVERT = PRELUDE + r"""
from albert_bridge.convert import convert
# the modules a conversion imports on first use, imported before the measurement (their code is no checkpoint memory)
import google_crc32c, h5py, msgpack, albert_bridge.formats.tf1_original, albert_bridge.formats.hf_pytorch
import albert_bridge.formats.hf_keras_h5, albert_bridge.formats.hf_flax_msgpack, albert_bridge.formats.canonical
src, dst, fmt = sys.argv[1:4]
measure(lambda: convert(src, dst, [fmt], force=True))
"""

TRANSFORMERS_TF1 = PRELUDE + r"""
import transformers, torch, tensorflow  # imported before the clock, as ours are
src, dst = sys.argv[1:3]
def run():
    config = transformers.AlbertConfig.from_json_file(os.path.join(src, "albert_config.json"))
    model = transformers.AlbertForPreTraining(config)
    transformers.load_tf_weights_in_albert(model, config, os.path.join(src, "model.ckpt-best"))
    model.save_pretrained(dst)
measure(run)
"""

LOAD = PRELUDE + r"""
which, path = sys.argv[1:3]
if which.startswith("hf-"):
    import transformers as lib
else:
    import albert_bridge as lib
prefix = {"torch": "", "tf": "TF", "flax": "Flax"}[which.split("-")[-1]]
cls = getattr(lib, prefix + "AlbertForPreTraining")
kwargs = {"from_pt": True} if which in ("hf-tf", "hf-flax") else {}
if not which.startswith("hf-"):  # the modules from_pretrained uses, imported as transformers' are by its import
    import albert_bridge.formats.hf_pytorch, albert_bridge.models.bridge  # noqa: F401
measure(lambda: cls.from_pretrained(path, **kwargs))
"""

FORWARD = r"""
import json, sys, time
import numpy as np
which, path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
ids = rng.integers(5, 30000, (8, 128)).astype(np.int32)
mask = np.ones_like(ids); mask[-1, 100:] = 0
framework = which.split("-")[-1]
lib = __import__("transformers") if which.startswith("hf-") else __import__("albert_bridge")
prefix = {"torch": "", "tf": "TF", "flax": "Flax"}[framework]
from_pt = {"from_pt": True} if which in ("hf-tf", "hf-flax") else {}
model = getattr(lib, prefix + "AlbertForMaskedLM").from_pretrained(path, **from_pt)
if framework == "torch":
    import torch
    model.eval()
    feed = {"input_ids": torch.from_numpy(ids).long(), "attention_mask": torch.from_numpy(mask).long()}
    def step():
        with torch.no_grad():
            return model(**feed).logits.numpy()
elif framework == "tf":
    feed = {"input_ids": ids, "attention_mask": mask}
    def step():
        return model(**feed, training=False).logits.numpy()
else:
    import jax
    feed = {"input_ids": ids, "attention_mask": mask}
    def step():
        return np.asarray(jax.block_until_ready(model(**feed).logits))
step(); step()  # warm up (traces, compiles)
times = []
for _ in range(rounds):
    start = time.perf_counter(); step(); times.append(time.perf_counter() - start)
print(json.dumps({"best": min(times)}))
"""


GRAPH = r"""
import json, sys, time
import numpy as np
import tensorflow as tf
which, path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
ids = rng.integers(5, 30000, (8, 128)).astype(np.int32)
mask = np.ones_like(ids); mask[-1, 100:] = 0
lib = __import__("transformers") if which == "hf-tf" else __import__("albert_bridge")
kwargs = {"from_pt": True} if which == "hf-tf" else {}
model = lib.TFAlbertForMaskedLM.from_pretrained(path, **kwargs)
feed = {"input_ids": tf.constant(ids), "attention_mask": tf.constant(mask)}
graph = tf.function(lambda x, m: model(input_ids=x, attention_mask=m, training=False).logits)
# learning rate 0 on both sides (tf.keras is tf-keras for transformers' class, Keras 3 for ours): the fit step
# costs the same, and the logits compared after it are still those of the loaded weights.
model.compile(optimizer=tf.keras.optimizers.SGD(0.0))
batch = {**feed, "labels": tf.constant(ids)}
steps = {"tf.function": lambda: graph(feed["input_ids"], feed["attention_mask"]).numpy(),
         "predict": lambda: model.predict(feed, batch_size=8, verbose=0),
         "fit step": lambda: model.train_on_batch(batch)}
out = {}
for name, step in steps.items():
    step(); step()  # trace, warm up
    times = []
    for _ in range(rounds):
        start = time.perf_counter(); step(); times.append(time.perf_counter() - start)
    out[name] = sorted(times)[len(times) // 2]
np.save(sys.argv[4], graph(feed["input_ids"], feed["attention_mask"]).numpy())
print(json.dumps(out))
"""


def child(code: str, *args: str, env: dict | None = None, timeout: int = 1800, tree: Path = ROOT) -> dict:
    """Run `code` in a fresh interpreter importing `tree`'s albert_bridge: it runs in that directory, since
    `python -c` puts the working directory ahead of PYTHONPATH (run from ROOT, a --baseline tree's child imported
    this tree's code)."""
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=tree,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(tree), **(env or {})},
                            timeout=timeout)
    if result.returncode:
        return {"error": (result.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def make_checkpoints(size: str, directory: Path) -> int:
    from albert_bridge.formats import get_format
    from albert_bridge.schema import HeadKind
    from albert_bridge.testing import make_checkpoint, official_config

    ckpt = make_checkpoint(HeadKind.PRETRAINING, config=official_config(size))
    get_format("tf1").save(ckpt, directory / "tf1")
    get_format("safetensors").save(ckpt, directory / "st")
    return ckpt.nbytes()


def whole_process(command: list) -> float:
    start = time.perf_counter()
    subprocess.run([str(c) for c in command], capture_output=True, check=True, cwd=ROOT,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.perf_counter() - start


def timed_cp(directory: Path, sync: bool = True) -> float:
    data = directory / "tf1" / "model.ckpt-best.data-00000-of-00001"
    start = time.perf_counter()
    shutil.copyfile(data, directory / "copy")
    if sync:
        os.sync()
    seconds = time.perf_counter() - start
    (directory / "copy").unlink()
    return seconds


def section_convert(directory: Path, nbytes: int, rows: list) -> None:
    cp = timed_cp(directory)
    rows.append(("convert", "cp of the TF1 data file", cp, None, 1.0))
    bare = min(timed_cp(directory, sync=False) for _ in range(3))  # issue 23's yardstick: cp, no sync on either side
    rows.append(("convert", "cp of the TF1 data file, no sync (best of 3)", bare, None, bare / cp, {"of_cp": 1.0}))
    pairs = [("tf1", "safetensors"), ("tf1", "tf"), ("tf1", "flax"), ("st", "tf"), ("st", "flax"), ("st", "tf1")]
    for src, fmt in pairs:
        r = child(CONVERT, directory / src, directory / "out", fmt)
        name = f"{'TF1' if src == 'tf1' else 'safetensors'} -> {fmt}"
        rows.append(("convert", name, r.get("seconds"), r.get("peak_bytes"), (r.get("seconds") or 0) / cp,
                     {**r, "of_cp_without_sync": (r.get("seconds") or 0) / bare}))
    r = child(TRANSFORMERS_TF1, directory / "tf1", directory / "hf-out")
    rows.append(("convert", "transformers TF1 -> safetensors", r.get("seconds"), r.get("peak_bytes"),
                 (r.get("seconds") or 0) / cp, r))
    # What a user waits for: whole processes, imports included (the CLI imports no framework; transformers' path
    # needs torch and TensorFlow).
    ours = whole_process([sys.executable, "-m", "albert_bridge", "convert", directory / "tf1", directory / "out",
                          "--to", "safetensors", "--force"])
    theirs = whole_process([sys.executable, "-c", TRANSFORMERS_TF1.replace("measure(run)", "run()"),
                            directory / "tf1", directory / "hf-out"])
    rows.append(("convert", "CLI TF1 -> safetensors, whole process", ours, None, ours / cp))
    rows.append(("convert", "transformers' script, whole process", theirs, None, theirs / cp,
                 {"ours_faster": theirs / ours}))


PHASES = r"""
import cProfile, json, pstats, sys, time
from albert_bridge.convert import convert
import google_crc32c, h5py, albert_bridge.formats.tf1_original, albert_bridge.formats.hf_pytorch
import albert_bridge.formats.hf_keras_h5
src, dst, fmt = sys.argv[1:4]
profile = cProfile.Profile()
start = time.perf_counter()
profile.runcall(convert, src, dst, [fmt], force=True)
total = time.perf_counter() - start
# Each built-in that does a phase's work, by name: what cProfile sees of the threads that copy is their joins.
PHASES = {"transpose (+ folded checks)": ("acquire",), "write": ("write", "__setitem__", "pwrite"),
          "checksum (CRC-32C)": ("_crc32c.extend",), "finite check": ("reduce",), "rename": ("replace", "rename")}
seen = {name: 0.0 for name in PHASES}
for (path, _, function), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():
    for name, needles in PHASES.items():
        if any(function.endswith(n) or function == f"<built-in method {n}>" or n in function for n in needles):
            seen[name] += tottime
            break
seen["other"] = total - sum(seen.values())
print(json.dumps({"seconds": total, "phases": seen}))
"""


def cp_no_sync(directory: Path) -> tuple[float, float]:
    """`cp` of the TF1 data file into a new file (the copy of the round before removed first), no sync: wall and
    CPU seconds (the kernel's copy runs in this process: its system time)."""
    data, copy = directory / "tf1" / "model.ckpt-best.data-00000-of-00001", directory / "copy"
    copy.unlink(missing_ok=True)
    cpu, start = os.times(), time.perf_counter()
    shutil.copyfile(data, copy)
    seconds, end = time.perf_counter() - start, os.times()
    return seconds, end.user + end.system - cpu.user - cpu.system


def _median(values: list) -> float | None:
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def section_copy(directory: Path, nbytes: int, rows: list, baseline: str | None, rounds: int) -> None:
    """Issue 23: TF1 -> safetensors and TF1 -> tf against `cp` of the same bytes, neither syncing, each into a new
    destination (the previous output removed first, untimed, as cp's copy is), alternated over --rounds with this
    tree and --baseline's; the median ratio per round, by wall time and by CPU time (the CPU ratio holds under
    load; the wall one is what a user waits for on an idle machine). Then one profiled conversion per tree: where
    the time goes."""
    trees = {"ours": ROOT, **({"baseline": Path(baseline)} if baseline else {})}
    runs: dict = {}
    for round_ in range(rounds):
        cp, cp_cpu = cp_no_sync(directory)
        runs.setdefault("cp", []).append((cp, cp_cpu))
        for fmt in ("safetensors", "tf"):
            order = list(trees.items())  # who runs first after cp alternates: the page cache's state moves times
            for name, tree in order if round_ % 2 else order[::-1]:
                shutil.rmtree(directory / "out", ignore_errors=True)
                r = child(CONVERT, directory / "tf1", directory / "out", fmt, tree=tree)
                runs.setdefault((fmt, name), []).append((r.get("seconds"), r.get("cpu_seconds"), r.get("peak_bytes"),
                                                          cp, cp_cpu))
    (directory / "copy").unlink(missing_ok=True)
    cps = runs["cp"]
    rows.append(("copy", "cp of the TF1 data file, no sync (median)", _median([c for c, _ in cps]), None, 1.0,
                 {"cpu_seconds": _median([c for _, c in cps]), "runs": cps}))
    for (fmt, name), seen in ((k, v) for k, v in runs.items() if k != "cp"):
        wall = _median([s / cp for s, _, _, cp, _ in seen if s])
        cpu = _median([c / cc for _, c, _, _, cc in seen if c and cc])
        rows.append(("copy", f"TF1 -> {fmt} ({name}; ratio: to cp in its round)", _median([s for s, *_ in seen]),
                     _median([p for _, _, p, _, _ in seen]), wall, {"cpu_ratio": cpu, "runs": seen}))
    for fmt in ("safetensors", "tf"):
        for name, tree in trees.items():
            shutil.rmtree(directory / "out", ignore_errors=True)
            r = child(PHASES, directory / "tf1", directory / "out", fmt, tree=tree)
            phases = ", ".join(f"{k} {v:.2f}" for k, v in r.get("phases", {}).items())
            rows.append(("phases", f"TF1 -> {fmt} ({name}, profiled): {phases}", r.get("seconds"), None, None, r))
    shutil.rmtree(directory / "out", ignore_errors=True)


def section_load(directory: Path, rows: list) -> None:
    legacy = {"TF_USE_LEGACY_KERAS": "1"}
    for which in ("torch", "hf-torch", "tf", "hf-tf", "flax", "hf-flax"):
        r = child(LOAD, which, directory / "st", env=legacy if which == "hf-tf" else None)
        rows.append(("load", f"from_pretrained {which}", r.get("seconds"), r.get("peak_bytes"), None, r))


def section_forward(rows: list) -> None:
    from albert_bridge.formats import get_format
    from albert_bridge.schema import HeadKind
    from albert_bridge.testing import make_checkpoint, official_config

    with tempfile.TemporaryDirectory() as tmp:
        get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, config=official_config("base")), Path(tmp))
        for framework in ("torch", "tf", "flax"):
            best: dict[str, float] = {}
            for _ in range(3):  # alternate ours and theirs
                for which in (framework, f"hf-{framework}"):
                    env = {"TF_USE_LEGACY_KERAS": "1"} if which == "hf-tf" else None
                    r = child(FORWARD, which, tmp, 7, env=env)
                    if "best" in r:
                        best[which] = min(best.get(which, 1e9), r["best"])
            ours, theirs = best.get(framework), best.get(f"hf-{framework}")
            tokens = 8 * 128
            rows.append(("forward", f"{framework}: ours {tokens / ours:,.0f} tok/s" if ours else framework, ours, None,
                         theirs / ours if ours and theirs else None, {"transformers_seconds": theirs}))


def section_tf_graph(rows: list, rounds: int = 3) -> None:
    """TF2 where users run it: inside their own tf.function, model.predict and a fit step (train_on_batch), ours
    (Keras 3) against transformers' TFAlbertForMaskedLM (tf-keras, its own process); medians of 5 per child,
    children alternated, the median over the rounds."""
    import numpy as np

    from albert_bridge.formats import get_format
    from albert_bridge.schema import HeadKind
    from albert_bridge.testing import make_checkpoint, official_config

    with tempfile.TemporaryDirectory() as tmp:
        get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, config=official_config("base")), Path(tmp))
        seen: dict[str, dict[str, list]] = {"tf": {}, "hf-tf": {}}
        for _ in range(rounds):
            for which in ("tf", "hf-tf"):
                env = {"TF_USE_LEGACY_KERAS": "1"} if which == "hf-tf" else None
                r = child(GRAPH, which, tmp, 5, Path(tmp) / f"{which}.npy", env=env)
                for name, seconds in r.items():
                    seen[which].setdefault(name, []).append(seconds)
        # transformers' TF MLM head may leave its decoder bias at zero on a from_pt load (see ALBERT-FACTS): the
        # logits are compared as they are and less our output bias; the smaller difference is reported.
        diff = None
        if all((Path(tmp) / f"{w}.npy").exists() for w in seen):
            from albert_bridge.formats import load
            bias = np.asarray(load(tmp).tensors["head.mlm.output_bias"].read())
            ours, theirs = np.load(Path(tmp) / "tf.npy"), np.load(Path(tmp) / "hf-tf.npy")
            diff = float(min(np.abs(ours - theirs).max(), np.abs(ours - bias - theirs).max()))
    for name in seen["tf"]:
        ours = sorted(seen["tf"][name])[len(seen["tf"][name]) // 2]
        theirs = seen["hf-tf"].get(name)
        theirs = sorted(theirs)[len(theirs) // 2] if theirs else None
        rows.append(("tfgraph", f"TF2 {name}, base 8 x 128 (ours; transformers)", ours, None,
                     theirs / ours if theirs else None, {"transformers_seconds": theirs, "max_logit_diff": diff}))


PARITY = r"""
import json, sys, tempfile, time
from pathlib import Path
from albert_bridge.parity import check
path, backends = sys.argv[1], sys.argv[2]
start = time.perf_counter()
report = check(path, backends, batch=3, seq_len=128)
worst = {}
for c in report.comparisons:
    if c.max_abs_diff is not None:
        worst[c.b] = max(worst.get(c.b, 0.0), c.max_abs_diff)
runs = {r.backend: [round(x, 2) if x is not None else None for x in (r.seconds, r.load_seconds, r.forward_seconds)]
        for r in report.runs if not r.skipped}
import albert_bridge
print(json.dumps({"seconds": time.perf_counter() - start, "passed": report.passed, "worst": worst, "runs": runs,
                  "tree": str(Path(albert_bridge.__file__).parents[1])}))
"""
# `--backends all` as it was when issue 23 was filed (the baseline's registry): ours adds tflite and keras-hub,
# which the ratio leaves out so that both trees run the same work; the row for ours with every backend follows.
BASELINE_ALL = "torch,tf,flax,hf-torch,hf-tf,hf-flax,onnx,numpy"


def section_parity(rows: list, baseline: str | None, rounds: int = 1) -> None:
    """`parity --backends all` at base size (the harness in one process, every worker started cold), this tree and,
    with --baseline DIR (another checkout, e.g. the main branch), that tree's harness, alternated."""
    from albert_bridge.formats import get_format
    from albert_bridge.schema import HeadKind
    from albert_bridge.testing import make_checkpoint, official_config

    with tempfile.TemporaryDirectory() as tmp:
        get_format("safetensors").save(make_checkpoint(HeadKind.PRETRAINING, config=official_config("base")),
                                       Path(tmp))
        trees = {"ours": ROOT, **({"baseline": Path(baseline)} if baseline else {})}
        seen: dict[str, list] = {name: [] for name in trees}
        last: dict[str, dict] = {}
        for _ in range(rounds):
            for name, tree in trees.items():
                r = child(PARITY, tmp, BASELINE_ALL, tree=tree)
                if "seconds" in r:
                    seen[name].append(r["seconds"])
                    last[name] = r
                else:
                    print(f"parity {name}: {r}", file=sys.stderr)
        ours = sorted(seen["ours"])[len(seen["ours"]) // 2] if seen["ours"] else None
        old = sorted(seen.get("baseline", []))[len(seen.get("baseline", [])) // 2] if seen.get("baseline") else None
        same = last.get("ours", {}).get("worst") == last.get("baseline", {}).get("worst") if old else None
        rows.append(("parity", "parity --backends all (issue 23's eight), base 3 x 128 (ours; ratio to the baseline)",
                     ours, None, ours / old if ours and old else None,
                     {"baseline_seconds": old, "identical_results": same, "ours": last.get("ours"),
                      "baseline": last.get("baseline"), "rounds": seen}))
        r = child(PARITY, tmp, "all")
        rows.append(("parity", "parity --backends all, every backend of this tree (tflite included)", r.get("seconds"),
                     None, None, r))


def section_cli(directory: Path, rows: list) -> None:
    for args in (["--help"], ["inspect", directory / "st" / "model.safetensors"]):
        times = []
        for _ in range(3):  # best of 3: the first run may find Python's own files out of the page cache
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "albert_bridge", *map(str, args)], capture_output=True, cwd=ROOT)
            times.append(time.perf_counter() - start)
        rows.append(("cli", "albert-bridge " + str(args[0]), min(times), None, None))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sections", default="convert,load,forward,cli")
    parser.add_argument("--size", default="xxlarge")
    parser.add_argument("--baseline", help="another checkout (e.g. /work/main) that the copy and parity sections time too")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds of the copy, tfgraph and parity sections")
    parser.add_argument("--out")
    args = parser.parse_args()
    sections = args.sections.split(",")
    rows: list = []
    nbytes = 1
    if {"convert", "copy", "load", "cli"} & set(sections):
        with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
            directory = Path(tmp)
            nbytes = make_checkpoints(args.size, directory)
            print(f"ALBERT-{args.size}: {nbytes / 2**20:.0f} MiB fp32", flush=True)
            if "convert" in sections:
                section_convert(directory, nbytes, rows)
            if "copy" in sections:
                section_copy(directory, nbytes, rows, args.baseline, args.rounds)
            if "load" in sections:
                section_load(directory, rows)
            if "cli" in sections:
                section_cli(directory, rows)
    if "forward" in sections:
        section_forward(rows)
    if "tfgraph" in sections:
        section_tf_graph(rows, args.rounds)
    if "parity" in sections:
        section_parity(rows, args.baseline, args.rounds)
    if "scaling" in sections:
        for size in ("base", "large", "xlarge", "xxlarge"):
            with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
                directory = Path(tmp)
                size_bytes = make_checkpoints(size, directory)
                cp = timed_cp(directory)
                r = child(CONVERT, directory / "tf1", directory / "out", "safetensors")
                rows.append(("scaling", f"{size} TF1 -> safetensors ({size_bytes / 2**20:.0f} MiB)", r.get("seconds"),
                             r.get("peak_bytes"), (r.get("seconds") or 0) / cp, {"model_bytes": size_bytes}))
    print(f"{'section':8} {'what':44} {'seconds':>8} {'peak':>8} {'ratio':>7} {'cpu ratio':>9}")
    for section, what, seconds, peak, ratio, *_ in rows:
        extra = _[0] if _ and isinstance(_[0], dict) else {}
        model_bytes = extra.get("model_bytes", nbytes)
        peak_text = f"{peak / model_bytes:.2f}x" if peak else ""
        cpu_ratio = extra.get("cpu_ratio")
        print(f"{section:8} {what:44} {seconds if seconds is None else round(seconds, 3)!s:>8} {peak_text:>8} "
              f"{'' if ratio is None else f'{ratio:.2f}':>7} {'' if cpu_ratio is None else f'{cpu_ratio:.2f}':>9}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
