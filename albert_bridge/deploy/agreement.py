"""Agreement between a reduced-precision run and its fp32 reference: the question for int8 and fp16 copies is not
"within 1e-5" but "does it pick the same token / label".

- top-k agreement of a logits output: the share of positions (every row over the last axis; for per-token outputs
  only the attended tokens when a mask is given) where the reference's top-1 id is among the run's top k (fewer
  than k of the run's values larger than the one at that id);
- cosine: the mean over rows of the cosine similarity of the last axis (hidden states, pooled output, logits too).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np

from ..checkpoint import Checkpoint
from ..errors import ParityError
from ..inputs import validation_inputs
from ..numpy_forward import forward


def is_logits(name: str) -> bool:
    """Outputs compared by agreement (argmax over the last axis): the heads' logits."""
    return name.endswith("logits")


class Rows:
    """One output as agreement reads it: float64 [rows, last axis], only the attended tokens' rows when it is per
    token ([*mask.shape, n]); what is derived from it is computed once (a reference is compared with many runs)."""

    def __init__(self, x: np.ndarray, mask: np.ndarray | None = None):
        x = np.asarray(x, np.float64)
        x = x.reshape(1, -1) if x.ndim < 2 else x
        rows = x.reshape(-1, x.shape[-1])
        if mask is not None and x.shape[:-1] == np.asarray(mask).shape:
            rows = rows[np.asarray(mask).astype(bool).reshape(-1)]
        self.values = rows

    @cached_property
    def argmax(self) -> np.ndarray:
        return np.argmax(self.values, axis=-1)

    @cached_property
    def norms(self) -> np.ndarray:
        return np.linalg.norm(self.values, axis=-1)

    def rank(self, columns: np.ndarray) -> np.ndarray:
        """For each row, how many of its values are larger than the one in `columns` (0: it is the largest)."""
        chosen = np.take_along_axis(self.values, columns[:, None], axis=-1)
        return (self.values > chosen).sum(axis=-1)


def _as_rows(x: np.ndarray | Rows, mask: np.ndarray | None) -> Rows:
    return x if isinstance(x, Rows) else Rows(x, mask)


def top_k_agreement(reference: np.ndarray | Rows, other: np.ndarray | Rows, k: int = 1,
                    mask: np.ndarray | None = None) -> float:
    """Share of rows where the reference's argmax is among `other`'s k largest (k=1: the same argmax). An output
    of shape [batch, seq] (QA start/end logits) is ranked over the sequence axis."""
    return _top_k(_as_rows(reference, mask), _as_rows(other, mask), (k,))[0]


def _top_k(a: Rows, b: Rows, ks: tuple[int, ...]) -> list[float]:
    """top_k_agreement for each k, from one ranking (ties with the reference's pick count for it)."""
    if a.values.shape[-1] == 1 or not a.values.shape[0]:  # one column: nothing to rank; no rows: nothing differs
        return [1.0] * len(ks)
    rank = b.rank(a.argmax)
    return [float((rank < k).mean()) for k in ks]


def cosine(reference: np.ndarray | Rows, other: np.ndarray | Rows, mask: np.ndarray | None = None) -> float:
    """Mean cosine similarity of the rows (last axis, attended tokens only); two zero vectors count as 1."""
    a, b = _as_rows(reference, mask), _as_rows(other, mask)
    norms = a.norms * b.norms
    zero = norms == 0
    value = np.where(zero, 1.0, (a.values * b.values).sum(-1) / np.where(zero, 1.0, norms))
    return float(np.mean(value)) if value.size else 1.0


def agreement(name: str, reference: np.ndarray | Rows, other: np.ndarray | Rows,
              mask: np.ndarray | None = None) -> dict[str, float]:
    """{top1_agreement, top5_agreement (logits only), cosine} of one output (arrays, or Rows made with `mask`)."""
    a, b = _as_rows(reference, mask), _as_rows(other, mask)
    out = {"cosine": cosine(a, b)}
    if is_logits(name):
        out["top1_agreement"], out["top5_agreement"] = _top_k(a, b, (1, 5))
    return out


def run_agreement(file: Path, ckpt: Checkpoint, runner: Callable[[Path, dict], dict]) -> dict[str, float]:
    """{output.top1_agreement, output.cosine, ...} of a tier file (`runner(file, inputs)` runs it) against the NumPy
    reference forward on random validation inputs; ParityError when an output is not finite (a broken conversion,
    not a lossy one)."""
    inputs = validation_inputs(ckpt)
    got = runner(file, inputs)
    want = forward(ckpt, inputs)
    out: dict[str, float] = {}
    for name, value in got.items():
        if not np.all(np.isfinite(value)):
            raise ParityError(f"output {name!r} holds NaN or Inf", file=file)
        for metric, number in agreement(name, want[name], value, inputs["attention_mask"]).items():
            out[f"{name}.{metric}"] = number
    return out
