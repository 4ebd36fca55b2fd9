"""transformers' Trainer with our PyTorch classes: a callback that writes config.json beside each checkpoint.

Trainer saves a model that is not transformers' own as its state dict alone (`model.safetensors`, or
`pytorch_model.bin` with `save_safetensors=False`), without config.json; `from_pretrained` then needs `config=`.
`SaveConfigCallback` writes the model's config.json into every `checkpoint-N` folder Trainer saves, so each one
loads with a plain `from_pretrained(folder)`. Imports transformers (which Trainer users have) at its top: reached
only through `albert_bridge.SaveConfigCallback`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from ..formats.hf_layout import write_config
from .bridge import CheckpointBridge

CHECKPOINT_PREFIX = "checkpoint"  # Trainer's folder name for a save at step N: checkpoint-N


class SaveConfigCallback(TrainerCallback):
    """`Trainer(..., callbacks=[SaveConfigCallback()])`: config.json (with `architectures`, as save_pretrained
    writes it) in each checkpoint folder, written right after Trainer saved the weights there."""

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        model = getattr(model, "_orig_mod", model)  # torch.compile's wrapper
        if isinstance(model, CheckpointBridge):  # PEFT models are saved by PEFT, with adapter_config.json
            write_config(model.config, model.head, Path(args.output_dir) / f"{CHECKPOINT_PREFIX}-{state.global_step}")
