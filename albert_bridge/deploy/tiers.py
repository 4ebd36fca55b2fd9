"""The tier table: each deployment tier's file size, CPU latency relative to fp32 ONNX Runtime and agreement with
fp32, measured side by side in one process on the same inputs (`push` writes it into the model card,
`bench/bench_tiers.py` prints it at ALBERT-base size).

The reference is the fp32 ONNX export on ONNX Runtime (the same graph as `model.onnx`): latency ratios are fp32
seconds / tier seconds (above 1: faster), each the median of `repeats` runs after a warm-up; agreement is
`agreement.agreement` of every output against fp32's, on attended tokens. ONNX Runtime and the LiteRT interpreter
get the same number of threads.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..checkpoint import Checkpoint
from ..export.onnx import build_model
from ..export.onnx_runtime import run, session
from .agreement import agreement


@dataclass
class TierRow:
    tier: str                              # format name (onnx, onnx-int8, tflite, tflite-int8)
    file: str
    bytes: int
    seconds: float                         # median forward time
    speedup: float                         # fp32 ONNX Runtime seconds / this tier's (1.0 for the reference)
    top1_agreement: float | None           # the lowest over the logits outputs
    top5_agreement: float | None
    cosine: float                          # the lowest over the outputs
    per_output: dict[str, dict[str, float]] = field(default_factory=dict)


def round_robin(calls: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, Any], dict[str, float]]:
    """(each call's outputs, its median seconds): one warm-up each, then `repeats` rounds calling each in turn, so
    that load from other processes on a shared machine falls on all of them alike."""
    outputs = {name: call() for name, call in calls.items()}
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return outputs, {name: float(np.median(t)) for name, t in times.items()}


def _ort_options(threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return options


def _row(tier: str, file: Path | None, size: int, outputs: dict, seconds: float, reference: dict, baseline: float,
         mask: np.ndarray) -> TierRow:
    per = {name: agreement(name, reference[name], outputs[name], mask) for name in reference if name in outputs}
    top1 = [v["top1_agreement"] for v in per.values() if "top1_agreement" in v]
    top5 = [v["top5_agreement"] for v in per.values() if "top5_agreement" in v]
    return TierRow(tier, file.name if file else "", size, seconds, baseline / seconds if seconds else float("nan"),
                   min(top1) if top1 else None, min(top5) if top5 else None,
                   min(v["cosine"] for v in per.values()), per)


def _caller(file: Path, feed: dict[str, np.ndarray], threads: int) -> Callable[[], dict[str, np.ndarray]]:
    """A call running `file` (ONNX Runtime for .onnx, the LiteRT interpreter for .tflite) on `feed`."""
    if file.suffix == ".onnx":
        sess = session(str(file), options=_ort_options(threads))
        return lambda: run(str(file), feed, sess=sess)
    from . import tflite  # imports tensorflow at its top

    runner = tflite.interpreter(file, threads).get_signature_runner(tflite.SIGNATURE)
    return lambda: tflite.run(file, feed, runner=runner)


def measure(ckpt: Checkpoint, files: dict[str, Path], inputs: dict[str, np.ndarray], *, repeats: int = 5,
            threads: int | None = None, fp32_file: Path | None = None,
            positions: np.ndarray | None = None) -> list[TierRow]:
    """[fp32 ONNX Runtime row, one row per tier file ({format name: file})], timed round robin. `fp32_file`: the
    model.onnx to time (else the same graph built in memory from `ckpt`). `positions` ([batch, seq], 0/1): the
    tokens whose per-token outputs count for agreement (default: the attended ones; e.g. only the [MASK]ed ones)."""
    threads = threads or os.cpu_count() or 1
    mask = inputs["attention_mask"] if positions is None else positions
    feed = {k: inputs[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    if fp32_file is not None:
        calls = {"onnx": _caller(fp32_file, feed, threads)}
        size = fp32_file.stat().st_size
    else:
        model = build_model(ckpt, dtype="float32")
        fp32 = session(model, options=_ort_options(threads))
        calls = {"onnx": lambda: run(model, feed, sess=fp32)}
        size = model.ByteSize()
    calls.update({tier: _caller(file, feed, threads) for tier, file in files.items()})
    outputs, seconds = round_robin(calls, repeats)
    reference, baseline = outputs["onnx"], seconds["onnx"]
    rows = [_row("onnx", fp32_file or Path("model.onnx"), size, reference, baseline, reference, baseline, mask)]
    rows += [_row(tier, file, file.stat().st_size, outputs[tier], seconds[tier], reference, baseline, mask)
             for tier, file in files.items()]
    return rows


def table(rows: list[TierRow]) -> list[str]:
    """The rows as a Markdown table (the model card's and the README's)."""
    base = rows[0].bytes
    lines = ["| tier | file | bytes | size vs fp32 | CPU speed vs fp32 ONNX Runtime (median) | top-1 agreement | "
             "top-5 agreement | cosine |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def pct(x):
            return "" if x is None else f"{x:.2%}"
        lines.append(f"| {r.tier} | `{r.file}` | {r.bytes:,} | {r.bytes / base:.2f}x | {r.speedup:.2f}x "
                     f"({r.seconds * 1000:.1f} ms) | {pct(r.top1_agreement)} | {pct(r.top5_agreement)} | "
                     f"{r.cosine:.4f} |")
    return lines
