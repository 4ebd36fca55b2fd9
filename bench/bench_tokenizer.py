"""Batch tokenization throughput: our AlbertTokenizer / AlbertTokenizerFast against transformers' slow and fast.

    python bench/bench_tokenizer.py [--sentences 20000] [--batch 256] [--repeat 5] [--model fixtures/tokenizer/spiece.model]

Every tokenizer encodes the same batches (padding=True, truncation to 128) in one process, side by side;
the best of --repeat runs is reported as sentences per second, with ratios against transformers' slow one.
The text is unique sentences cut from the fixture corpus (English with numbers), 10% of them with an
accented, quoted, numeric or CJK tail.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ.setdefault("USE_TF", "0")
os.environ.setdefault("USE_FLAX", "0")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """Unique sentences: random spans of the fixture corpus (tokenizers caches per word, as real text would
    let it, but repeating whole sentences would flatter any sentence-level cache), plus some accented,
    quoted, numeric and CJK lines."""
    rng = random.Random(seed)
    words = (ROOT / "fixtures" / "tokenizer" / "corpus.txt").read_text(encoding="utf-8").split()
    extra = [
        "Crème brûlée at the café in Zürich cost €12,90, ``not bad'' she said.",
        "The figures were 1,000, 2,500, and 3,14159, respectively.",
        "日本語の文と English words mixed together 👍",
        "  Leading spaces,\ttabs and\nnewlines   everywhere  ",
    ]
    out = []
    for _ in range(n):
        start = rng.randrange(len(words) - 30)
        sentence = " ".join(words[start : start + rng.randint(8, 30)])
        if rng.random() < 0.1:
            sentence += " " + rng.choice(extra)
        out.append(sentence)
    return out


def best_rates(fns: dict, batches, repeat: int) -> dict[str, float]:
    """Sentences/s per tokenizer, best of `repeat` rounds; each round runs every tokenizer once, so load
    from other processes on a shared machine hits them alike instead of whichever ran last."""
    n = sum(len(b) for b in batches)
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            for batch in batches:
                fn(batch)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: n / seconds for name, seconds in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--model", default=str(ROOT / "fixtures" / "tokenizer" / "spiece.model"))
    args = ap.parse_args()

    from albert_bridge.tokenization import AlbertTokenizer, AlbertTokenizerFast

    sentences = make_sentences(args.sentences)
    batches = [sentences[i : i + args.batch] for i in range(0, len(sentences), args.batch)]
    tokenizers = {"ours slow": AlbertTokenizer(args.model), "ours fast": AlbertTokenizerFast(args.model)}
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizers["transformers slow"] = transformers.AlbertTokenizer(args.model)
            tokenizers["transformers fast"] = transformers.AlbertTokenizerFast(vocab_file=args.model)
    except ImportError:
        print("transformers not installed: comparing our two tokenizers only")

    reference = {name: tok(sentences[:500])["input_ids"] for name, tok in tokenizers.items()}
    kwargs = {"padding": True, "truncation": True, "max_length": 128}
    rates = best_rates({name: (lambda b, t=tok: t(b, **kwargs)) for name, tok in tokenizers.items()}, batches, args.repeat)

    print(f"{len(sentences)} sentences, batches of {args.batch}, padding=True, max_length=128, "
          f"best of {args.repeat}, {os.cpu_count()} CPUs")
    base = rates.get("transformers slow", rates["ours slow"])
    for name, rate in rates.items():
        same = "ids == ours slow" if reference[name] == reference["ours slow"] else "ids differ from ours slow"
        print(f"  {name:18s} {rate:10.0f} sentences/s   x{rate / base:5.2f} vs transformers slow   ({same})")
    print(f"  ours fast / ours slow: x{rates['ours fast'] / rates['ours slow']:.2f}")
    if "transformers fast" in rates:
        print(f"  ours fast / transformers fast: x{rates['ours fast'] / rates['transformers fast']:.2f}")


if __name__ == "__main__":
    main()
