"""ONNX Runtime on our export vs on transformers' model exported by torch.onnx.export vs transformers' PyTorch eager,
one run, same weights and inputs (ALBERT-base masked LM, random weights), CPU.

    python bench/bench_onnx.py [--size base] [--batch 8] [--seq 128] [--repeat 10] [--opset 17]

Prints ms per batch (median of --repeat round-robin runs after a warm-up) with ratios, twice: on all cores by the
wall clock, and on one thread by that thread's CPU time (steady on a shared machine, where other processes take
cores from the first); file sizes; the max logits difference of each run against transformers' PyTorch; and the op
types of each graph before and after ONNX Runtime's optimizer (SessionOptions.optimized_model_filepath), i.e. which
fusions fired.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("USE_TF", "0")  # transformers would import TensorFlow and JAX too
os.environ.setdefault("USE_FLAX", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(runs: dict, repeat: int, clock=time.perf_counter) -> dict[str, tuple[float, float]]:
    """(median, best) seconds per call of each function, called in turn (round robin), so that load from other
    processes on a shared machine falls on all of them alike."""
    for fn in runs.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: (float(np.median(t)), min(t)) for name, t in times.items()}


def op_counts(path: Path) -> collections.Counter:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return collections.Counter(f"{n.domain}.{n.op_type}" if n.domain else n.op_type for n in model.graph.node)


def optimized_ops(path: Path, tmp: Path) -> collections.Counter:
    """The op types left after ONNX Runtime's default (ORT_ENABLE_ALL) optimizations on the CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the "hardware specific optimizations" warning is expected here
    options.optimized_model_filepath = str(tmp / f"{path.parent.name}.optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return op_counts(Path(options.optimized_model_filepath))


def file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.name))


def export_transformers(model, inputs: dict[str, np.ndarray], path: Path, opset: int) -> None:
    import torch

    names = list(inputs)
    dynamic = {name: {0: "batch_size", 1: "sequence_length"} for name in names}
    dynamic["logits"] = {0: "batch_size", 1: "sequence_length"}
    args = tuple(torch.from_numpy(inputs[name]) for name in names)
    kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    with torch.no_grad():
        torch.onnx.export(model, args, str(path), input_names=names, output_names=["logits"], dynamic_axes=dynamic,
                          opset_version=opset, do_constant_folding=True, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="base", choices=("base", "large", "xlarge", "xxlarge"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--transformers-optimizer", action="store_true",
                        help="also time both files after onnxruntime.transformers.optimizer (model_type bert)")
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    import transformers

    from albert_bridge.export.onnx import export
    from albert_bridge.export.onnx_runtime import session
    from albert_bridge.formats import get_format
    from albert_bridge.schema import HeadKind
    from albert_bridge.testing import make_checkpoint, make_inputs, official_config

    head = HeadKind.MASKED_LM
    ckpt = make_checkpoint(head, seed=0, config=official_config(args.size))
    inputs = make_inputs(head, batch=args.batch, seq_len=args.seq, vocab_size=ckpt.config.vocab_size)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ours = tmp / "ours" / "model.onnx"
        ours.parent.mkdir()
        start = time.perf_counter()
        export(ckpt, ours, opset=args.opset)
        export_seconds = time.perf_counter() - start

        get_format("safetensors").save(ckpt, tmp / "hf")
        reference = transformers.AlbertForMaskedLM.from_pretrained(tmp / "hf").eval()
        theirs = tmp / "transformers" / "model.onnx"
        theirs.parent.mkdir()
        start = time.perf_counter()
        export_transformers(reference, inputs, theirs, args.opset)
        torch_export_seconds = time.perf_counter() - start

        models = {"ORT, our export": ours, "ORT, transformers via torch.onnx.export": theirs}
        if args.transformers_optimizer:  # ORT's offline fusions (Attention, SkipLayerNorm, ...) for BERT-like graphs
            from onnxruntime.transformers import optimizer

            c = ckpt.config
            for name, path in list(models.items()):
                optimized = path.with_name("model.bert-optimized.onnx")
                optimizer.optimize_model(str(path), model_type="bert", num_heads=c.num_attention_heads,
                                         hidden_size=c.hidden_size, opt_level=0).save_model_to_file(str(optimized))
                models[f"{name} + transformers.optimizer"] = optimized

        torch_inputs = {k: torch.from_numpy(v) for k, v in inputs.items()}

        def eager():
            with torch.inference_mode():
                return reference(**torch_inputs).logits.numpy()

        def runs(threads: int | None) -> dict:
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = options.inter_op_num_threads = threads
            out = {}
            for name, path in models.items():
                sess = session(path, options=options)
                out[name] = lambda sess=sess: sess.run(["logits"], inputs)[0]
            out["transformers PyTorch eager"] = eager
            return out

        expected = eager()
        diffs = {name: float(np.max(np.abs(run() - expected))) for name, run in runs(None).items()}
        results = {"all cores, wall clock": timed(runs(None), args.repeat)}
        default_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        # One thread, timed by that thread's CPU time: what the graph costs, whatever else runs on the machine.
        results["one thread, its CPU time"] = timed(runs(1), args.repeat, time.thread_time)
        torch.set_num_threads(default_threads)

        c = ckpt.config
        print(f"ALBERT-{args.size} masked LM (H{c.hidden_size} L{c.num_hidden_layers} A{c.num_attention_heads} "
              f"I{c.intermediate_size} V{c.vocab_size}), batch {args.batch} x seq {args.seq} (one padded sequence), "
              f"{os.cpu_count()} CPU cores, median of {args.repeat} round-robin runs")
        print(f"onnxruntime {ort.__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
              f"attention {reference.config._attn_implementation}, opset {args.opset}")
        width = max(map(len, diffs))
        for title, timings in results.items():
            ref, ref_best = timings["ORT, our export"]
            print(f"\n  {title:{width}s} {'median ms':>10s} {'vs ours':>8s} {'best ms':>8s} {'vs ours':>8s} "
                  f"{'max |logits - eager|':>21s}")
            for name, (median, best) in timings.items():
                print(f"  {name:{width}s} {median * 1000:10.1f} {median / ref:7.2f}x {best * 1000:8.1f} "
                      f"{best / ref_best:7.2f}x {diffs[name]:21.2e}")

        weights = ckpt.nbytes()
        print(f"\n  weights {weights:,} bytes; export: ours {export_seconds:.1f} s, torch.onnx.export "
              f"{torch_export_seconds:.1f} s")
        for name, path in (("our model.onnx", ours), ("transformers' model.onnx", theirs)):
            size = file_size(path)
            print(f"  {name:28s} {size:13,} bytes  ({size / weights - 1:+.2%} vs the weights)")

        for name, path in (("ours", ours), ("transformers'", theirs)):
            before, after = op_counts(path), optimized_ops(path, tmp)
            print(f"\n  {name} graph: {sum(before.values())} nodes -> {sum(after.values())} after ORT's optimizer")
            print("    before: " + ", ".join(f"{op} {n}" for op, n in before.most_common()))
            print("    after:  " + ", ".join(f"{op} {n}" for op, n in after.most_common()))
            fused = sorted(set(after) - set(before))
            print("    fused ops: " + (", ".join(f"{op} x{after[op]}" for op in fused) or "none"))


if __name__ == "__main__":
    main()
