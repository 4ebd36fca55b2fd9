"""albert-bridge: every class of the ALBERT documentation, under transformers' names, imported lazily.

`import albert_bridge` loads no framework; touching `albert_bridge.AlbertModel` imports PyTorch,
`albert_bridge.TFAlbertModel` TensorFlow, `albert_bridge.FlaxAlbertModel` JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_TORCH = "albert_bridge.models.albert_torch"
_TF = "albert_bridge.models.albert_tf"
_FLAX = "albert_bridge.models.albert_flax"
_HEADS = ("Model", "ForPreTraining", "ForMaskedLM", "ForSequenceClassification", "ForMultipleChoice",
          "ForTokenClassification", "ForQuestionAnswering")

_EXPORTS: dict[str, str] = {
    "AlbertConfig": "albert_bridge.config",
    "AlbertTokenizer": "albert_bridge.tokenization",
    "AlbertTokenizerFast": "albert_bridge.tokenization",
    "AddedToken": "albert_bridge.tokenization",
    "Checkpoint": "albert_bridge.checkpoint",
    "HeadKind": "albert_bridge.schema",
    "AlbertPreTrainedModel": _TORCH,
    "AlbertForPreTrainingOutput": "albert_bridge.models.outputs",
    "TFAlbertPreTrainedModel": _TF,
    "TFAlbertForPreTrainingOutput": _TF,
    "FlaxAlbertPreTrainedModel": _FLAX,
    "SaveConfigCallback": "albert_bridge.models.trainer",  # imports transformers: for Trainer users
    **{f"Albert{h}": _TORCH for h in _HEADS},
    **{f"TFAlbert{h}": _TF for h in _HEADS},
    **{f"FlaxAlbert{h}": _FLAX for h in _HEADS},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'albert_bridge' has no attribute {name!r}")
    return getattr(importlib.import_module(module_name), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
