"""The original google-research ALBERT forward pass, transcribed to NumPy (float64) from its TF1 code.

Reads the original tensor names directly and shares nothing with albert_bridge: it is the independent reference the
converted models are held to. Sources, function by function:
- modeling.py `embedding_lookup` / `embedding_postprocessor`: word + token type + position embeddings, then
  `layer_norm` (contrib layer_norm over the last axis, variance epsilon 1e-12); dropout is off at inference.
- `transformer_model`: `embedding_hidden_mapping_in` only when E != H; layer i runs
  `group_{int(i / num_hidden_layers * num_hidden_groups)}` with all of its inner groups in order.
- `attention_ffn_block`: attention_1 (self: query/key/value dense_layer_3d, scores / sqrt(head size),
  adder `(1 - mask) * -10000.0`, softmax; output: dense_layer_3d_proj), residual + `LayerNorm`; ffn_1 (intermediate
  dense with the activation, output dense), residual + `LayerNorm_1`.
- `gelu` is the tanh approximation; `get_activation` also knows relu, tanh, linear.
- pooler: `bert/pooler/dense` + tanh on token 0.
- run_pretraining.py: `cls/predictions` transform (dense to E, activation, LayerNorm), logits against the word
  embeddings (transpose_b) + output_bias; `cls/seq_relationship` output_weights [2, H] with transpose_b.
- classifier_utils.py / race_utils.py: top-level output_weights [C, H] (transpose_b) on the pooled output; RACE
  reshapes [batch * choices, T] inputs and its [.., 1] logits to [batch, choices].
- squad_utils.py (v1): `cls/squad/output_weights` [2, H] on every token; column 0 start, column 1 end.
"""

from __future__ import annotations

import math

import numpy as np


def gelu(x: np.ndarray) -> np.ndarray:
    return x * 0.5 * (1.0 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * np.power(x, 3))))


ACTIVATIONS = {"gelu": gelu, "relu": lambda x: np.maximum(x, 0), "tanh": np.tanh, "linear": lambda x: x}


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-12) * gamma + beta


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class OriginalAlbert:
    """`tensors`: original names (a `module/` prefix is dropped) -> arrays; `config`: the albert_config.json dict."""

    def __init__(self, tensors: dict[str, np.ndarray], config: dict):
        self.w = {name.removeprefix("module/"): np.asarray(v, np.float64) for name, v in tensors.items()
                  if np.asarray(v).dtype.kind == "f"}
        self.c = config
        self.act = ACTIVATIONS[config["hidden_act"]]

    def dense(self, x: np.ndarray, scope: str) -> np.ndarray:
        return x @ self.w[f"{scope}/kernel"] + self.w[f"{scope}/bias"]

    def norm(self, x: np.ndarray, scope: str) -> np.ndarray:
        return layer_norm(x, self.w[f"{scope}/gamma"], self.w[f"{scope}/beta"])

    # --- modeling.py ------------------------------------------------------------------------------------------
    def embeddings(self, input_ids: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
        seq = input_ids.shape[-1]
        x = self.w["bert/embeddings/word_embeddings"][input_ids]
        x = x + self.w["bert/embeddings/token_type_embeddings"][token_type_ids]
        x = x + self.w["bert/embeddings/position_embeddings"][:seq][None]
        return self.norm(x, "bert/embeddings/LayerNorm")

    def attention(self, x: np.ndarray, mask: np.ndarray, scope: str) -> np.ndarray:
        b, t, h = x.shape
        heads = self.c["num_attention_heads"]
        d = h // heads

        def split(y):  # dense_layer_3d: [B, T, H] -> [B, heads, T, d]
            return y.reshape(b, t, heads, d).transpose(0, 2, 1, 3)

        q = split(self.dense(x, f"{scope}/self/query"))
        k = split(self.dense(x, f"{scope}/self/key"))
        v = split(self.dense(x, f"{scope}/self/value"))
        logits = q @ k.transpose(0, 1, 3, 2) * (1.0 / math.sqrt(float(d)))
        logits = logits + (1.0 - mask[:, None, None, :].astype(np.float64)) * -10000.0
        context = (softmax(logits) @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
        return self.dense(context, f"{scope}/output/dense")  # dense_layer_3d_proj

    def block(self, x: np.ndarray, mask: np.ndarray, scope: str) -> np.ndarray:
        attention = self.norm(self.attention(x, mask, f"{scope}/attention_1") + x, f"{scope}/LayerNorm")
        hidden = self.act(self.dense(attention, f"{scope}/ffn_1/intermediate/dense"))
        ffn = self.dense(hidden, f"{scope}/ffn_1/intermediate/output/dense")
        return self.norm(ffn + attention, f"{scope}/LayerNorm_1")

    def encode(self, input_ids, token_type_ids, input_mask) -> tuple[np.ndarray, list[np.ndarray]]:
        """Sequence output and the per-layer outputs (one per layer, the last inner group's)."""
        x = self.embeddings(input_ids, token_type_ids)
        if self.c["embedding_size"] != self.c["hidden_size"]:
            x = self.dense(x, "bert/encoder/embedding_hidden_mapping_in")
        layers, groups = self.c["num_hidden_layers"], self.c["num_hidden_groups"]
        outputs = []
        for layer_idx in range(layers):
            group_idx = int(layer_idx / layers * groups)
            for inner in range(self.c["inner_group_num"]):
                x = self.block(x, input_mask, f"bert/encoder/transformer/group_{group_idx}/inner_group_{inner}")
            outputs.append(x)
        return x, outputs

    def pooled(self, sequence_output: np.ndarray) -> np.ndarray:
        return np.tanh(self.dense(sequence_output[:, 0], "bert/pooler/dense"))

    # --- heads --------------------------------------------------------------------------------------------------
    def mlm_logits(self, sequence_output: np.ndarray) -> np.ndarray:
        x = self.act(self.dense(sequence_output, "cls/predictions/transform/dense"))
        x = self.norm(x, "cls/predictions/transform/LayerNorm")
        return x @ self.w["bert/embeddings/word_embeddings"].T + self.w["cls/predictions/output_bias"]

    def transposed_b(self, x: np.ndarray, scope: str) -> np.ndarray:
        return x @ self.w[f"{scope}output_weights"].T + self.w[f"{scope}output_bias"]

    def sop_logits(self, pooled: np.ndarray) -> np.ndarray:
        return self.transposed_b(pooled, "cls/seq_relationship/")

    def classifier_logits(self, pooled: np.ndarray) -> np.ndarray:
        return self.transposed_b(pooled, "")

    def race_logits(self, input_ids, token_type_ids, input_mask) -> np.ndarray:
        batch, choices, seq = input_ids.shape
        flat = [a.reshape(batch * choices, seq) for a in (input_ids, token_type_ids, input_mask)]
        pooled = self.pooled(self.encode(*flat)[0])
        return self.transposed_b(pooled, "").reshape(batch, choices)

    def squad_logits(self, sequence_output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = self.transposed_b(sequence_output, "cls/squad/")
        return logits[..., 0], logits[..., 1]


def sample_inputs(config: dict, batch: int = 2, seq: int = 9, seed: int = 0):
    """input_ids, token_type_ids, input_mask (the second row padded) for a config."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(5, config["vocab_size"], (batch, seq))
    input_ids[:, 0] = 2  # [CLS]
    token_type_ids = np.zeros((batch, seq), np.int64)
    token_type_ids[:, seq // 2:] = 1
    input_mask = np.ones((batch, seq), np.int64)
    input_mask[-1, seq - 3:] = 0
    input_ids[-1, seq - 3:] = 0
    return input_ids, token_type_ids, input_mask
