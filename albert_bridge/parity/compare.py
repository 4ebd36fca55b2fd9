"""Comparing two runs' outputs: the tolerance rule, per-output comparisons, the first layer that diverges.

An output passes when max|a - b| <= atol + rtol * max|a| (a: the reference run). The relative part is taken
against the output's largest magnitude, not element by element: logits near zero would otherwise turn rounding
noise into huge relative errors, and an output of larger values earns a proportionally larger allowance.

With the agreement metric (reduced-precision tiers: int8, float16), a logits output passes when its top-1 agreement
with the reference is at least `min_agreement`, any other output when its mean cosine similarity is; outputs a tier
does not have (hidden states) are left out (a missing logits output still fails). Every comparison carries the
agreement numbers, whichever metric decides.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..config import AlbertConfig
from ..deploy.agreement import Rows, agreement

# (atol, rtol) by compute dtype. fp32 implementations differ by rounding only: measured on the tiny test configs
# (H = 32, I = 40, L = 5) at most 1.2e-5 on MLM logits up to ~10 between TF and PyTorch, a few 1e-6 elsewhere.
# bfloat16 keeps 8 bits of mantissa and float16 11: runs in those dtypes differ from each other (and from fp32) by
# up to 4.8% and 0.8% of an output's largest value, on the tiny and on the base size alike.
BASE_TOLERANCE = {"float32": (1e-5, 1e-5), "bfloat16": (2e-2, 5e-2), "float16": (5e-3, 1e-2)}
_TINY_WORK = 40 * 5  # I * L of the tiny config


def default_tolerance(dtype: str, config: AlbertConfig | None = None) -> tuple[float, float]:
    """(atol, rtol) for a compute dtype and model size.

    In fp32 the rounding errors of two independent implementations grow like the square root of the number of
    terms summed into an output, so the tolerance grows with sqrt(I * L / (I * L of the tiny config)), never below
    the tiny one (base size: x 13.6, measured differences there 3.1e-5 against an allowance of 1.4e-4 + 1.4e-4 *
    max|a|; xxlarge: x 31.4). In bfloat16 and float16 the representation's own rounding dominates and does not grow
    with size (measured), so those stay as they are."""
    atol, rtol = BASE_TOLERANCE[dtype]
    if dtype != "float32" or config is None:
        return atol, rtol
    scale = max(1.0, math.sqrt(config.intermediate_size * config.num_hidden_layers / _TINY_WORK))
    return atol * scale, rtol * scale


@dataclass
class Comparison:
    a: str                     # reference run (label)
    b: str                     # compared run (label)
    output: str                # e.g. logits, pooler_output, hidden_states.3
    max_abs_diff: float | None
    max_rel_diff: float | None  # max|a - b| / max|a|
    passed: bool
    note: str | None = None    # why there is no number (missing output, shape mismatch)
    top1_agreement: float | None = None  # logits: share of positions with the reference's argmax
    top5_agreement: float | None = None  # logits: share of positions whose reference argmax is in the run's top 5
    cosine: float | None = None          # mean cosine similarity over the last axis (attended tokens)


METRICS = ("tolerance", "agreement")


_HIDDEN = re.compile(r"hidden_states\.(\d+)\Z")


class _Output:
    """One run's output as the comparisons read it, each derived value computed once (a reference is compared with
    every other run)."""

    def __init__(self, values: np.ndarray, mask: np.ndarray | None):
        self.values, self.mask = np.asarray(values, np.float64), mask

    @cached_property
    def finite(self) -> bool:
        return bool(np.isfinite(self.values).all())

    @cached_property
    def scale(self) -> float:
        """max|x| over its numbers (0 when it has none)."""
        if self.finite:
            return float(np.abs(self.values).max()) if self.values.size else 0.0
        return float(np.nanmax(np.abs(self.values))) if not np.isnan(self.values).all() else 0.0

    @cached_property
    def rows(self) -> Rows:
        return Rows(self.values, self.mask)


def compare_outputs(a_label: str, a: dict[str, np.ndarray], b_label: str, b: dict[str, np.ndarray],
                    atol: float, rtol: float, *, metric: str = "tolerance", min_agreement: float = 0.97,
                    mask: np.ndarray | None = None, cache: dict | None = None,
                    hidden_states: bool = True) -> list[Comparison]:
    """One comparison per output either run has, in the reference's order (then the other's extras). `mask`
    (the inputs' attention_mask) limits agreement and cosine of per-token outputs to attended tokens. `cache`: a
    dict kept by the caller for as long as `a` is the same run, so `a`'s derived values are computed once.
    `hidden_states=False`: a run gives no hidden states by design (a TFLite file), so they are compared where both
    have them and not missed."""
    cache = {} if cache is None else cache
    out = []
    for name in [*a, *(n for n in b if n not in a)]:
        if name not in a or name not in b:
            where = b_label if name not in b else a_label
            if metric == "agreement" and not name.endswith("logits"):  # a tier has its head's outputs only
                continue
            if not hidden_states and _HIDDEN.match(name):
                continue
            out.append(Comparison(a_label, b_label, name, None, None, False, f"missing in {where}"))
            continue
        x = cache.get(name)
        if x is None:
            x = cache[name] = _Output(a[name], mask)
        y = _Output(b[name], mask)
        if x.values.shape != y.values.shape:
            out.append(Comparison(a_label, b_label, name, None, None, False,
                                  f"shape {list(y.values.shape)} vs {list(x.values.shape)}"))
            continue
        c = _compare(a_label, b_label, name, x, y, atol, rtol)
        if x.finite and y.finite and x.values.size:
            numbers = agreement(name, x.rows, y.rows)
            c.cosine, c.top1_agreement = numbers["cosine"], numbers.get("top1_agreement")
            c.top5_agreement = numbers.get("top5_agreement")
        if metric == "agreement":
            score = c.top1_agreement if c.top1_agreement is not None else c.cosine
            c.passed = score is not None and score >= min_agreement
        out.append(c)
    return out


def _compare(a_label: str, b_label: str, name: str, a: _Output, b: _Output, atol: float,
             rtol: float) -> Comparison:
    x, y = a.values, b.values
    if x.size == 0:
        return Comparison(a_label, b_label, name, 0.0, 0.0, True)
    if a.finite and b.finite:
        worst = float(np.abs(x - y).max())
    else:
        both_nan = np.isnan(x) & np.isnan(y)
        diff = np.where(both_nan, 0.0, np.abs(x - y))
        worst = float(np.where(np.isnan(diff), np.inf, diff).max())  # NaN on one side only: as far off as can be
    scale = a.scale
    relative = worst / scale if scale > 0 else (0.0 if worst == 0 else math.inf)
    passed = bool(worst <= atol + rtol * scale)
    return Comparison(a_label, b_label, name, worst, relative, passed)


def first_divergent_layer(comparisons: list[Comparison]) -> int | str | None:
    """The 0-based encoder layer whose output (hidden state i+1) first fails, "embeddings" when hidden state 0
    (the embeddings after the E->H projection) already fails, "head" when every hidden state passes but the pooler
    or a head output does not, None when nothing fails (or no number could be had)."""
    failing = [c for c in comparisons if not c.passed and c.max_abs_diff is not None]
    if not failing:
        return None
    layers = [int(m.group(1)) for c in failing if (m := _HIDDEN.match(c.output))]
    if layers:
        first = min(layers)
        return "embeddings" if first == 0 else first - 1
    return "head"  # the encoder agrees: the pooler or the head's own layers differ
