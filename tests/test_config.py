"""AlbertConfig against transformers' AlbertConfig, the original albert_config.json, and validation."""

import json

import pytest
import transformers

from albert_bridge.config import AlbertConfig
from albert_bridge.errors import BridgeError
from albert_bridge.schema import SCHEMA, HeadKind, expected_tensors, head_from_architecture
from albert_bridge.testing import tiny_config

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
    ({"num_hidden_layers": 0}, "positive"),
    ({"hidden_act": "sparkle"}, "unknown hidden_act"),
    ({"num_hidden_groups": 13}, "exceeds"),
    ({"position_embedding_type": "relative_key"}, "not supported"),
    ({"vocab_size": "many"}, "positive integer"),
    ({"model_type": "bert"}, "not 'albert'"),
])
def test_validation_errors(change, message):
    with pytest.raises(BridgeError, match=message):
        AlbertConfig.from_dict({**tiny_config().to_dict(), **change}, "cfg.json")


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
