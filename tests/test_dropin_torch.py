"""Drop-in for transformers 4 users, the PyTorch classes: each call below is made on transformers 4.57's class and on
ours, and the results are compared (dtypes, loading info, logits, gradients, config dicts, uploaded files)."""

import warnings

import pytest
import torch
import transformers

import albert_bridge
from albert_bridge.config import AlbertConfig
from albert_bridge.errors import BridgeError, NotYetSupported
from albert_bridge.formats import get_format
from albert_bridge.schema import HeadKind
from albert_bridge.testing import TINY, make_checkpoint, make_inputs

pytestmark = pytest.mark.torch

ATOL = 1e-5
NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Tiny checkpoints written by our safetensors adapter: sequence classification (3 labels, float32 and float16)
    and masked LM."""
    root = tmp_path_factory.mktemp("dropin")
    get_format("safetensors").save(make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION, seed=3), root / "cls")
    get_format("safetensors").save(make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION, seed=3, dtype="float16"),
                                   root / "cls16")
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=4), root / "mlm")
    return root


def inputs(vocab_size: int = 99) -> dict:
    return {k: torch.from_numpy(v) for k, v in make_inputs(HeadKind.SEQUENCE_CLASSIFICATION,
                                                           vocab_size=vocab_size).items()}


def pair(name: str, *args, **kwargs):
    """(ours, transformers') from_pretrained with the same arguments, quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (getattr(albert_bridge, name).from_pretrained(*args, **kwargs),
                getattr(transformers, name).from_pretrained(*args, **kwargs))


def assert_same_logits(ours, theirs, vocab_size: int = 99, **call):
    with torch.no_grad():
        a, b = ours(**inputs(vocab_size), **call), theirs(**inputs(vocab_size), **call)
    for key in b.keys():
        for x, y in zip(*(v if isinstance(v, tuple) else (v,) for v in (a[key], b[key]))):
            torch.testing.assert_close(x, y, atol=ATOL, rtol=0, msg=key)


@pytest.mark.parametrize("where, kwargs", [
    ("cls", {"dtype": torch.float16}), ("cls", {"dtype": "bfloat16"}), ("cls", {"torch_dtype": "float16"}),
    ("cls", {"torch_dtype": torch.bfloat16}), ("cls", {"dtype": "auto"}), ("cls16", {"dtype": "auto"}),
    ("cls16", {"torch_dtype": "auto"}), ("cls16", {})])
def test_dtype_both_names_both_forms(saved, where, kwargs):
    ours, theirs = pair("AlbertForSequenceClassification", saved / where, **kwargs)
    assert ours.dtype == theirs.dtype and {p.dtype for p in ours.parameters()} == {theirs.dtype}
    if kwargs and "auto" not in kwargs.values():
        assert ours.config.dtype == str(theirs.config.dtype).removeprefix("torch.")
    with pytest.raises(ValueError, match="dtype"):
        albert_bridge.AlbertForSequenceClassification.from_pretrained(saved / where, dtype="int8")


