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


# --- the rest of the config's promises, each pinned (found by mutation testing: tools/mutation.py) -------------------
def test_keys_transformers_writes_and_older_names():
    config = AlbertConfig(**{**tiny_config().to_dict(), "transformers_version": "4.57.0", "torch_dtype": "float16",
                             "_attn_implementation": "eager"})
    assert config.dtype == "float16" and config.torch_dtype == "float16" and config._attn_implementation == "eager"
    assert "transformers_version" not in config.to_dict() and "torch_dtype" not in config.to_dict()
    assert "_attn_implementation" not in config.to_dict() and "attn_implementation" not in config.to_dict()
    assert AlbertConfig(torch_dtype="bfloat16", dtype="float32").dtype == "float32"  # dtype wins
    assert AlbertConfig(attn_implementation="sdpa", _attn_implementation="eager")._attn_implementation == "sdpa"
    np = pytest.importorskip("numpy")
    config.dtype = np.dtype("float32")
    assert config.dtype == "float32" and isinstance(config.dtype, str)
    config.torch_dtype = None
    assert config.dtype is None
    config, unused = AlbertConfig.from_dict(tiny_config().to_dict(), return_unused_kwargs=True,
                                            torch_dtype="bfloat16", attn_implementation="eager", other=1)
    assert (config.dtype, config._attn_implementation, unused) == ("bfloat16", "eager", {"other": 1})
    with pytest.raises(ConfigError, match="cfg.json: invalid config: attn_implementation 'flash' is not supported"):
        AlbertConfig.from_dict(tiny_config().to_dict(), "cfg.json", attn_implementation="flash")
    with pytest.raises(ConfigError, match="cfg.json: invalid config: layer_norm_eps"):
        AlbertConfig.from_dict(tiny_config().to_dict(), "cfg.json", layer_norm_eps=0)


def test_labels_given_three_ways():
    with pytest.warns(UserWarning, match="num_labels=5 disagrees with the 2 labels of id2label: id2label is kept"):
        config = AlbertConfig(num_labels=5, id2label={0: "a", 1: "b"})
    assert config.num_labels == 2
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert AlbertConfig(num_labels=2, id2label={0: "a", 1: "b"}).num_labels == 2  # agreeing: no warning
    kept = AlbertConfig(id2label={0: "a", 1: "b"}, label2id={"A": 0, "B": 1})  # names exactly these ids: kept
    assert kept.label2id == {"A": 0, "B": 1}
    for stale in ({"a": 0}, {"a": 0, "b": 5}):  # too few, or other ids: made the inverse of id2label
        assert AlbertConfig(id2label={0: "a", 1: "b"}, label2id=stale).label2id == {"a": 0, "b": 1}
    assert AlbertConfig(num_labels=3, label2id={"x": 0, "y": 1, "z": 2}).label2id == {"x": 0, "y": 1, "z": 2}
    assert AlbertConfig().id2label == {0: "LABEL_0", 1: "LABEL_1"}
    with pytest.raises(ValueError, match="label2id must be a mapping"):
        AlbertConfig(id2label={0: "a"}, label2id=[("a", 0)])
    assert AlbertConfig(id2label={i: str(i) for i in range(MAX_SIZE)}).num_labels == MAX_SIZE
    config = tiny_config().updated(num_labels=2)
    config.label2id = {"yes": 1, "no": 0}  # after construction too: kept when it names the same ids
    assert config.label2id == {"yes": 1, "no": 0} and config.id2label == {0: "LABEL_0", 1: "LABEL_1"}
    config.update({"id2label": {"0": "n", "1": "y", "2": "m"}})
    assert config.id2label == {0: "n", 1: "y", 2: "m"} and config.label2id == {"n": 0, "y": 1, "m": 2}
    assert AlbertConfig(pruned_heads={"3": [1, 2]}).pruned_heads == {3: [1, 2]}
    with pytest.raises(ValueError, match="pruned_heads has a label id that is not an integer: 'x'"):
        AlbertConfig(pruned_heads={"x": [1]})


def test_new_fields_set_after_construction_are_written():
    config = tiny_config()
    config.finetuning_task = "sst2"  # a transformers generic field: written once it differs from its default
    config.my_note = "kept"  # a new key: kept and written
    data = config.to_dict()
    assert data["finetuning_task"] == "sst2" and data["my_note"] == "kept" and config.has_field("my_note")
    assert "finetuning_task" not in tiny_config().to_dict()
    assert list(data) == sorted(data)
    with pytest.raises(ConfigError):
        config.update({"my_other": 1, "hidden_size": 30})
    assert "my_other" not in config.to_dict() and not config.has_field("my_other")  # undone with the rest
    for name in ("num_labels", "id2label", "label2id", "vocab_size", "return_dict"):
        assert config.has_field(name), name
    assert not config.has_field("to_dict") and not config.has_field("nothing")


