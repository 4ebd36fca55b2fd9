"""Parity and speed on an accelerator: the parity harness on the device against golden CPU outputs, and timings.

    python bench/device_parity.py --device cuda [--out results.json] [--emulate-device]

For every head: the harness runs the CPU fp32 PyTorch model once and saves its outputs (`--save-outputs`), then
every backend installed here (ours in PyTorch, TF2 and Flax, transformers' as the reference) on the device in
fp32, bf16 and fp16 with `--expect` those outputs: the report per (head, dtype) is kept whole in the results.
Then forward-pass time of an ALBERT-xxlarge-sized random model: ours and transformers' PyTorch side by side, and
our Flax (bf16) in the same run. `--emulate-device` runs the device code path on the CPU (a dry run of this script).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from albert_bridge.formats import get_format  # noqa: E402
from albert_bridge.models.albert_torch import MODEL_FOR_HEAD  # noqa: E402
from albert_bridge.parity import WorkerPool, check  # noqa: E402
from albert_bridge.schema import HeadKind  # noqa: E402
from albert_bridge.testing import make_checkpoint, official_config  # noqa: E402

BACKENDS = ["torch", "tf", "flax", "hf-torch", "hf-tf", "hf-flax"]


def parity(device: str, emulate: bool) -> dict:
    """{head: {dtype: report}}: every backend on the device against the CPU fp32 PyTorch outputs."""
    results = {}
    with WorkerPool() as pool, tempfile.TemporaryDirectory() as tmp:
        for head in HeadKind:
            directory, golden = Path(tmp) / head.value, Path(tmp) / f"{head.value}.npz"
            get_format("safetensors").save(make_checkpoint(head, seed=5), directory)
            check(directory, "torch", save_outputs_to=golden, pool=pool)  # the CPU fp32 reference
            results[head.value] = {}
            for dtype in ("float32", "bfloat16", "float16"):
                report = check(directory, BACKENDS, device=device, dtype=dtype, expect=golden, pool=pool,
                               emulate_device=emulate)
                results[head.value][dtype] = report.to_dict()
                worst = {}
                for c in report.comparisons:
                    if c.a == "expected" and c.max_abs_diff is not None:
                        worst[c.b] = max(worst.get(c.b, 0.0), c.max_abs_diff)
                skipped = {r.backend: r.skipped or r.error for r in report.runs if not r.ok}
                print(head.value, dtype, "passed" if report.passed else "FAILED",
                      {k: f"{v:.2e}" for k, v in worst.items()}, skipped or "", flush=True)
    return results


def speed(device: str) -> dict:
    config = official_config("xxlarge")
    ids = torch.randint(5, 30000, (8, 512), device=device)
    mask = torch.ones_like(ids)
    mask[:, 400:] = 0
    models = {"albert_bridge": MODEL_FOR_HEAD[HeadKind.BASE](config)}
    try:
        import transformers

        models["transformers"] = transformers.AlbertModel(transformers.AlbertConfig(**config.to_dict()))
        models["transformers"].load_state_dict(models["albert_bridge"].state_dict())
    except ImportError:
        pass
    out = {}
    for dtype in (torch.float16, torch.bfloat16):
        for name, model in models.items():
            model = model.to(device=device, dtype=dtype).eval()
            with torch.no_grad():
                for _ in range(3):
                    model(ids, attention_mask=mask)
                torch.cuda.synchronize() if device.startswith("cuda") else None
                t = time.perf_counter()
                for _ in range(10):
                    model(ids, attention_mask=mask)
                torch.cuda.synchronize() if device.startswith("cuda") else None
            out[f"{name}_{str(dtype).split('.')[1]}_ms"] = (time.perf_counter() - t) / 10 * 1000
            print(name, dtype, f"{out[f'{name}_{str(dtype).split(chr(46))[1]}_ms']:.2f} ms", flush=True)
    return out


def flax_speed(config) -> dict:
    """ALBERT-xxlarge-sized forward in Flax (bf16 compute) on the same random weights as the PyTorch timing."""
    import jax
    import jax.numpy as jnp

    from albert_bridge.models.albert_flax import FlaxAlbertModel

    with tempfile.TemporaryDirectory() as tmp:
        get_format("safetensors").save(make_checkpoint(HeadKind.BASE, config=config), Path(tmp))
        model = FlaxAlbertModel.from_pretrained(tmp, dtype=jnp.bfloat16)
    ids = jnp.asarray(np.random.default_rng(0).integers(5, 30000, (8, 512)))
    mask = jnp.ones_like(ids).at[:, 400:].set(0)
    for _ in range(3):
        jax.block_until_ready(model(ids, attention_mask=mask).last_hidden_state)
    t = time.perf_counter()
    for _ in range(10):
        jax.block_until_ready(model(ids, attention_mask=mask).last_hidden_state)
    ms = (time.perf_counter() - t) / 10 * 1000
    print("flax bf16", f"{ms:.2f} ms", jax.devices(), flush=True)
    return {"flax_bfloat16_ms": ms, "jax_devices": str(jax.devices())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out")
    parser.add_argument("--emulate-device", action="store_true", help="the device code path on the CPU (dry run)")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    import transformers as _t  # noqa: F401  (version in the report)

    on_device = args.device.startswith("cuda") and not args.emulate_device
    report = {"torch": torch.__version__, "transformers": _t.__version__,
              "device_name": torch.cuda.get_device_name() if on_device else args.device,
              "parity_reports_vs_cpu_fp32": parity(args.device, args.emulate_device)}
    if not args.no_speed:
        report["xxlarge_b8_s512_forward"] = speed(args.device)
    try:
        if not args.no_speed:
            report["xxlarge_b8_s512_forward"].update(flax_speed(official_config("xxlarge")))
    except ImportError as exc:
        report["flax_speed"] = f"not run: {exc}"
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