def test_new_labels_with_ignore_mismatched_sizes(saved):
    """The fine-tune-with-new-labels recipe: the classifier is initialised afresh, named in a warning and in
    mismatched_keys, everything else loads."""
    with pytest.warns(UserWarning, match=r"shapes did not match: classifier\.bias: \[3\] in the checkpoint, \[5\] in"):
        ours, ours_info = albert_bridge.AlbertForSequenceClassification.from_pretrained(
            saved / "cls", num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    theirs, their_info = transformers.AlbertForSequenceClassification.from_pretrained(
        saved / "cls", num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    assert ours_info == their_info and their_info["mismatched_keys"] == ["classifier.bias", "classifier.weight"]
    assert ours.config.num_labels == theirs.config.num_labels == 5
    a, b = ours.state_dict(), theirs.state_dict()
    assert a.keys() == b.keys() and a["classifier.weight"].shape == (5, 32)
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("classifier."))
    with pytest.raises(BridgeError, match=r"classifier.*shape \[32, 3\] but the config implies \[32, 5\]"):
        albert_bridge.AlbertForSequenceClassification.from_pretrained(saved / "cls", num_labels=5)
    with pytest.raises(RuntimeError, match="size mismatch"):
        transformers.AlbertForSequenceClassification.from_pretrained(saved / "cls", num_labels=5)


def test_loading_info_config_state_dict_and_a_missing_path(saved):
    ours, theirs = pair("AlbertForSequenceClassification", saved / "mlm", output_loading_info=True)
    assert ours[1] == theirs[1]  # an MLM checkpoint in a classifier: the same missing and unexpected keys
    config = transformers.AlbertConfig.from_pretrained(saved / "cls", **NO_DROPOUT)
    for given in (config, str(saved / "cls")):
        assert_same_logits(*pair("AlbertForSequenceClassification", saved / "cls", config=given))
    reference = transformers.AlbertForSequenceClassification.from_pretrained(saved / "cls")
    ours, theirs = pair("AlbertForSequenceClassification", None, config=config, state_dict=reference.state_dict())
    assert_same_logits(ours, theirs)
    assert_same_logits(ours, reference)
    for missing in ("no-such-model-dir", str(saved / "nothing-here"), "org/no-such-model"):
        with pytest.raises((OSError, ValueError)) as theirs:  # ValueError: a path that is no valid repo id
            transformers.AlbertModel.from_pretrained(missing)
        with pytest.raises(type(theirs.value).__mro__[1], match="not a local folder or file"):
            albert_bridge.AlbertModel.from_pretrained(missing)


def test_embeddings_api_and_resize_keep_the_decoder_tied(saved, tmp_path):
    ours, theirs = pair("AlbertForMaskedLM", saved / "mlm")
    for model in (ours, theirs):
        assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
        assert model.resize_token_embeddings(107, pad_to_multiple_of=8).num_embeddings == 112
        assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
        assert model.predictions.decoder.bias is model.predictions.bias
    assert ours.config.vocab_size == theirs.config.vocab_size == 112
    a, b = ours.state_dict(), theirs.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k][:99], b[k][:99]) for k in b)
    for key in ("albert.embeddings.word_embeddings.weight", "predictions.bias"):  # new rows: drawn around the old
        torch.testing.assert_close(a[key][99:], b[key][99:], atol=1e-3, rtol=0)  # rows' mean; new biases: zero
    ours.load_state_dict(b)  # the same random draws, then the same logits
    assert ours.get_output_embeddings().weight is ours.get_input_embeddings().weight
    assert_same_logits(ours, theirs)
    ours.save_pretrained(tmp_path)  # a resized model saves and reloads in transformers
    assert_same_logits(ours, transformers.AlbertForMaskedLM.from_pretrained(tmp_path))
    for model in (ours, theirs):
        model.resize_token_embeddings(90)
    assert_same_logits(ours, theirs, vocab_size=90)
    messages = []
    for model in (ours, theirs):  # transformers' words, typo included: its own test suite matches on them
        with pytest.raises(ValueError, match="not and integer") as raised:
            model.resize_token_embeddings(100, pad_to_multiple_of=2.5)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    embeddings = torch.nn.Embedding(90, 24)
    torch.nn.init.normal_(embeddings.weight, std=0.02, generator=torch.Generator().manual_seed(0))  # as trained ones
    ours.set_input_embeddings(embeddings)
    assert ours.get_input_embeddings() is embeddings
    theirs.set_input_embeddings(torch.nn.Embedding(90, 24))
    theirs.get_input_embeddings().weight.data.copy_(embeddings.weight.data)
    for model in (ours, theirs):  # tie_weights: the decoder follows the new embeddings, in both
        model.tie_weights()
        assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert_same_logits(ours, theirs, vocab_size=90)


def test_counts_names_and_capabilities(saved):
    ours, theirs = pair("AlbertForMaskedLM", saved / "mlm")
    ours.albert.embeddings.position_embeddings.weight.requires_grad_(False)
    theirs.albert.embeddings.position_embeddings.weight.requires_grad_(False)
    for flags in ({}, {"only_trainable": True}, {"exclude_embeddings": True}):
        assert ours.num_parameters(**flags) == theirs.num_parameters(**flags), flags
    assert ours.main_input_name == theirs.main_input_name == "input_ids"
    assert ours.can_generate() is theirs.can_generate() is False
    assert ours.config._attn_implementation == theirs.config._attn_implementation == "sdpa"


def test_gradient_checkpointing_gives_transformers_gradients(saved):
    """transformers 4.57's ALBERT refuses gradient checkpointing (ValueError); ours recomputes each layer in the
    backward pass and gets the gradients transformers computes without it."""
    ours, theirs = pair("AlbertForSequenceClassification", saved / "cls", **NO_DROPOUT)
    assert ours.supports_gradient_checkpointing and not theirs.supports_gradient_checkpointing
    with pytest.raises(ValueError, match="does not support gradient checkpointing"):
        theirs.gradient_checkpointing_enable()
    labels = torch.tensor([0, 2, 1])

    def gradients(model):
        model.train()
        model.zero_grad()
        model(**inputs(), labels=labels).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters()}

    reference = gradients(theirs)
    for options in (None, {"use_reentrant": False}):
        ours.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
        assert ours.is_gradient_checkpointing
        got = gradients(ours)
        assert got.keys() == reference.keys()
        for name in reference:
            torch.testing.assert_close(got[name], reference[name], atol=ATOL, rtol=1e-4, msg=name)
    ours.gradient_checkpointing_disable()
    assert not ours.is_gradient_checkpointing


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_attn_implementation_same_outputs(saved, implementation):
    ours, theirs = pair("AlbertForSequenceClassification", saved / "cls", attn_implementation=implementation)
    assert ours.config._attn_implementation == theirs.config._attn_implementation == implementation
    assert_same_logits(ours, theirs)
    assert_same_logits(ours, theirs, output_attentions=True)  # sdpa falls back to eager for the probabilities
    eager = albert_bridge.AlbertForSequenceClassification(AlbertConfig(**TINY, attn_implementation="eager"))
    assert eager.config._attn_implementation == "eager"


