"""AlbertConfig against transformers' AlbertConfig, the original albert_config.json, and validation."""

import json

import pytest
import transformers

from albert_bridge.config import AlbertConfig
from albert_bridge.errors import BridgeError
from albert_bridge.schema import SCHEMA, HeadKind, expected_tensors, head_from_architecture
from albert_bridge.testing import tiny_config
from tests.helpers import deadline

ORIGINAL = {  # albert_base_v2/albert_config.json as released
    "attention_probs_dropout_prob": 0, "hidden_act": "gelu", "hidden_dropout_prob": 0, "embedding_size": 128,
    "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 512,
    "num_attention_heads": 12, "num_hidden_layers": 12, "num_hidden_groups": 1, "net_structure_type": 0,
    "gap_size": 0, "num_memory_blocks": 0, "inner_group_num": 1, "down_scale_factor": 1, "type_vocab_size": 2,
    "vocab_size": 30000,
}


def test_defaults_equal_transformers():
    ours = AlbertConfig().to_dict()
    theirs = json.loads(transformers.AlbertConfig().to_json_string())
    for key, value in ours.items():
        if key in theirs:
            assert theirs[key] == value, key


def test_hf_config_json_round_trip_keeps_unknown_keys(tmp_path):
    theirs = transformers.AlbertConfig(**tiny_config().to_dict(), my_custom_field=[1, 2])
    theirs.save_pretrained(tmp_path)
    ours = AlbertConfig.from_pretrained(tmp_path)
    assert ours.my_custom_field == [1, 2] and ours.hidden_size == 32
    ours.save_pretrained(tmp_path / "again")
    data = json.loads((tmp_path / "again" / "config.json").read_text())
    assert data["my_custom_field"] == [1, 2] and data["model_type"] == "albert"
    back = transformers.AlbertConfig.from_pretrained(tmp_path / "again")
    assert back.to_diff_dict().get("my_custom_field") == [1, 2]
    for key in ("hidden_size", "embedding_size", "num_hidden_groups", "inner_group_num", "hidden_act"):
        assert getattr(back, key) == getattr(theirs, key)


def test_labels_round_trip():
    config = AlbertConfig(id2label={"0": "neg", "1": "pos", "2": "neutral"})
    assert config.num_labels == 3 and config.label2id == {"neg": 0, "pos": 1, "neutral": 2}
    again = AlbertConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again.id2label == {0: "neg", 1: "pos", 2: "neutral"}
    config.num_labels = 5
    assert list(config.id2label) == [0, 1, 2, 3, 4]


def test_original_config_maps_gelu_to_gelu_new(tmp_path):
    (tmp_path / "albert_config.json").write_text(json.dumps(ORIGINAL))
    config = AlbertConfig.from_pretrained(tmp_path)
    assert config.hidden_act == "gelu_new"
    assert config.net_structure_type == 0  # original-only keys are kept
    assert config.to_original_dict()["hidden_act"] == "gelu"
    relu = AlbertConfig.from_original_dict({**ORIGINAL, "hidden_act": "relu"})
    assert relu.hidden_act == "relu" and relu.to_original_dict()["hidden_act"] == "relu"


