"""Every Keras private API the TF2 model uses, in one place (tested one by one in tests/test_keras_compat.py).

Keras 3 has no public way to (a) create a model's variables from a checkpoint without first filling them with random
values, (b) put a variable of a new shape in a layer's place (resize_token_embeddings). These wrappers do both with
Keras internals; a Keras release that renames one fails here, with one message naming the symbol, not deep inside
a model load.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable

import keras

# (where, name, what we use it for): each is checked by `missing()` and by the wrapper that uses it.
PRIVATE_SYMBOLS: tuple[tuple[str, str, str], ...] = (
    ("keras.layers.Layer", "_untrack_variable", "replacing a layer's variable with one of a new shape"),
    ("keras.Variable", "_initialize_with_initializer", "creating a declared variable from a checkpoint's array"),
    ("keras.Variable", "_deferred_initialize", "creating a declared variable the checkpoint lacks"),
    ("keras.Variable", "_value", "telling a declared variable (value None) from a created one"),
    ("keras.Variable", "_initializer", "telling a declared variable from a created one"),
    ("keras.src.backend.common.global_state", "get_global_attribute",
     "dropping declared variables from Keras' global list once created"),
)


class KerasCompatError(RuntimeError):
    """A Keras private API that albert_bridge's TF models use is gone or changed."""

    def __init__(self, where: str, name: str, used_for: str):
        super().__init__(f"Keras {keras.__version__} has no {where}.{name}, which albert_bridge's TF models use for "
                         f"{used_for} (albert_bridge/models/keras_compat.py): use the Keras version albert_bridge "
                         "supports, or update that module")


def _owner(where: str) -> Any:
    """The module or class `where` names."""
    try:
        return importlib.import_module(where)
    except ImportError:
        module, _, attr = where.rpartition(".")
        return getattr(importlib.import_module(module), attr)


def _instance_attrs(where: str) -> set[str]:
    """Attributes a keras.Variable instance sets in __init__ (not visible on the class)."""
    return {"_value", "_initializer"} if where == "keras.Variable" else set()


def missing() -> list[str]:
    """The private symbols this Keras lacks (class attributes are looked up on the class; instance attributes
    `_value` and `_initializer` on a variable made in a stateless scope)."""
    gone = []
    for where, name, _ in PRIVATE_SYMBOLS:
        try:
            owner = _owner(where)
        except (ImportError, AttributeError):
            gone.append(f"{where}.{name}")
            continue
        if name in _instance_attrs(where):
            with keras.StatelessScope(initialize_variables=False):
                probe = keras.Variable(keras.initializers.Zeros(), shape=(1,), dtype="float32")
            if not hasattr(probe, name):
                gone.append(f"{where}.{name}")
            forget_declared([probe])
        elif not hasattr(owner, name):
            gone.append(f"{where}.{name}")
    return gone


def _method(obj: Any, where: str, name: str) -> Callable[..., Any]:
    method = getattr(obj, name, None)
    if method is None:
        raise KerasCompatError(where, name, next(u for w, n, u in PRIVATE_SYMBOLS if (w, n) == (where, name)))
    return method


def untrack_variable(layer: keras.layers.Layer, variable: Any) -> None:
    """Stop `layer` tracking `variable` (before another is set in its place)."""
    _method(layer, "keras.layers.Layer", "_untrack_variable")(variable)


def is_declared(variable: Any) -> bool:
    """A variable declared in a stateless scope whose value does not exist yet (Keras 3 defers it)."""
    return getattr(variable, "_value", True) is None and getattr(variable, "_initializer", None) is not None


def initialize_declared(variable: Any, value: Any) -> None:
    """Create a declared variable with `value` as its initial value (no random initialisation first)."""
    _method(variable, "keras.Variable", "_initialize_with_initializer")(lambda shape, dtype=None: value)


def initialize_deferred(variable: Any) -> None:
    """Create a declared variable from its own initializer."""
    _method(variable, "keras.Variable", "_deferred_initialize")()


def forget_declared(variables: Iterable[Any]) -> None:
    """Drop these variables from Keras' global list of deferred ones (it would keep the model alive)."""
    try:
        from keras.src.backend.common import global_state
    except ImportError:
        raise KerasCompatError(*PRIVATE_SYMBOLS[-1]) from None
    get = _method(global_state, "keras.src.backend.common.global_state", "get_global_attribute")
    pending = get("uninitialized_variables")
    if pending:
        ids = {id(v) for v in variables}
        pending[:] = [v for v in pending if id(v) not in ids]
