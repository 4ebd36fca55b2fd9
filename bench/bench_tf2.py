"""TF2 / Keras 3 forward latency: eager, tf.function, XLA (jit_compile) and the exported SavedModel, plus
transformers' TF class (tf-keras, in a subprocess) on the same weights and inputs.

    python bench/bench_tf2.py [--size tiny|base|large] [--batch 8] [--seq 128] [--repeat 10] [--no-reference]

Random weights (the timing does not depend on them); the machines are shared and noisy: compare ratios in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {
    "tiny": dict(vocab_size=99, embedding_size=24, hidden_size=32, intermediate_size=40, num_attention_heads=4,
                 num_hidden_layers=5, num_hidden_groups=2, inner_group_num=2, max_position_embeddings=512),
    "base": dict(vocab_size=30000, embedding_size=128, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072),
    "large": dict(vocab_size=30000, embedding_size=128, hidden_size=1024, num_hidden_layers=24,
                  num_attention_heads=16, intermediate_size=4096),
}

REFERENCE = r"""
import json, sys, time
import numpy as np
import transformers
path, inputs, repeat = sys.argv[1], np.load(sys.argv[2]), int(sys.argv[3])
model = transformers.TFAlbertForMaskedLM.from_pretrained(path)
feed = {k: inputs[k] for k in inputs.files}
model(**feed)
t = time.perf_counter()
for _ in range(repeat):
    logits = model(**feed).logits.numpy()
print(json.dumps({"seconds": (time.perf_counter() - t) / repeat}))
np.save(sys.argv[4], logits)
"""


def timed(fn, repeat: int) -> float:
    fn()  # warm-up (tracing, compilation)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="base")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--no-reference", action="store_true", help="skip transformers' TF class")
    args = parser.parse_args()

    import tensorflow as tf

    from albert_bridge import TFAlbertForMaskedLM
    from albert_bridge.config import AlbertConfig

    config = AlbertConfig(**SIZES[args.size], hidden_act="gelu_new")
    model = TFAlbertForMaskedLM(config)
    rng = np.random.default_rng(0)
    feed = {"input_ids": rng.integers(5, config.vocab_size, (args.batch, args.seq)).astype(np.int32),
            "attention_mask": np.ones((args.batch, args.seq), np.int32),
            "token_type_ids": np.zeros((args.batch, args.seq), np.int32)}
    tensors = {k: tf.constant(v) for k, v in feed.items()}
    graph = tf.function(lambda: model(**tensors).logits)
    xla = tf.function(lambda: model(**tensors).logits, jit_compile=True)
    results = {"eager": timed(lambda: model(**tensors).logits.numpy(), args.repeat),
               "tf.function": timed(lambda: graph().numpy(), args.repeat),
               "tf.function(jit_compile)": timed(lambda: xla().numpy(), args.repeat)}
    expected = model(**tensors).logits.numpy()
    with tempfile.TemporaryDirectory() as tmp:
        serve = tf.saved_model.load(str(model.export_saved_model(Path(tmp) / "sm"))).signatures["serving_default"]
        results["SavedModel serving_default"] = timed(lambda: serve(**tensors)["logits"].numpy(), args.repeat)
        if not args.no_reference:
            model.save_pretrained(Path(tmp) / "h5")
            np.savez(Path(tmp) / "inputs.npz", **feed)
            env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                   "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1"}
            out = subprocess.run([sys.executable, "-c", REFERENCE, str(Path(tmp) / "h5"), str(Path(tmp) / "inputs.npz"),
                                  str(args.repeat), str(Path(tmp) / "theirs.npy")],
                                 capture_output=True, text=True, env=env)
            if out.returncode == 0:
                results["transformers TFAlbertForMaskedLM (tf-keras)"] = json.loads(out.stdout.splitlines()[-1])["seconds"]
                diff = float(np.max(np.abs(np.load(Path(tmp) / "theirs.npy") - expected)))
                print(f"max |logits diff| ours vs transformers: {diff:.2e}")
            else:
                print("transformers reference failed:", out.stderr.strip().splitlines()[-1:])
    print(f"{args.size}: batch {args.batch} x seq {args.seq}, mean of {args.repeat} runs")
    for name, seconds in results.items():
        print(f"  {name:45s} {seconds * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