@pytest.mark.parametrize("change, message", [
    ({"hidden_size": 30}, "divisible"),
    ({"num_hidden_layers": 0}, "num_hidden_layers must be a positive integer"),
    ({"hidden_act": "sparkle"}, "unknown hidden_act"),
    ({"hidden_act": ["gelu"]}, "unknown hidden_act"),
    ({"num_hidden_groups": 13}, "num_hidden_groups 13 exceeds num_hidden_layers"),
    ({"position_embedding_type": "relative_key"}, "not supported"),
    ({"vocab_size": "many"}, "vocab_size must be a positive integer"),
    ({"model_type": "bert"}, "not 'albert'"),
    # Found by fuzzing: each hung, loaded without complaint, or escaped as another exception.
    ({"inner_group_num": 10**12}, "inner_group_num 1000000000000 exceeds"),
    ({"num_hidden_layers": 10**12}, "num_hidden_layers 1000000000000 exceeds 1024"),
    ({"hidden_size": 2**40, "num_attention_heads": 1}, "hidden_size 1099511627776 exceeds"),
    ({"num_labels": 10**12}, "num_labels 1000000000000 exceeds"),
    ({"hidden_dropout_prob": -1}, r"hidden_dropout_prob must be a probability in \[0, 1\], got -1"),
    ({"attention_probs_dropout_prob": 10**12}, "attention_probs_dropout_prob must be a probability"),
    ({"classifier_dropout_prob": float("nan")}, "classifier_dropout_prob must be a probability"),
    ({"hidden_dropout_prob": True}, "hidden_dropout_prob must be a probability"),
    ({"layer_norm_eps": -1}, "layer_norm_eps must be a positive number no larger than 1, got -1"),
    ({"layer_norm_eps": 10**20}, "layer_norm_eps must be a positive number no larger than 1, got 1000"),
    ({"layer_norm_eps": 0}, "layer_norm_eps must be a positive number"),
    ({"initializer_range": float("inf")}, "initializer_range must be a non-negative number"),
    ({"architectures": 5}, "architectures must be a list of class names, got 5"),
    ({"architectures": ["AlbertModel", 5]}, "architectures must be a list of class names"),
    ({"pad_token_id": 99}, "pad_token_id must be a token id below vocab_size 99"),
    ({"bos_token_id": "two"}, "bos_token_id must be an integer"),
    ({"id2label": 5}, "id2label must map"),
    ({"id2label": {"zero": "a"}}, "id2label has a label id that is not an integer: 'zero'"),
    ({"id2label": {"0": ["a"]}}, "id2label must map"),
    ({"label2id": {"a": float("inf")}, "id2label": {"0": "a"}}, "label2id has a label id that is not an integer"),
    ({"to_dict": 1}, "key 'to_dict' is not a config field"),
    ({"_extra": {}}, "key '_extra' is not a config field"),
])
def test_validation_errors(change, message):
    with pytest.raises(BridgeError, match=message) as info:
        AlbertConfig.from_dict({**tiny_config().to_dict(), **change}, "cfg.json")
    assert str(info.value).startswith("cfg.json: ") and "\n" not in str(info.value)


def test_valid_edge_values_are_accepted():
    config = AlbertConfig.from_dict({**tiny_config().to_dict(), "classifier_dropout_prob": None,
                                     "hidden_dropout_prob": 1, "pad_token_id": None, "_name_or_path": "x"})
    assert config.classifier_dropout_prob is None and config._name_or_path == "x"


def test_every_change_is_validated(tmp_path):
    tiny_config().save_pretrained(tmp_path)
    with pytest.raises(BridgeError, match="layer_norm_eps"):
        AlbertConfig.from_pretrained(tmp_path, layer_norm_eps=-1.0)
    with pytest.raises(BridgeError, match="inner_group_num"):
        tiny_config().updated(inner_group_num=10**9)
    config = tiny_config()
    with pytest.raises(BridgeError, match="num_labels"):
        config.num_labels = 10**12
    assert AlbertConfig.from_pretrained(tmp_path, num_labels=4).num_labels == 4


def test_a_hostile_config_json_is_refused_at_once(tmp_path):
    """inner_group_num 10**12 used to hang: the expected-tensor table was enumerated before the config was bounded."""
    from albert_bridge.formats import get_format, load
    from albert_bridge.testing import make_checkpoint

    get_format("safetensors").save(make_checkpoint(HeadKind.BASE), tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    for change in ({"inner_group_num": 10**12}, {"num_hidden_layers": 10**12}, {"num_labels": 10**12},
                   {"id2label": None, "num_labels": 10**12}):
        (tmp_path / "config.json").write_text(json.dumps({**data, **change}))
        with deadline(5), pytest.raises(BridgeError, match=str(tmp_path / "config.json")):
            load(tmp_path).problems()


def test_schema_shapes_follow_the_config():
    config = tiny_config()
    expected = expected_tensors(config, HeadKind.PRETRAINING)
    assert expected["embeddings.word"].shape == (99, 24)
    assert expected["encoder.projection.kernel"].shape == (24, 32)
    assert expected["encoder.group.1.inner.1.ffn.intermediate.kernel"].shape == (32, 40)
    assert expected["head.mlm.transform.kernel"].shape == (32, 24)
    assert "encoder.group.2.inner.0.ffn.output.bias" not in expected
    per_layer = sum(1 for spec in SCHEMA if spec.layer)
    assert sum(1 for k in expected if k.startswith("encoder.group.")) == per_layer * 2 * 2
    assert expected_tensors(config, HeadKind.MULTIPLE_CHOICE)["head.classifier.kernel"].shape == (32, 1)
    assert "pooler.kernel" not in expected_tensors(config, HeadKind.TOKEN_CLASSIFICATION)


def test_architecture_names():
    assert head_from_architecture("TFAlbertForMaskedLM") is HeadKind.MASKED_LM
    assert head_from_architecture("FlaxAlbertModel") is HeadKind.BASE
    assert head_from_architecture("BertModel") is None
