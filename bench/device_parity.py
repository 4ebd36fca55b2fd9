"""Parity and speed of the PyTorch and Flax backends on an accelerator, against our CPU PyTorch run and transformers.

    python bench/device_parity.py --device cuda [--out results.json]

For every head: PyTorch logits on the device (fp32, bf16, fp16) against the CPU fp32 run of the same checkpoint,
transformers' class on the device loading the same files, and our Flax class on JAX's default device (fp32 and
bf16 compute). Then forward-pass time of an ALBERT-xxlarge-sized random model: ours and transformers' PyTorch side by
side, and our Flax (bf16) in the same run. TensorFlow is not on the device image, so TF2 is checked on CPU only.
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
from albert_bridge.schema import ARCHITECTURES, HeadKind  # noqa: E402
from fixtures.generate import make_checkpoint, official_config  # noqa: E402


def inputs_for(head: HeadKind, device: str) -> dict:
    g = torch.Generator().manual_seed(0)
    shape = (2, 3, 9) if head is HeadKind.MULTIPLE_CHOICE else (3, 9)
    mask = torch.ones(shape, dtype=torch.long)
    mask[..., -1, 6:] = 0
    return {k: v.to(device) for k, v in {"input_ids": torch.randint(5, 99, shape, generator=g),
                                          "attention_mask": mask}.items()}


def max_diff(a, b) -> float:
    return max(float((x.float().cpu() - y.float().cpu()).abs().max()) for x, y in zip(a.values(), b.values())
               if isinstance(x, torch.Tensor))


def flax_outputs(head: HeadKind, directory: str, dtype) -> dict:
    """Our Flax class on JAX's default device (the accelerator when one is visible)."""
    import jax.numpy as jnp

    from albert_bridge.models import albert_flax

    cls = getattr(albert_flax, "Flax" + ARCHITECTURES[head])
    model = cls.from_pretrained(directory, dtype=dtype)
    inputs = {k: jnp.asarray(v.numpy()) for k, v in inputs_for(head, "cpu").items()}
    out = model(**inputs)
    return {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in out.items() if hasattr(v, "shape")}


def parity(device: str) -> dict:
    results = {}
    try:
        import transformers
    except ImportError:
        transformers = None
    for head in HeadKind:
        with tempfile.TemporaryDirectory() as tmp:
            get_format("safetensors").save(make_checkpoint(head, seed=5), Path(tmp))
            cls = MODEL_FOR_HEAD[head]
            with torch.no_grad():
                reference = cls.from_pretrained(tmp)(**inputs_for(head, "cpu"))
                row = {}
                for dtype in (torch.float32, torch.bfloat16, torch.float16):
                    model = cls.from_pretrained(tmp, torch_dtype=dtype).to(device)
                    row[str(dtype).split(".")[1]] = max_diff(model(**inputs_for(head, device)), reference)
                if transformers is not None:
                    theirs = getattr(transformers, ARCHITECTURES[head]).from_pretrained(tmp).to(device).eval()
                    row["transformers_fp32"] = max_diff(theirs(**inputs_for(head, device)), reference)
                try:
                    import jax.numpy as jnp

                    row["flax_fp32"] = max_diff(flax_outputs(head, tmp, jnp.float32), reference)
                    row["flax_bf16_compute"] = max_diff(flax_outputs(head, tmp, jnp.bfloat16), reference)
                except ImportError as exc:
                    row["flax"] = f"not run: {exc}"
            results[head.value] = row
            print(head.value, row, flush=True)
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
    args = parser.parse_args()
    import transformers as _t  # noqa: F401  (version in the report)

    report = {"torch": torch.__version__, "transformers": _t.__version__,
              "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device,
              "parity_max_abs_diff_vs_cpu_fp32": parity(args.device), "xxlarge_b8_s512_forward": speed(args.device)}
    try:
        report["xxlarge_b8_s512_forward"].update(flax_speed(official_config("xxlarge")))
    except ImportError as exc:
        report["flax_speed"] = f"not run: {exc}"
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