def test_serialised_forms():
    config = tiny_config().updated(num_labels=2)
    text = config.to_json_string()
    assert text.endswith("}\n") and text.startswith('{\n  "')  # two-space indent, sorted keys, a final newline
    keys = [line.split('"')[1] for line in text.splitlines() if line.startswith('  "')]
    assert keys == sorted(keys) and "model_type" in keys
    diff = config.to_diff_dict()
    assert "id2label" not in diff and "label2id" not in diff and diff["hidden_size"] == config.hidden_size
    labelled = config.updated(id2label={"0": "neg", "1": "pos"}, label2id={"neg": 0, "pos": 1})
    assert labelled.to_diff_dict()["id2label"] == {"0": "neg", "1": "pos"}
    assert labelled.to_diff_dict()["label2id"] == {"neg": 0, "pos": 1}
    assert repr(config) == f"AlbertConfig {text}"
    assert config == AlbertConfig.from_dict(config.to_dict()) and config != labelled and config != "config"
    original = config.updated(hidden_act="gelu_pytorch_tanh").to_original_dict()
    assert original["hidden_act"] == "gelu" and original["hidden_size"] == config.hidden_size
    assert "id2label" not in original and "model_type" not in original
    assert config.updated(hidden_act="gelu_fast").to_original_dict()["hidden_act"] == "gelu"
    assert config.updated(hidden_act="relu").to_original_dict()["hidden_act"] == "relu"
    with pytest.raises(BridgeError, match="hidden_act 'silu' has no equivalent in the original ALBERT code"):
        config.updated(hidden_act="silu").to_original_dict()


def test_updated_re_derives_labels_and_keeps_the_attention():
    config = AlbertConfig(**{**tiny_config().to_dict(), "id2label": {"0": "neg", "1": "pos"}})
    config._attn_implementation = "eager"
    same = config.updated(hidden_dropout_prob=0.5)
    assert same.id2label == {0: "neg", 1: "pos"} and same._attn_implementation == "eager"
    more = config.updated(num_labels=3)
    assert more.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"} and more.label2id["LABEL_2"] == 2
    named = config.updated(num_labels=3, id2label={"0": "a", "1": "b", "2": "c"})
    assert named.id2label == {0: "a", 1: "b", 2: "c"}
    assert config.updated(attn_implementation="sdpa")._attn_implementation == "sdpa"
    assert config.id2label == {0: "neg", 1: "pos"}  # the original is untouched


def test_the_layer_schedule_and_head_mask_rows():
    config = _config(num_hidden_layers=12, num_hidden_groups=3, inner_group_num=1)
    assert [config.group_of_layer(i) for i in range(12)] == [0] * 4 + [1] * 4 + [2] * 4
    assert config.layers_per_group == 4.0
    assert [config.head_mask_rows(g) for g in range(3)] == [slice(0, 4), slice(4, 8), slice(8, 12)]
    uneven = _config(num_hidden_layers=5, num_hidden_groups=2, inner_group_num=1)
    assert [uneven.group_of_layer(i) for i in range(5)] == [0, 0, 0, 1, 1]  # int(i / 2.5)
    assert [uneven.head_mask_rows(g) for g in range(2)] == [slice(0, 2), slice(2, 4)]  # int(5 / 2) rows each


