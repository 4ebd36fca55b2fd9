"""Agreement between a reduced-precision run and its fp32 reference: the question for int8 and fp16 copies is not
"within 1e-5" but "does it pick the same token / label".

- top-k agreement of a logits output: the share of positions (every row over the last axis; for per-token outputs
  only the attended tokens when a mask is given) where the reference's top-1 id is among the run's top k;
- cosine: the mean over rows of the cosine similarity of the last axis (hidden states, pooled output, logits too).
"""

from __future__ import annotations

import numpy as np


def is_logits(name: str) -> bool:
    """Outputs compared by agreement (argmax over the last axis): the heads' logits."""
    return name.endswith("logits")


def _rows(x: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """x as [rows, last axis], and which rows count: the attended tokens when x is per token ([*mask.shape, n])."""
    x = np.asarray(x, np.float64)
    x = x.reshape(1, -1) if x.ndim < 2 else x
    keep = None
    if mask is not None and x.shape[:-1] == np.asarray(mask).shape:
        keep = np.asarray(mask).astype(bool).reshape(-1)
    return x.reshape(-1, x.shape[-1]), keep


def top_k_agreement(reference: np.ndarray, other: np.ndarray, k: int = 1, mask: np.ndarray | None = None) -> float:
    """Share of rows where the reference's argmax is among `other`'s k largest (k=1: the same argmax). An output
    of shape [batch, seq] (QA start/end logits) is ranked over the sequence axis."""
    (a, keep), (b, _) = _rows(reference, mask), _rows(other, mask)
    if a.shape[-1] == 1:  # one column: nothing to rank
        return 1.0
    k = min(k, b.shape[-1])
    top = np.argpartition(-b, k - 1, axis=-1)[:, :k]
    hits = (top == np.argmax(a, axis=-1)[:, None]).any(axis=-1)
    hits = hits[keep] if keep is not None else hits
    return float(hits.mean()) if hits.size else 1.0


def cosine(reference: np.ndarray, other: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean cosine similarity of the rows (last axis, attended tokens only); two zero vectors count as 1."""
    (a, keep), (b, _) = _rows(reference, mask), _rows(other, mask)
    if keep is not None:
        a, b = a[keep], b[keep]
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    zero = norms == 0
    value = np.where(zero, 1.0, (a * b).sum(-1) / np.where(zero, 1.0, norms))
    return float(np.mean(value)) if value.size else 1.0


def agreement(name: str, reference: np.ndarray, other: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """{top1_agreement, top5_agreement (logits only), cosine} of one output."""
    out = {"cosine": cosine(reference, other, mask)}
    if is_logits(name):
        out["top1_agreement"] = top_k_agreement(reference, other, 1, mask)
        out["top5_agreement"] = top_k_agreement(reference, other, 5, mask)
    return out
