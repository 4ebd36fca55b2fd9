"""Config bounds at their boundaries: the last valid value passes, the first invalid one is refused naming it."""

import pytest

from albert_bridge.errors import BridgeError
from albert_bridge.config import MAX_LAYERS, MAX_SIZE, AlbertConfig, ConfigError
from albert_bridge.testing import tiny_config


def _config(**change) -> AlbertConfig:
    return AlbertConfig.from_dict({**tiny_config().to_dict(), **change}, "cfg.json")


@pytest.mark.parametrize("groups, inner", [(1, 1024), (2, 512), (4, 256), (1024, 1)])
def test_the_distinct_layer_bound_admits_exactly_1024(groups, inner):
    config = _config(num_hidden_layers=max(groups, 5), num_hidden_groups=groups, inner_group_num=inner)
    assert config.num_hidden_groups * config.inner_group_num == MAX_LAYERS == 1024


@pytest.mark.parametrize("groups, inner", [(1, 1025), (2, 513), (4, 257), (3, 342)])
def test_the_distinct_layer_bound_refuses_1025_and_over(groups, inner):
    assert groups * inner > 1024
    with pytest.raises(ConfigError, match=rf"inner_group_num {inner} exceeds 1024 distinct layers over {groups} "
                                          r"groups"):
        _config(num_hidden_layers=max(groups, 5), num_hidden_groups=groups, inner_group_num=inner)


def test_layer_and_group_counts_at_their_bounds():
    assert _config(num_hidden_layers=1024, num_hidden_groups=1, inner_group_num=1).num_hidden_layers == 1024
    with pytest.raises(ConfigError, match="num_hidden_layers 1025 exceeds 1024"):
        _config(num_hidden_layers=1025, num_hidden_groups=1, inner_group_num=1)
    assert _config(num_hidden_layers=5, num_hidden_groups=5, inner_group_num=1).num_hidden_groups == 5
    with pytest.raises(ConfigError, match=r"num_hidden_groups 6 exceeds num_hidden_layers \(5\)"):
        _config(num_hidden_layers=5, num_hidden_groups=6, inner_group_num=1)
    for name in ("num_hidden_groups", "inner_group_num", "num_hidden_layers"):
        with pytest.raises(ConfigError, match=f"{name} must be a positive integer, got 0"):
            _config(**{name: 0})


@pytest.mark.parametrize("name", ["vocab_size", "embedding_size", "intermediate_size", "max_position_embeddings",
                                  "type_vocab_size"])
def test_every_size_admits_2_to_the_20_and_refuses_one_more(name):
    assert getattr(_config(**{name: MAX_SIZE}), name) == MAX_SIZE == 2 ** 20
    with pytest.raises(ConfigError, match=f"{name} {MAX_SIZE + 1} exceeds {MAX_SIZE}"):
        _config(**{name: MAX_SIZE + 1})
    with pytest.raises(ConfigError, match=f"{name} must be a positive integer, got -1"):
        _config(**{name: -1})
    with pytest.raises(ConfigError, match=f"{name} must be a positive integer, got 2.0"):
        _config(**{name: 2.0})


def test_sizes_of_one_are_valid():
    config = _config(vocab_size=1, embedding_size=1, hidden_size=1, num_attention_heads=1, intermediate_size=1,
                     max_position_embeddings=1, type_vocab_size=1, pad_token_id=0, id2label={"0": "only"})
    assert (config.vocab_size, config.hidden_size, config.num_labels) == (1, 1, 1)
    with pytest.raises(BridgeError, match="num_labels must be a positive integer, got 0"):
        _config(num_labels=0)


def test_initializer_range_zero_is_valid_and_below_zero_is_not():
    assert _config(initializer_range=0).initializer_range == 0
    assert _config(initializer_range=0.0).initializer_range == 0.0
    for bad in (-1e-9, "0.02", None, float("nan")):
        with pytest.raises(ConfigError, match="initializer_range must be a non-negative number"):
            _config(initializer_range=bad)


def test_probabilities_admit_0_and_1_exactly():
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob"):
        for edge in (0, 1, 0.0, 1.0):
            assert getattr(_config(**{name: edge}), name) == edge
        for bad in (-1e-9, 1 + 1e-9):
            with pytest.raises(ConfigError, match=f"{name} must be a probability in"):
                _config(**{name: bad})
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        with pytest.raises(ConfigError, match=f"{name} must be a probability"):
            _config(**{name: None})  # only classifier_dropout_prob may be None (it then follows hidden_dropout_prob)


def test_layer_norm_eps_any_positive_value():
    assert _config(layer_norm_eps=1e-300).layer_norm_eps == 1e-300
    for bad in (0, 0.0, -1e-12, "1e-12", None):
        with pytest.raises(ConfigError, match="layer_norm_eps must be a positive number"):
            _config(layer_norm_eps=bad)


def test_pad_token_id_must_lie_inside_the_vocabulary():
    assert _config(vocab_size=99, pad_token_id=98).pad_token_id == 98
    assert _config(vocab_size=99, pad_token_id=0).pad_token_id == 0
    for bad in (99, -1, 1.0, "0"):
        with pytest.raises(ConfigError, match="pad_token_id must be a token id below vocab_size 99"):
            _config(vocab_size=99, pad_token_id=bad)


def test_heads_must_divide_the_hidden_size():
    assert _config(hidden_size=32, num_attention_heads=32).num_attention_heads == 32
    with pytest.raises(ConfigError, match="hidden_size 32 is not divisible by num_attention_heads 3"):
        _config(hidden_size=32, num_attention_heads=3)
    with pytest.raises(ConfigError, match="hidden_size 32 is not divisible by num_attention_heads 33"):
        _config(hidden_size=32, num_attention_heads=33)


def test_other_fields_refused_with_their_names():
    refusals = [({"problem_type": "ranking"}, "problem_type 'ranking' is not one of regression"),
                ({"pruned_heads": []}, "pruned_heads must map layer indices"),
                ({"eos_token_id": 1.5}, "eos_token_id must be an integer"),
                ({"architectures": "AlbertModel"}, "architectures must be a list")]
    for change, message in refusals:
        with pytest.raises(ConfigError, match=message):
            _config(**change)
    accepted = _config(problem_type="regression", architectures=None, bos_token_id=None, eos_token_id=3,
                       pruned_heads={"1": [0]}, dtype="float16")
    assert accepted.pruned_heads == {1: [0]} and accepted.dtype == "float16" and accepted.eos_token_id == 3


def test_a_refused_change_leaves_the_config_as_it_was():
    config = tiny_config()
    before = config.to_dict()
    with pytest.raises(ConfigError, match="inner_group_num 513 exceeds 1024 distinct layers over 2 groups"):
        config.update({"num_hidden_groups": 2, "inner_group_num": 513})
    assert config.to_dict() == before
    config.update({"num_hidden_groups": 2, "inner_group_num": 512})
    assert config.inner_group_num == 512
    with pytest.raises(ConfigError, match="initializer_range"):
        config.initializer_range = -0.5
    assert config.initializer_range == before["initializer_range"]
    config.initializer_range = 0
    assert config.initializer_range == 0
