"""The deployment tier table: file size, CPU latency relative to fp32 ONNX Runtime and agreement with fp32, for
model.onnx (fp32), model_quantized.onnx (int8), model.tflite (fp32), model_fp16.tflite and model_int8.tflite,
measured side by side in one run (round robin, same inputs, same thread count).

    python bench/bench_tiers.py [--size base] [--batch 8] [--seq 128] [--repeat 10] [--threads N]
                                [--trained fixtures/trained] [--skip-tflite] [--skip-base]

Latency and size at ALBERT-base size with random weights (an MLM head: the vocabulary-sized decoder included);
agreement rows on the trained fixture (issue 22's small trained ALBERT, MLM + classifier) over its held-aside text,
when `--trained` points at it: agreement on random weights says nothing. Everything is written by the same code as
`albert-bridge convert --to onnx,onnx-int8,tflite,tflite-int8` (the fp16 file with `--dtype float16`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def write_tiers(ckpt, directory: Path, tflite: bool) -> dict[str, Path]:
    """Every tier of `ckpt` written by its format's own save, timed; {tier: file}."""
    from albert_bridge.formats import get_format

    from albert_bridge.deploy.onnx_int8 import quantize
    from albert_bridge.export.onnx import build_model, save_model

    files = {}
    # per-tensor int8 beside the per-channel default: whether per-channel scales earn their bytes
    (directory / "per-tensor").mkdir()
    per_tensor = directory / "per-tensor" / "model_quantized.onnx"
    save_model(quantize(build_model(ckpt, dtype="float32"), per_channel=False), per_tensor)
    files["onnx-int8 per-tensor"] = per_tensor
    plan = [("onnx-int8", ckpt)]
    if tflite:
        plan += [("tflite", ckpt), ("tflite --dtype float16", ckpt.cast("float16")), ("tflite-int8", ckpt)]
    for tier, source in plan:
        start = time.perf_counter()
        out = directory / tier
        written = get_format(tier.split()[0]).save(source, out)
        files[tier] = next(p for p in written if p.name != "config.json")
        print(f"  wrote {files[tier].name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return files


def held_aside_text(root: Path, directory: Path, tmp: Path) -> Path | None:
    """The trained fixture's held-aside text for this model: a classifier's `heldout-classify.tsv` (label TAB text:
    its texts), else a `*.txt` beside the model or in the fixture's root (`heldout.txt`)."""
    from albert_bridge.formats import load

    if load(directory).head.value == "sequence-classification" and (root / "heldout-classify.tsv").is_file():
        lines = (root / "heldout-classify.tsv").read_text(encoding="utf-8").splitlines()
        texts = tmp / f"{directory.name}-texts.txt"
        texts.write_text("\n".join(line.split("\t", 1)[-1] for line in lines if line.strip()) + "\n", "utf-8")
        return texts
    return next(iter(sorted(directory.glob("*.txt"))), None) or next(iter(sorted(root.glob("*.txt"))), None)


def mask_pieces(feed: dict, seed: int, rate: float = 0.15, mask_id: int = 4):
    """(the batch with a seeded `rate` of its pieces, never [CLS] / [SEP] / padding, replaced by [MASK]; which)."""
    import numpy as np

    ids = feed["input_ids"].copy()
    special = (ids == 2) | (ids == 3) | (feed["attention_mask"] == 0)
    chosen = (np.random.default_rng(seed).random(ids.shape) < rate) & ~special
    ids[chosen] = mask_id
    return {**feed, "input_ids": ids}, chosen.astype(np.int64)


def text_feed(ckpt, directory: Path, text_file: Path, seq: int):
    from albert_bridge.parity.harness import read_text_file, text_inputs

    texts = read_text_file(text_file)
    return text_inputs(texts, directory, ckpt.head, min(seq, ckpt.config.max_position_embeddings)), len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="base", choices=("base", "large", "xlarge", "xxlarge"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="Threads for every runtime (default: all cores).")
    parser.add_argument("--trained", type=Path, default=None,
                        help="The trained fixture's directory (its MLM and classifier checkpoints and text).")
    parser.add_argument("--skip-tflite", action="store_true", help="ONNX tiers only (TFLite conversion is slow).")
    parser.add_argument("--skip-base", action="store_true", help="Only the trained fixture's rows.")
    args = parser.parse_args()

    from albert_bridge.deploy.tiers import measure, table
    from albert_bridge.export.onnx import export
    from albert_bridge.formats import load
    from albert_bridge.testing import make_checkpoint, make_inputs, official_config

    with tempfile.TemporaryDirectory(prefix="bench-tiers-") as tmp:
        tmp = Path(tmp)
        if not args.skip_base:
            ckpt = make_checkpoint("masked-lm", seed=0, config=official_config(args.size))
            export(ckpt, tmp / "model.onnx")
            files = write_tiers(ckpt, tmp, not args.skip_tflite)
            inputs = make_inputs("masked-lm", batch=args.batch, seq_len=args.seq, vocab_size=ckpt.config.vocab_size)
            rows = measure(ckpt, files, inputs, repeats=args.repeat, threads=args.threads,
                           fp32_file=tmp / "model.onnx")
            print(f"## ALBERT-{args.size} masked LM, random weights, batch {args.batch} x {args.seq}, "
                  f"{args.threads or os.cpu_count()} thread(s), median of {args.repeat} round-robin runs")
            print("(agreement on random weights is not meaningful: see the trained rows)\n")
            print("\n".join(table(rows)))

        if args.trained is None:
            return
        for name in sorted(p.name for p in args.trained.iterdir() if (p / "config.json").is_file()):
            directory = args.trained / name
            text = held_aside_text(args.trained, directory, tmp)
            if text is None:
                print(f"\n{name}: no held-aside text beside it, skipped")
                continue
            trained = load(directory)
            out = tmp / f"trained-{name}"
            out.mkdir()
            export(trained, out / "model.onnx")
            tier_files = write_tiers(trained, out, not args.skip_tflite)
            feed, count = text_feed(trained, directory, text, args.seq)
            rows = measure(trained, tier_files, feed, repeats=max(3, args.repeat // 3), threads=args.threads,
                           fp32_file=out / "model.onnx")
            print(f"\n## trained fixture {name} ({trained.head.value}), {count} held-aside texts from {text.name}, "
                  "agreement over every attended token\n")
            print("\n".join(table(rows)))
            if trained.head.value == "masked-lm":  # what a fill-mask user sees: the predictions at [MASK]
                masked, positions = mask_pieces(feed, seed=22)
                rows = measure(trained, tier_files, masked, repeats=max(3, args.repeat // 3), threads=args.threads,
                               fp32_file=out / "model.onnx", positions=positions)
                print(f"\n## trained fixture {name}: the same texts with 15% of the pieces replaced by [MASK] "
                      f"({int(positions.sum())} positions), agreement at the masked positions only\n")
                print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
