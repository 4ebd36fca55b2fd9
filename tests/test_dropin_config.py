"""Drop-in for transformers 4 users, the config: transformers' own config objects build our models of every backend,
and AlbertConfig's PretrainedConfig API gives what transformers 4.57's gives for the same calls."""

import importlib

import numpy as np
import pytest
import transformers

from albert_bridge.config import AlbertConfig, ConfigError
from albert_bridge.errors import BridgeError
from albert_bridge.testing import TINY, tiny_config

BACKENDS = {"torch": ("torch", "albert_torch", ""), "tf": ("tensorflow", "albert_tf", "TF"),
            "flax": ("flax", "albert_flax", "Flax")}


def diff(config) -> dict:
    """to_diff_dict() as config.json holds it, without the writer's version."""
    out = config.to_diff_dict()
    out.pop("transformers_version", None)
    out["id2label"] = {str(k): v for k, v in out.get("id2label", {}).items()}
    if out.get("label2id", ()) is None:  # transformers leaves label2id None beside a given id2label
        out["label2id"] = {v: int(k) for k, v in out["id2label"].items()}
    return out


@pytest.mark.parametrize("backend", [pytest.param(name, marks=getattr(pytest.mark, name)) for name in BACKENDS])
def test_transformers_config_objects_build_our_models(backend, tmp_path):
    """transformers' AlbertConfig, and what AutoConfig reads, used to fail at the first forward
    ('AlbertConfig' object has no attribute 'group_of_layer'): converted once, at construction (the conversion is
    shared: CheckpointBridge wraps every model constructor)."""
    framework, module, prefix = BACKENDS[backend]
    pytest.importorskip(framework)
    cls = getattr(importlib.import_module(f"albert_bridge.models.{module}"), f"{prefix}AlbertForSequenceClassification")
    transformers.AlbertConfig(**TINY).save_pretrained(tmp_path)
    config = transformers.AutoConfig.from_pretrained(tmp_path)
    model = cls(config)  # Flax traces the whole forward pass here (its parameter shapes)
    assert isinstance(model.config, AlbertConfig) and diff(model.config) == diff(config)
    if backend != "flax":  # a compiled Flax call would add seconds and prove nothing more
        ids = np.array([[5, 6, 7, 8]])
        if backend == "torch":
            ids = importlib.import_module("torch").from_numpy(ids)
        else:
            model.compile_inference = False
        assert tuple(model(ids).logits.shape) == (1, 3)
    with pytest.raises(BridgeError, match="model_type is 'bert'"):
        cls(transformers.BertConfig())
    with pytest.raises(TypeError, match="config must be an AlbertConfig"):
        cls(42)


CALLS = {  # the same constructor calls on both classes give the same config.json
    "tiny": dict(TINY),
    "labels-by-name": dict(TINY, num_labels=None, id2label={"0": "neg", "1": "pos"}),
    "num-labels": dict(TINY, num_labels=5),
    "outputs-and-problem": dict(TINY, output_hidden_states=True, output_attentions=True,
                                problem_type="multi_label_classification"),
    "torch_dtype-alias": dict(TINY, torch_dtype="float16"),
    "unknown-key-kept": dict(TINY, my_field=[1, 2]),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_config_dicts_equal_transformers(call):
    ours, theirs = AlbertConfig(**CALLS[call]), transformers.AlbertConfig(**CALLS[call])
    assert diff(ours) == diff(theirs)
    for name in ("num_labels", "use_return_dict", "is_encoder_decoder", "output_attentions", "output_hidden_states",
                 "problem_type", "id2label", "tie_word_embeddings", "pruned_heads"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.dtype == (None if theirs.dtype is None else str(theirs.dtype).removeprefix("torch."))
    assert ours.get_text_config() is ours and theirs.get_text_config() is theirs
    assert ours == AlbertConfig.from_dict(ours.to_dict())


def test_from_dict_and_from_pretrained_return_unused_kwargs(tmp_path):
    tiny_config().save_pretrained(tmp_path)
    for cls in (AlbertConfig, transformers.AlbertConfig):
        data = cls.from_pretrained(tmp_path).to_dict()
        for config, unused in (cls.from_dict(data, return_unused_kwargs=True, foo=1, hidden_size=64, num_labels=4),
                               cls.from_pretrained(tmp_path, return_unused_kwargs=True, foo=1, hidden_size=64,
                                                   num_labels=4, cache_dir=None)):
            assert unused == {"foo": 1}, cls
            assert (config.hidden_size, config.num_labels, len(config.label2id)) == (64, 4, 4), cls
        assert not isinstance(cls.from_dict(data, foo=1), tuple)
    ours = AlbertConfig.from_pretrained(tmp_path, attn_implementation="eager")
    theirs = transformers.AlbertConfig.from_pretrained(tmp_path, attn_implementation="eager")
    assert ours._attn_implementation == theirs._attn_implementation == "eager"


def test_update_labels_and_eq_as_transformers():
    ours, theirs = AlbertConfig(**TINY), transformers.AlbertConfig(**TINY)
    for config in (ours, theirs):
        config.update({"hidden_dropout_prob": 0.25, "num_labels": 4})
        config.num_labels = 2
        config.problem_type = "regression"
        config.finetuning_task = "sst2"
        config.new_field = "kept"
    assert diff(ours) == diff(theirs)
    assert ours.label2id == {"LABEL_0": 0, "LABEL_1": 1} and ours != AlbertConfig(**TINY)
    ours.id2label = {0: "no", 1: "yes", 2: "maybe"}  # label2id follows (transformers leaves it stale)
    assert ours.num_labels == 3 and ours.label2id == {"no": 0, "yes": 1, "maybe": 2}


def test_every_change_is_validated_and_undone_if_invalid():
    config = tiny_config()
    before = config.to_dict()
    for change in ({"hidden_size": 30}, {"problem_type": "ranking"}, {"vocab_size": 0}, {"id2label": 5},
                   {"_attn_implementation": "flash_attention_2"}):
        with pytest.raises(ConfigError) as info:
            if len(change) == 1 and "_attn" not in next(iter(change)):
                setattr(config, *next(iter(change.items())))
            else:
                config.update(change)
        assert isinstance(info.value, ValueError)  # transformers raises ValueError for bad values
        assert config.to_dict() == before
    with pytest.raises(ConfigError, match="hidden_size 30 is not divisible"):
        config.update({"hidden_size": 30, "num_labels": 7})  # one change: nothing of it is applied
    assert config.to_dict() == before
    config.update({"hidden_size": 36, "num_attention_heads": 6})  # valid together, though not one by one
    assert (config.hidden_size, config.num_attention_heads) == (36, 6)
    with pytest.raises(ValueError, match="problem_type"):
        transformers.AlbertConfig(problem_type="ranking")
