"""The model <-> checkpoint bridge shared by the PyTorch, TF2 and Flax classes: the same behaviour from every backend
(stale files after a sharded save, load warnings, keyword arguments), tested once, parametrized over backends."""

import importlib
import warnings

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from albert_bridge.errors import BridgeError
from albert_bridge.formats import get_format, load
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint

BACKENDS = {"torch": ("torch", "albert_torch", ""), "tf": ("tensorflow", "albert_tf", "TF"),
            "flax": ("flax", "albert_flax", "Flax")}


@pytest.fixture(params=[pytest.param(name, marks=getattr(pytest.mark, name)) for name in BACKENDS])
def model_class(request):
    """AlbertForMaskedLM of one backend (skipped where its framework is not installed)."""
    framework, module, prefix = BACKENDS[request.param]
    pytest.importorskip(framework)
    return getattr(importlib.import_module(f"albert_bridge.models.{module}"), f"{prefix}AlbertForMaskedLM")


def word_embeddings(directory) -> np.ndarray:
    return load(directory).tensors["embeddings.word"].read()


def test_sharded_save_over_an_unsharded_one_leaves_no_stale_weights(tmp_path, model_class):
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=1), tmp_path / "src")
    old = model_class.from_pretrained(tmp_path / "src")
    old.save_pretrained(tmp_path / "out")                      # one file
    stale = {p.name for p in (tmp_path / "out").iterdir()}
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=2), tmp_path / "new")
    new = model_class.from_pretrained(tmp_path / "new")
    new.save_pretrained(tmp_path / "out", max_shard_size="20KB")  # shards + index over the single file
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names.isdisjoint(stale - {"config.json"}), names & stale
    assert any("-of-" in n for n in names) and any(n.endswith(".index.json") for n in names)
    assert not any(n.startswith(".albert-save-") for n in names)
    again = model_class.from_pretrained(tmp_path / "out")
    np.testing.assert_array_equal(word_embeddings(tmp_path / "out"), word_embeddings(tmp_path / "new"))
    np.testing.assert_array_equal(again.to_checkpoint().tensors["embeddings.word"].read(),
                                  word_embeddings(tmp_path / "new"))
    # ... and the other way: an unsharded save over shards removes them.
    old.save_pretrained(tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == stale
    np.testing.assert_array_equal(word_embeddings(tmp_path / "out"), word_embeddings(tmp_path / "src"))


def test_unknown_source_tensors_are_named_in_a_warning(tmp_path, model_class):
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=1), tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["albert.adapter.down.weight"] = np.ones((2, 2), np.float32)
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.warns(UserWarning, match=r"model\.safetensors.*no ALBERT weight.*albert\.adapter\.down\.weight"):
        model_class.from_pretrained(tmp_path)


def test_load_report_warnings_reach_the_user(tmp_path, model_class):
    """A second source for one tensor (here the word embeddings twice, with and without the head prefix): the
    load report's warning is shown by every backend (Flax used to drop it)."""
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=1), tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["embeddings.word_embeddings.weight"] = tensors["albert.embeddings.word_embeddings.weight"]
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.warns(UserWarning, match="a second source for embeddings.word"):
        model_class.from_pretrained(tmp_path)


def test_keyword_arguments_set_config_fields_are_validated_or_refused(tmp_path, model_class):
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=1), tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fetching arguments are accepted silently
        model = model_class.from_pretrained(tmp_path, hidden_dropout_prob=0.25, cache_dir="unused",
                                            revision="main")
    assert model.config.hidden_dropout_prob == 0.25
    with pytest.raises(TypeError, match="not_a_field"):
        model_class.from_pretrained(tmp_path, not_a_field=1)
    with pytest.raises(BridgeError, match="hidden_act"):
        model_class.from_pretrained(tmp_path, hidden_act="no-such-activation")
    with pytest.raises(BridgeError, match="num_hidden_groups"):
        model_class.from_pretrained(tmp_path, num_hidden_groups=7)


def test_config_updated_keeps_label_names_unless_the_count_changes():
    config = make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION).config.updated(id2label={0: "neg", 1: "mid", 2: "pos"})
    assert config.updated(num_labels=3).id2label == {0: "neg", 1: "mid", 2: "pos"}
    assert config.updated(num_labels=4).id2label == {i: f"LABEL_{i}" for i in range(4)}
    with pytest.raises(BridgeError):
        config.updated(hidden_size=30)  # not divisible by 4 heads


def _cli_error(capsys, source) -> str:
    from tests.helpers import cli

    code, _, err = cli(capsys, "convert", source, source.parent / "converted", "--to", "canonical")
    assert code == 3
    return err.strip().removeprefix("error: ")


@pytest.mark.parametrize("damage", ["truncated", "config-lies", "huge-config"])
def test_bad_input_is_the_clean_error_the_cli_prints(tmp_path, capsys, model_class, damage):
    """from_pretrained users get the BridgeError the CLI prints (file and tensor named), and a config claiming a
    model far larger than its file is refused before anything that size is allocated."""
    import json

    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=1), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    if damage == "truncated":
        data = (tmp_path / "model.safetensors").read_bytes()
        (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "config-lies":
        (tmp_path / "config.json").write_text(json.dumps({**config, "embedding_size": 25}))
    else:  # no layer tensors in the file, and a config asking for 4 layers of 2**18 intermediate units (67M weights;
        # small enough that a regression builds the model and fails the test, rather than exhausting the machine)
        tensors = load_file(tmp_path / "model.safetensors")
        for key in [k for k in tensors if ".albert_layer_groups." in k]:
            del tensors[key]
        save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
        (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_groups": 4, "inner_group_num": 1,
                                                          "num_hidden_layers": 4, "intermediate_size": 2**18}))
    with pytest.raises(BridgeError) as info:
        model_class.from_pretrained(tmp_path)
    message = info.value.one_line()
    assert str(tmp_path) in message
    if damage != "huge-config":  # the CLI builds no model, so it has none to refuse
        assert message == _cli_error(capsys, tmp_path)
    else:
        assert "parameters more than the checkpoint holds" in message