def test_config_files_are_read_by_their_form(tmp_path):
    import json

    from albert_bridge.config import MAX_JSON_BYTES, read_json

    original = {k: v for k, v in tiny_config().to_original_dict().items()}
    (tmp_path / "config.json").write_text(json.dumps({**original, "hidden_act": "gelu"}))  # no model_type: original
    assert AlbertConfig.from_json_file(tmp_path / "config.json").hidden_act == "gelu_new"
    (tmp_path / "albert_config.json").write_text(json.dumps({**original, "hidden_act": "gelu", "model_type": "albert"}))
    assert AlbertConfig.from_json_file(tmp_path / "albert_config.json").hidden_act == "gelu_new"  # by its name
    hf = tmp_path / "hf" / "config.json"
    tiny_config().updated(hidden_act="gelu").save_pretrained(hf.parent)
    assert AlbertConfig.from_json_file(hf).hidden_act == "gelu"  # transformers' gelu stays gelu
    (tmp_path / "bad.json").write_text(json.dumps({**original, "hidden_size": 30}))
    with pytest.raises(BridgeError, match=rf"^{tmp_path / 'bad.json'}: invalid config: hidden_size 30"):
        AlbertConfig.from_json_file(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(BridgeError, match=rf"^{tmp_path / 'list.json'}: config is not a JSON object$"):
        AlbertConfig.from_json_file(tmp_path / "list.json")
    with pytest.raises(BridgeError, match="^x: config is not a JSON object$"):
        AlbertConfig.from_original_dict([1], "x")
    with pytest.raises(BridgeError, match=rf"^{tmp_path / 'missing.json'}: file not found$"):
        read_json(tmp_path / "missing.json")
    with pytest.raises(BridgeError, match=rf"^{tmp_path}: cannot read \(Is a directory\)$"):
        read_json(tmp_path)
    (tmp_path / "junk.json").write_bytes(b"\xff{")
    with pytest.raises(BridgeError, match=rf"^{tmp_path / 'junk.json'}: not valid JSON \(.+\)$"):
        read_json(tmp_path / "junk.json")
    exact = tmp_path / "exact.json"
    with open(exact, "wb") as stream:  # exactly the limit: read; one byte more: refused
        stream.write(b"0" + b" " * (MAX_JSON_BYTES - 1))
    assert read_json(exact) == 0
    with open(exact, "ab") as stream:
        stream.write(b" ")
    with pytest.raises(BridgeError, match=rf"^{exact}: over 64 MiB: too large for a JSON config or index$"):
        read_json(exact)


def test_to_albert_config_takes_every_kind_of_config():
    import types

    import transformers

    from albert_bridge.config import to_albert_config

    ours = tiny_config()
    assert to_albert_config(ours) is ours
    theirs = transformers.AlbertConfig(**tiny_config().to_dict(), attn_implementation="eager")
    converted = to_albert_config(theirs)
    assert isinstance(converted, AlbertConfig) and converted.hidden_size == ours.hidden_size
    assert converted.id2label == ours.id2label and converted._attn_implementation == "eager"
    assert to_albert_config({**ours.to_dict(), "_name_or_path": "x"}) == ours  # private keys left out
    assert to_albert_config(types.SimpleNamespace(**ours.to_dict())) == ours  # plain attributes
    assert to_albert_config(types.SimpleNamespace(**ours.to_dict()))._attn_implementation is None

    class OnlyToDict:
        def to_dict(self):
            return ours.to_dict()

    assert to_albert_config(OnlyToDict()) == ours
    with pytest.raises(TypeError, match="config must be an AlbertConfig or a config with ALBERT's fields, not int"):
        to_albert_config(5)
    with pytest.raises(ConfigError, match="^SimpleNamespace object: invalid config: hidden_size 30"):
        to_albert_config(types.SimpleNamespace(**{**ours.to_dict(), "hidden_size": 30}))


def test_details_a_user_meets():
    torch = pytest.importorskip("torch")
    config = tiny_config()
    config.dtype = torch.bfloat16  # a torch dtype has no .name: its str() without the "torch." prefix
    assert config.dtype == "bfloat16"
    config = tiny_config().updated(num_labels=2)
    config.label2id = {"a": 5, "b": 6}  # names other ids: replaced by the inverse of id2label
    assert config.label2id == {"LABEL_0": 0, "LABEL_1": 1}
    config.label2id = {"no": 0, "yes": 1}
    assert config.to_diff_dict()["label2id"] == {"no": 0, "yes": 1}  # not the default pair: written
    config = AlbertConfig.from_dict(tiny_config().to_dict(), num_labels=4, id2label={"0": "a", "1": "b"})
    assert config.id2label == {0: "a", 1: "b"}  # named labels win over a num_labels that disagrees
    assert AlbertConfig.from_dict(tiny_config().to_dict(), num_labels=4).num_labels == 4
    messages = {"hidden_act": ("swish2", "unknown hidden_act 'swish2' (known: gelu, "),
                "position_embedding_type": ("relative_key", "position_embedding_type 'relative_key' is not supported "
                                                            "(only 'absolute')"),
                "problem_type": ("rank", "problem_type 'rank' is not one of regression, single_label_classification, "
                                         "multi_label_classification")}
    for name, (value, message) in messages.items():
        with pytest.raises(ConfigError) as info:
            _config(**{name: value})
        assert message in str(info.value), str(info.value)
    with pytest.raises(BridgeError, match="label2id must be a mapping$"):
        _config(label2id=[1])


def test_from_and_save_pretrained_directories(tmp_path):
    with pytest.raises(BridgeError, match=rf"^{tmp_path}: no config.json or albert_config.json here$"):
        AlbertConfig.from_pretrained(tmp_path)
    written = tiny_config().save_pretrained(tmp_path / "a" / "b")  # parents made
    assert written == tmp_path / "a" / "b" / "config.json"
    with pytest.raises(BridgeError, match=rf"^{written}: invalid config: hidden_size 30"):
        AlbertConfig.from_pretrained(tmp_path / "a" / "b", hidden_size=30)


def test_named_labels_win_over_num_labels_in_either_order():
    for keywords in ({"id2label": {"0": "a", "1": "b"}, "num_labels": 4}, {"num_labels": 4, "id2label": {"0": "a",
                                                                                                        "1": "b"}}):
        config = AlbertConfig.from_dict(tiny_config().to_dict(), **keywords)
        assert config.id2label == {0: "a", 1: "b"} and config.num_labels == 2, keywords
