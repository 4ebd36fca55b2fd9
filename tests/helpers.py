"""What the tests share: paths, comparisons, input builders, tiny saved checkpoints, the CLI runner, fuzz helpers.

Tests import these from here, never from conftest.py (which holds only fixtures and hooks)."""

import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from albert_bridge.arrays import arrays_equal
from albert_bridge.cli import main
from albert_bridge.errors import BridgeError
from albert_bridge.formats import get_format
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "tiny-albert"  # the committed tiny checkpoint (safetensors + tokenizer)
ALL_HEADS = list(HeadKind)

# ---- comparisons ----------------------------------------------------------------------------------------------------

ATOL = 1e-5  # fp32 implementations of the tiny model against each other: outputs of magnitude up to ~10


def assert_close(got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], atol: float = ATOL, *,
                 scaled: bool = False, skip: Sequence[str] = (), atol_for: Mapping[str, float] | None = None) -> float:
    """Two sets of named outputs agree: the same names, and for each name not in `skip` the same shape and
    max |got - want| <= atol, computed in float64; no relative term (rtol is 0), and a NaN anywhere fails.

    `atol_for` gives some names their own atol. With `scaled`, each name's atol is multiplied by
    max(1, max |want|): an absolute tolerance for small outputs, a relative one for large. Returns the largest
    difference over the compared names (0.0 for none)."""
    assert sorted(got) == sorted(want), sorted(set(got) ^ set(want))
    worst = 0.0
    bad = {}
    for name in sorted(set(want) - set(skip)):
        a = np.asarray(got[name]).astype(np.float64)
        b = np.asarray(want[name]).astype(np.float64)
        assert a.shape == b.shape, (name, a.shape, b.shape)
        tolerance = (atol_for or {}).get(name, atol)
        if scaled:
            tolerance *= max(1.0, float(np.abs(b).max(initial=0)))
        diff = float(np.abs(a - b).max(initial=0))
        if not diff <= tolerance:  # NaN compares False: it fails
            bad[name] = (diff, tolerance)
        worst = max(worst, diff)
    assert not bad, {name: f"max |diff| {d:.3g} > {t:.3g}" for name, (d, t) in bad.items()}
    return worst


def assert_same_tensors(a, b) -> None:
    """Two checkpoints hold the same head and the same tensors, bit for bit (dtype, shape and bytes)."""
    assert a.head is b.head, (a.head, b.head)
    assert set(a.tensors) == set(b.tensors), sorted(set(a.tensors) ^ set(b.tensors))
    for key, tensor in a.tensors.items():
        assert arrays_equal(tensor.read(), b.tensors[key].read()), key


# ---- inputs and saved checkpoints -----------------------------------------------------------------------------------

def torch_inputs(arrays: Mapping[str, np.ndarray], dtype=None) -> dict:
    """NumPy inputs (make_inputs, make_labels) as PyTorch tensors, optionally cast (e.g. torch.long from int32)."""
    import torch  # only the tests that use PyTorch import it

    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}
    return {k: v.to(dtype) for k, v in tensors.items()} if dtype is not None else tensors


def save_checkpoint(directory: Path, head: HeadKind | str = HeadKind.PRETRAINING, seed: int = 0,
                    fmt: str = "safetensors", **options) -> Path:
    """A tiny random checkpoint (make_checkpoint; `options` other than max_shard_size go to it) written to
    `directory` by our `fmt` adapter; returns the directory."""
    shard = options.pop("max_shard_size", None)
    get_format(fmt).save(make_checkpoint(head, seed=seed, **options), directory, max_shard_size=shard)
    return Path(directory)


def flatten_tree(tree: dict, prefix: str = "") -> dict:
    """A nested dict (Flax params, a msgpack tree) as {"a/b/c": leaf}."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten_tree(value, f"{prefix}{key}/"))
        else:
            out[prefix + key] = value
    return out


def card_metadata(text: str) -> dict:
    """The YAML front matter of a model card."""
    import yaml  # PyYAML: installed with transformers (the test extra)

    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def leftovers(out: Path) -> list[str]:
    """What an interrupted or failed conversion to `out` left beside it: its hidden staging directories."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


