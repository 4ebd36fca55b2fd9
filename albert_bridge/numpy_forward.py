"""ALBERT's inference forward pass in NumPy: a framework-free reference for every head.

It computes what `albert_bridge.models.albert_torch` computes in eval mode (no dropout, no head mask), by default in
float64 so that it is a reference for float32 backends rather than one more float32 run, and names its outputs as
`albert_bridge.inputs.flatten_outputs` names a model output (`logits`, `prediction_logits`, `hidden_states.0`, ...).

Choices that must match the PyTorch model:
- padded keys get the compute dtype's minimum added to their scores (transformers' PyTorch does the same; the
  original code's -10000 gives the same probabilities unless a sequence has no attended key at all, where the
  minimum gives uniform attention);
- a checkpoint without the E->H projection (the original code's E == H models) runs none;
- multiple choice flattens [batch, choices, seq] to [batch * choices, seq], so its hidden states are
  [batch * choices, seq, H] as in transformers.
"""

from __future__ import annotations

import math

import numpy as np

from .checkpoint import Checkpoint
from .schema import HeadKind

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _erf(x: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erf
    except ImportError:  # scipy is optional: math.erf, element by element (slow, but exact)
        return np.vectorize(math.erf, otypes=[x.dtype])(x)
    return erf(x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    # x * x * x, not x**3: numpy's float power is a pow() per element (5 s of a base-size forward).
    return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * (x * x * x))))


ACTIVATIONS = {
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    # The three tanh approximations are one formula (transformers writes each slightly differently).
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": lambda x: 0.5 * x * (1.0 + np.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
    "relu": lambda x: np.maximum(x, 0),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "tanh": np.tanh,
}


class _Weights:
    """Each canonical tensor read once and cast to the compute dtype (shared layers are read once, used often)."""

    def __init__(self, ckpt: Checkpoint, dtype: np.dtype):
        self.ckpt, self.dtype, self.cache = ckpt, dtype, {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.cache:
            # C order: a kernel read transposed (a view) would send every matmul down numpy's slow non-BLAS loop.
            self.cache[key] = np.asarray(self.ckpt.tensors[key].read()).astype(self.dtype, order="C")
        return self.cache[key]

    def __contains__(self, key: str) -> bool:
        return key in self.ckpt.tensors

    def dense(self, x: np.ndarray, name: str) -> np.ndarray:
        # One 2-D GEMM over all tokens (a stacked 3-D @ 2-D matmul is slower in numpy).
        out = x.reshape(-1, x.shape[-1]) @ self[f"{name}.kernel"] + self[f"{name}.bias"]
        return out.reshape(*x.shape[:-1], out.shape[-1])

    def norm(self, x: np.ndarray, name: str, eps: float) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * self[f"{name}.gamma"] + self[f"{name}.beta"]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def forward(ckpt: Checkpoint, inputs: dict[str, np.ndarray], output_hidden_states: bool = True,
            dtype: np.dtype | str = np.float64, mlm_norm_eps: float | None = None) -> dict[str, np.ndarray]:
    """The head's outputs for `input_ids` (+ optional `attention_mask`, `token_type_ids`), in `dtype`.
    `mlm_norm_eps`: the MLM head's LayerNorm eps when it is not `layer_norm_eps` (keras-hub's is 1e-5)."""
    c, head = ckpt.config, ckpt.head
    dtype = np.dtype(dtype)
    w = _Weights(ckpt, dtype)
    act = ACTIVATIONS[c.hidden_act]
    eps = c.layer_norm_eps
    ids = np.asarray(inputs["input_ids"])
    mask, types = inputs.get("attention_mask"), inputs.get("token_type_ids")
    num_choices = None
    if head is HeadKind.MULTIPLE_CHOICE:  # [batch, choices, seq] -> [batch * choices, seq]
        num_choices = ids.shape[1]
        ids, mask, types = (None if a is None else np.asarray(a).reshape(-1, a.shape[-1]) for a in (ids, mask, types))
    seq = ids.shape[1]
    types = np.zeros_like(ids) if types is None else np.asarray(types)

    x = w["embeddings.word"][ids] + w["embeddings.token_type"][types] + w["embeddings.position"][:seq]
    x = w.norm(x, "embeddings.norm", eps)
    if "encoder.projection.kernel" in w:
        x = w.dense(x, "encoder.projection")
    hidden = [x]

    additive = None
    if mask is not None and not np.all(mask != 0):  # all attended: no mask, as the PyTorch model does
        keep = (np.asarray(mask) != 0).astype(dtype)[:, None, None, :]
        additive = (1.0 - keep) * np.finfo(dtype).min
    heads, size = c.num_attention_heads, c.hidden_size // c.num_attention_heads

    def split(t: np.ndarray) -> np.ndarray:  # [B, S, H] -> [B, A, S, D]
        return np.ascontiguousarray(t.reshape(t.shape[0], seq, heads, size).transpose(0, 2, 1, 3))

    for i in range(c.num_hidden_layers):
        g = c.group_of_layer(i)
        for k in range(c.inner_group_num):
            p = f"encoder.group.{g}.inner.{k}."
            q, key, v = (split(w.dense(x, p + f"attention.{n}")) for n in ("query", "key", "value"))
            scores = q @ key.transpose(0, 1, 3, 2) / math.sqrt(size)
            if additive is not None:
                scores = scores + additive
            context = (_softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(x.shape)
            x = w.norm(x + w.dense(context, p + "attention.output"), p + "attention.norm", eps)
            ffn = w.dense(act(w.dense(x, p + "ffn.intermediate")), p + "ffn.output")
            x = w.norm(ffn + x, p + "ffn.norm", eps)
        hidden.append(x)

    pooled = np.tanh(w.dense(x[:, 0], "pooler")) if "pooler.kernel" in w else None

    def mlm() -> np.ndarray:
        t = w.norm(act(w.dense(x, "head.mlm.transform")), "head.mlm.norm", eps if mlm_norm_eps is None else mlm_norm_eps)
        rows = t.reshape(-1, t.shape[-1]) @ w["embeddings.word"].T + w["head.mlm.output_bias"]
        return rows.reshape(*t.shape[:-1], -1)  # decoder tied to the word embeddings

    if head is HeadKind.BASE:
        out = {"last_hidden_state": x, "pooler_output": pooled}
    elif head is HeadKind.PRETRAINING:
        out = {"prediction_logits": mlm(), "sop_logits": w.dense(pooled, "head.sop")}
    elif head is HeadKind.MASKED_LM:
        out = {"logits": mlm()}
    elif head is HeadKind.SEQUENCE_CLASSIFICATION:
        out = {"logits": w.dense(pooled, "head.classifier")}
    elif head is HeadKind.MULTIPLE_CHOICE:
        out = {"logits": w.dense(pooled, "head.classifier").reshape(-1, num_choices)}
    elif head is HeadKind.TOKEN_CLASSIFICATION:
        out = {"logits": w.dense(x, "head.classifier")}
    else:
        logits = w.dense(x, "head.qa")
        out = {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
    if output_hidden_states:
        out.update({f"hidden_states.{i}": h for i, h in enumerate(hidden)})
    return out
