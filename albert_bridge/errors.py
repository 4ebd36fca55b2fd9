"""Errors that reach users as one line: which file, which tensor, what is wrong."""

from __future__ import annotations


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
