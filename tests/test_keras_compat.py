"""Each Keras private API the TF2 model uses (albert_bridge/models/keras_compat.py) exists and behaves as used: a Keras
upgrade that breaks one fails here, by name."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tf

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from albert_bridge.models import keras_compat  # noqa: E402
from albert_bridge.models.keras_compat import PRIVATE_SYMBOLS, KerasCompatError  # noqa: E402


def _declared(initializer="zeros", shape=(3,)):
    with keras.StatelessScope(initialize_variables=False):
        return keras.Variable(initializer, shape=shape, dtype="float32")


def _pending() -> list:
    from keras.src.backend.common import global_state

    return global_state.get_global_attribute("uninitialized_variables") or []


@pytest.mark.parametrize("where, name", [(w, n) for w, n, _ in PRIVATE_SYMBOLS], ids=lambda x: str(x))
def test_private_symbol_exists(where, name):
    assert f"{where}.{name}" not in keras_compat.missing()


def test_untrack_variable_lets_a_new_variable_take_the_old_ones_place():
    class Layer(keras.layers.Layer):  # variables made in __init__, as the model's layers make them
        def __init__(self):
            super().__init__()
            self.kernel = self.add_weight(shape=(3, 2), initializer="zeros", name="kernel")
            self.bias = self.add_weight(shape=(2,), initializer="zeros", name="bias")
            self.built = True

    layer = Layer()
    old = layer.bias
    keras_compat.untrack_variable(layer, old)
    layer.bias = keras.Variable(np.ones(5, np.float32), name="bias")  # another shape, as resize_token_embeddings
    assert sorted(tuple(v.shape) for v in layer.weights) == [(3, 2), (5,)]
    assert all(v is not old for v in layer.weights)


def test_a_declared_variable_is_told_from_a_created_one():  # Variable._value and Variable._initializer
    declared = _declared()
    assert keras_compat.is_declared(declared)
    assert not keras_compat.is_declared(keras.Variable(np.zeros(3, np.float32)))
    keras_compat.forget_declared([declared])


def test_initialize_declared_creates_the_variable_from_the_value():  # Variable._initialize_with_initializer
    variable = _declared()
    keras_compat.initialize_declared(variable, np.array([1.0, 2.0, 3.0], np.float32))
    assert not keras_compat.is_declared(variable)
    np.testing.assert_array_equal(variable.numpy(), [1.0, 2.0, 3.0])
    keras_compat.forget_declared([variable])


def test_initialize_deferred_uses_the_variables_own_initializer():  # Variable._deferred_initialize
    variable = _declared("ones")
    keras_compat.initialize_deferred(variable)
    assert not keras_compat.is_declared(variable)
    np.testing.assert_array_equal(variable.numpy(), [1.0, 1.0, 1.0])
    keras_compat.forget_declared([variable])


def test_forget_declared_drops_them_from_keras_global_list():  # global_state.get_global_attribute
    variable = _declared()
    assert any(v is variable for v in _pending())
    keras_compat.forget_declared([variable])
    assert not any(v is variable for v in _pending())


def test_a_missing_symbol_is_one_clear_error():
    class NotALayer:
        pass

    with pytest.raises(KerasCompatError, match=r"no keras\.layers\.Layer\._untrack_variable, .*keras_compat\.py"):
        keras_compat.untrack_variable(NotALayer(), None)