def test_prune_heads(saved, tmp_path):
    ours, theirs = pair("AlbertForSequenceClassification", saved / "cls")
    for model in (ours, theirs):
        model.prune_heads({0: [1], 3: [0, 2]})
        model.prune_heads({0: [1, 3]})
    assert {k: sorted(v) for k, v in theirs.config.pruned_heads.items()} == ours.config.pruned_heads
    assert ours.num_parameters() == theirs.num_parameters()
    assert_same_logits(ours, theirs)
    with pytest.raises(NotYetSupported, match="pruned"):
        ours.save_pretrained(tmp_path)


@pytest.mark.slow
@pytest.mark.hub
def test_push_to_hub_uploads_what_save_pretrained_writes(saved, tmp_path, monkeypatch):
    """One commit with config.json, the weights and a model card, as transformers' push_to_hub makes (ours also runs
    the uploaded file on transformers' class first: publish.push's parity check), to the loopback Hub of test_hub.py."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from tests.hub_server import TOKEN, HubServer

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)  # ours reads it at each call; huggingface_hub's default client
        monkeypatch.setattr(huggingface_hub.hf_api.api, "endpoint", hub.url)  # (transformers') read it at import
        ours, theirs = pair("AlbertForSequenceClassification", saved / "cls")
        result = ours.push_to_hub("org/ours", token=TOKEN, commit_message="fine-tuned")
        theirs.push_to_hub("org/theirs", token=TOKEN, commit_message="fine-tuned")
        [mine, reference] = hub.commits
        assert (mine.repo, reference.repo) == ("org/ours", "org/theirs") and result.commit_url
        assert mine.summary == reference.summary == "fine-tuned"
        assert sorted(mine.files) == sorted(reference.files) == ["README.md", "config.json", "model.safetensors"]
        downloaded = albert_bridge.AlbertForSequenceClassification.from_pretrained("org/ours", token=TOKEN)
        assert_same_logits(downloaded, theirs)


def test_pretrainedmodel_attributes_and_from_config_as_transformers():
    """What transformers' tests and clients read off a model class, and `_from_config`, on both classes."""
    for name in ("_supports_sdpa", "_supports_flash_attn", "_supports_flex_attn", "_supports_attention_backend",
                 "_keys_to_ignore_on_load_missing", "_keys_to_ignore_on_load_unexpected", "_keep_in_fp32_modules"):
        assert getattr(albert_bridge.AlbertModel, name) == getattr(transformers.AlbertModel, name), name
    assert albert_bridge.AlbertConfig.sub_configs == transformers.AlbertConfig.sub_configs == {}
    ours, theirs = (module.AlbertModel._from_config(module.AlbertConfig(**TINY), attn_implementation="eager",
                                                    dtype=torch.float16) for module in (albert_bridge, transformers))
    assert ours.config._attn_implementation == theirs.config._attn_implementation == "eager"
    assert ours.dtype == theirs.dtype == torch.float16
    assert ours.vocab_size == theirs.config.vocab_size == TINY["vocab_size"]


def test_set_attn_implementation_switches_the_kernel_at_once():
    """Ours switches between eager and SDPA on a built model (transformers' ALBERT only warns: its attention class is
    fixed at construction); the outputs agree, and an unknown name raises transformers' ValueError."""
    model = albert_bridge.AlbertModel(AlbertConfig(**{**TINY, **NO_DROPOUT})).eval()
    with torch.no_grad():
        model.set_attn_implementation("eager")
        eager = model(**inputs()).last_hidden_state
        model.set_attn_implementation("sdpa")
        sdpa = model(**inputs()).last_hidden_state
    assert model.config._attn_implementation == "sdpa"
    torch.testing.assert_close(eager, sdpa, atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match='Specified `attn_implementation="foo"` is not supported'):
        model.set_attn_implementation("foo")
    assert model.config._attn_implementation == "sdpa"


def test_keys_to_ignore_on_load_filter_the_loading_info_as_in_transformers(saved):
    """A subclass's `_keys_to_ignore_on_load_unexpected` / `_missing` (regex patterns) leave those names out of the
    loading info, in ours as in transformers."""
    infos = []
    for module in (albert_bridge, transformers):
        class Quiet(module.AlbertForSequenceClassification):
            _keys_to_ignore_on_load_unexpected = [r"^predictions\."]
            _keys_to_ignore_on_load_missing = [r"classifier", r"^albert\.pooler\."]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, info = Quiet.from_pretrained(saved / "mlm", output_loading_info=True)
        infos.append(info)
    assert infos[0]["unexpected_keys"] == infos[1]["unexpected_keys"] == []
    assert infos[0]["missing_keys"] == infos[1]["missing_keys"] == []


def test_from_pretrained_under_a_meta_device_context_raises_as_transformers(saved):
    for module in (albert_bridge, transformers):
        with torch.device("meta"), pytest.raises(RuntimeError, match="meta device context manager"):
            module.AlbertForSequenceClassification.from_pretrained(saved / "cls")
