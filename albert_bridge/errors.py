"""Errors that reach users as one line: which file, which tensor, what is wrong."""

from __future__ import annotations

import difflib
from typing import Iterable


class BridgeError(Exception):
    """Invalid input or refused output (CLI exit code 3)."""

    exit_code = 3

    def __init__(self, message: str, *, file: object = None, tensor: str | None = None):
        self.message = message
        self.file = None if file is None else str(file)
        self.tensor = tensor
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.file, self.tensor and f"tensor {self.tensor!r}") if p]
        return ": ".join([*parts, self.message])


class NotFound(BridgeError, OSError):
    """Nothing to read where a checkpoint or tokenizer was asked for (a missing path, an empty directory, one holding
    no such files): the OSError transformers' from_pretrained raises, so `except OSError:` code keeps working."""


class ConfigMissing(NotFound):
    """A checkpoint without its config beside it. The message ends with how to pass one: the CLI's `--config` unless
    the caller names its own way (`from_pretrained`'s `config=`, through `with_remedy`)."""

    def __init__(self, message: str, *, file: object = None, remedy: str = "pass one with --config"):
        self.what, self.remedy = message, remedy
        super().__init__(f"{message} ({remedy})", file=file)

    def with_remedy(self, remedy: str) -> "ConfigMissing":
        return ConfigMissing(self.what, file=self.file, remedy=remedy)


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """" (did you mean X?)" naming the closest known spelling of a mistyped name, or "" when none is close."""
    close = difflib.get_close_matches(str(value).lower(), list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def truncated(file: object, size: int, needed: int | None = None, tensor: str | None = None) -> BridgeError:
    """Every format's one wording for a file cut short: what is wrong, the sizes, what to do."""
    sizes = f"{size} bytes, {needed} needed" if needed is not None else f"{size} bytes, its end is missing"
    return BridgeError(f"file is truncated: {sizes} (download or convert it again)", file=file, tensor=tensor)


class ParityError(BridgeError):
    """Outputs of two backends or files disagree beyond tolerance (CLI exit code 1)."""

    exit_code = 1


class ShapeMismatch(BridgeError, ValueError, RuntimeError):
    """A checkpoint tensor whose shape differs from the model's: transformers raises ValueError (TF, Flax) or
    RuntimeError (PyTorch) for it, so code catching either keeps working."""


class NotYetSupported(BridgeError):
    """A format or feature that a later release brings; says so instead of failing obscurely."""


class Terminated(SystemExit):
    """SIGTERM during a conversion, raised once its clean-up is done; exits as a shell reports it (128 + 15)."""