# ---- the CLI --------------------------------------------------------------------------------------------------------


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run `albert-bridge ARGS` in-process: (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err: str, *needles: str) -> None:
    """The contract for bad input: exactly one line, `error: ...`, naming what the needles name."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


class Overrun(Exception):
    """A test step ran past its deadline (a hang, in a test about hostile input)."""


@contextmanager
def deadline(seconds: float):
    """Raise Overrun inside the block after `seconds` (main thread; Python code only, as any signal handler)."""
    def expire(signum, frame):
        raise Overrun(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def hostile_call(call: Callable[[], object], names: Sequence[str], seconds: float) -> tuple[str, str | None]:
    """One case of a fuzz test: ("loaded" | "refused" | "escaped", what went wrong or None). Bad input must end in
    a one-line BridgeError naming one of `names`; anything else, or a run past `seconds` (a hang), is wrong."""
    try:
        with deadline(seconds):
            call()
        return "loaded", None
    except BridgeError as exc:
        line = exc.one_line()
        if "\n" in line or not any(name in line for name in names):
            return "refused", f"error does not name {names[0]}: {line!r}"
        return "refused", None
    except Exception as exc:  # noqa: BLE001 - what fuzz tests are about (Overrun: a hang)
        return "escaped", f"{type(exc).__name__}: {str(exc)[:300]}"


def fuzz_file(file: Path, cases: int, seed: int, mutation: Callable, call: Callable[[], object], names: Sequence[str],
              seconds: float, label: str, record_property) -> None:
    """Write `cases` mutations of `file` (`mutation(case, rng, original)` -> (kind, bytes)), calling `call` after each,
    then restore it; fails with every case that escaped (hostile_call), by number and kind, for the seed to replay."""
    original = file.read_bytes()
    rng = np.random.default_rng(seed)
    outcomes = {"loaded": 0, "refused": 0, "escaped": 0}
    escaped: list[str] = []
    started = time.perf_counter()
    try:
        for case in range(cases):
            kind, data = mutation(case, rng, original)
            file.write_bytes(data)
            outcome, problem = hostile_call(call, names, seconds)
            outcomes[outcome] += 1
            if problem:
                escaped.append(f"case {case} ({kind}): {problem}")
    finally:
        file.write_bytes(original)
    took = time.perf_counter() - started
    record_property("fuzz", {"target": label, "cases": cases, "seconds": round(took, 2), **outcomes})
    print(f"{label}: {cases} cases in {took:.1f} s, {outcomes}, {len(escaped)} escaped")
    assert not escaped, "\n".join(escaped[:20])


def write_wordpiece_vocab(path: Path) -> Path:
    """A small BERT WordPiece vocab.txt shaped like the Chinese releases' (Google's albert_*_google_zh, 21128 lines):
    [PAD] and unused slots first, then [UNK] [CLS] [SEP] [MASK], punctuation, digits, Chinese characters with some
    `##` continuations, lowercase English words and pieces. 400 lines."""
    chinese = [chr(0x4E00 + i) for i in range(0, 400, 2)] + list("我爱北京天安门模型中文你好世界的是在很表现语言")
    english = ["the", "hello", "world", "albert", "model", "un", "##aff", "##able", "##s", "##ing", "##ed", "cafe",
               "naive", "bert", "go", "##od"]
    tokens = ["[PAD]", "[unused1]", "[unused2]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~",
              "，", "。", "！", "？", *"0123456789", *"abcdefghijklmnopqrstuvwxyz",
              *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"), *english,
              *(f"##{c}" for c in chinese[:40:3]), *chinese]
    tokens = list(dict.fromkeys(tokens))
    tokens += [f"[unused{i}]" for i in range(3, 3 + 400 - len(tokens))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return path
