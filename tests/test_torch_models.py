"""Our PyTorch classes against transformers 4.57 (the reference peer), in both directions, for every head."""

import warnings

import pytest
import torch
import transformers

import albert_bridge
from albert_bridge.formats import get_format
from albert_bridge.models.albert_torch import MODEL_FOR_HEAD
from albert_bridge.schema import ARCHITECTURES, HeadKind
from albert_bridge.testing import head_config, make_checkpoint, make_inputs, make_labels, tiny_config
from tests.helpers import torch_inputs

ATOL = 1e-5


pytestmark = pytest.mark.torch


def inputs_for(head: HeadKind, seed: int = 0) -> dict:
    return torch_inputs(make_inputs(head, seed=seed))


def labels_for(head: HeadKind, inputs: dict, num_labels: int) -> dict:
    labels = torch_inputs(make_labels(head, inputs, num_labels))
    if head is HeadKind.QUESTION_ANSWERING:  # a position past the input: clamped to the ignored index
        labels["start_positions"][-1] = 20
    return labels


def reference_class(head: HeadKind):
    return getattr(transformers, ARCHITECTURES[head])


def assert_outputs_close(ours, theirs, atol=ATOL):
    assert list(ours.keys()) == list(theirs.keys())
    for key in theirs.keys():
        a, b = ours[key], theirs[key]
        if isinstance(b, tuple):
            assert len(a) == len(b), key
            for x, y in zip(a, b):
                torch.testing.assert_close(x, y, atol=atol, rtol=0)
        else:
            torch.testing.assert_close(a, b, atol=atol, rtol=0, msg=key)


@pytest.mark.parametrize("fmt, shard", [("safetensors", None), ("pytorch", None), ("safetensors", 30_000),
                                        ("pytorch", 30_000)], ids=["safetensors", "bin", "sharded-st", "sharded-bin"])
def test_our_files_in_every_hf_layout_load_in_transformers(tmp_path, head, fmt, shard):
    get_format(fmt).save(make_checkpoint(head, seed=12), tmp_path, max_shard_size=shard)
    theirs, info = reference_class(head).from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    ours = MODEL_FOR_HEAD[head].from_pretrained(tmp_path)
    inputs = inputs_for(head)
    with torch.no_grad():
        assert_outputs_close(ours(**inputs), theirs.eval()(**inputs))


def test_our_files_load_in_transformers_with_matching_logits(saved, head):
    theirs, info = reference_class(head).from_pretrained(saved, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    ours = MODEL_FOR_HEAD[head].from_pretrained(saved)
    inputs = inputs_for(head)
    with torch.no_grad():
        assert_outputs_close(ours(**inputs, output_hidden_states=True),
                             theirs.eval()(**inputs, output_hidden_states=True))
        # The eager path (attention probabilities as outputs) agrees too.
        assert_outputs_close(ours(**inputs, output_attentions=True), theirs(**inputs, output_attentions=True))


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
def test_transformers_files_load_here(tmp_path, head, safe):
    torch.manual_seed(0)
    theirs = reference_class(head)(transformers.AlbertConfig(**head_config(head).to_dict())).eval()
    with torch.no_grad():  # transformers initialises biases and LayerNorms to constants; perturb them all
        for p in theirs.parameters():
            p.add_(0.05 * torch.randn_like(p))
    theirs.save_pretrained(tmp_path, safe_serialization=safe)
    ours = getattr(albert_bridge, ARCHITECTURES[head]).from_pretrained(tmp_path)
    inputs = inputs_for(head, seed=3)
    with torch.no_grad():
        assert_outputs_close(ours(**inputs), theirs(**inputs))


def test_state_dicts_interoperate(head):
    config = head_config(head)
    ours = MODEL_FOR_HEAD[head](config).eval()
    theirs = reference_class(head)(transformers.AlbertConfig(**config.to_dict())).eval()
    assert set(ours.state_dict()) == set(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict(), strict=True)
    inputs = inputs_for(head)
    with torch.no_grad():
        assert_outputs_close(ours(**inputs), theirs(**inputs))
    ours.load_state_dict(theirs.state_dict(), strict=True)


def test_losses_match_transformers(saved, head):
    if head is HeadKind.BASE:
        pytest.skip("AlbertModel has no loss")
    ours = MODEL_FOR_HEAD[head].from_pretrained(saved)
    theirs = reference_class(head).from_pretrained(saved).eval()
    inputs = inputs_for(head)
    labels = labels_for(head, inputs, ours.config.num_labels)
    with torch.no_grad():
        a, b = ours(**inputs, **labels), theirs(**inputs, **labels)
    assert a.loss is not None
    torch.testing.assert_close(a.loss, b.loss, atol=ATOL, rtol=0)


@pytest.mark.parametrize("problem", ["regression", "multi_label_classification"])
def test_sequence_classification_problem_types(tmp_path, problem):
    num_labels = 1 if problem == "regression" else 3
    config = tiny_config(num_labels=num_labels)
    get_format("safetensors").save(make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION, config=config), tmp_path)
    ours = albert_bridge.AlbertForSequenceClassification.from_pretrained(tmp_path)
    theirs = transformers.AlbertForSequenceClassification.from_pretrained(tmp_path).eval()
    inputs = inputs_for(HeadKind.SEQUENCE_CLASSIFICATION)
    labels = torch.rand(3, num_labels) if num_labels > 1 else torch.rand(3)
    labels = (labels > 0.5).float() if num_labels > 1 else labels
    with torch.no_grad():
        a, b = ours(**inputs, labels=labels), theirs(**inputs, labels=labels)
    assert ours.config.problem_type == problem
    torch.testing.assert_close(a.loss, b.loss, atol=ATOL, rtol=0)


def test_tuple_outputs_head_mask_and_inputs_embeds(saved, head):
    ours = MODEL_FOR_HEAD[head].from_pretrained(saved)
    # transformers' SDPA attention silently ignores head_mask; its eager attention applies it.
    theirs = reference_class(head).from_pretrained(saved, attn_implementation="eager").eval()
    inputs = inputs_for(head)
    head_mask = torch.ones(5, 4)
    head_mask[0, 1] = 0
    head_mask[3, 2] = 0
    with torch.no_grad():
        a = ours(**inputs, head_mask=head_mask, return_dict=False)
        b = theirs(**inputs, head_mask=head_mask, return_dict=False)
        assert isinstance(a, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, atol=ATOL, rtol=0)
        embeds = ours.get_input_embeddings()(inputs["input_ids"])
        rest = {k: v for k, v in inputs.items() if k != "input_ids"}
        assert_outputs_close(ours(inputs_embeds=embeds, **rest), theirs(inputs_embeds=embeds, **rest))


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
def test_save_pretrained_round_trip_into_transformers(tmp_path, safe):
    torch.manual_seed(1)
    ours = albert_bridge.AlbertForMaskedLM(tiny_config()).eval()
    ours.save_pretrained(tmp_path, safe_serialization=safe)
    assert (tmp_path / ("model.safetensors" if safe else "pytorch_model.bin")).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    theirs, info = transformers.AlbertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    inputs = inputs_for(HeadKind.MASKED_LM)
    with torch.no_grad():
        assert_outputs_close(ours(**inputs), theirs.eval()(**inputs))
    again = albert_bridge.AlbertForMaskedLM.from_pretrained(tmp_path)
    for name, value in ours.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name


def test_missing_projection_is_identity_when_e_equals_h(tmp_path):
    config = tiny_config(embedding_size=32)
    ckpt = make_checkpoint(HeadKind.BASE, config=config)
    del ckpt.tensors["encoder.projection.kernel"], ckpt.tensors["encoder.projection.bias"]
    get_format("canonical").save(ckpt, tmp_path / "canonical")
    ours = albert_bridge.AlbertModel.from_pretrained(tmp_path / "canonical")
    torch.testing.assert_close(ours.encoder.embedding_hidden_mapping_in.weight, torch.eye(32))
    # The HF writer adds the identity explicitly, so transformers computes the same thing.
    get_format("safetensors").save(ckpt, tmp_path / "hf")
    theirs = transformers.AlbertModel.from_pretrained(tmp_path / "hf").eval()
    inputs = inputs_for(HeadKind.BASE)
    with torch.no_grad():
        assert_outputs_close(ours(**inputs), theirs(**inputs))


def test_new_head_on_pretrained_backbone_warns_and_keeps_backbone(tmp_path):
    get_format("safetensors").save(make_checkpoint(HeadKind.PRETRAINING, seed=4), tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, info = albert_bridge.AlbertForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight"]
    assert "sop_classifier.classifier.weight" in info["unexpected_keys"]
    assert any("newly initialised" in str(w.message) for w in caught)
    with pytest.warns(UserWarning, match="checkpoint weights not used: predictions"):
        base = albert_bridge.AlbertModel.from_pretrained(tmp_path)
    torch.testing.assert_close(model.albert.pooler.weight, base.pooler.weight)


def test_half_precision_load():
    from tests.helpers import FIXTURE

    model = albert_bridge.AlbertForPreTraining.from_pretrained(FIXTURE, torch_dtype=torch.bfloat16)
    assert model.dtype is torch.bfloat16
    with torch.no_grad():
        out = model(**inputs_for(HeadKind.PRETRAINING))
    reference = albert_bridge.AlbertForPreTraining.from_pretrained(FIXTURE)
    with torch.no_grad():
        expected = reference(**inputs_for(HeadKind.PRETRAINING)).prediction_logits
    assert (out.prediction_logits.float() - expected).abs().max() < 0.3  # bf16 has 8 mantissa bits


def test_training_mode_uses_dropout():
    model = albert_bridge.AlbertForSequenceClassification(tiny_config()).train()
    inputs = inputs_for(HeadKind.SEQUENCE_CLASSIFICATION)
    torch.manual_seed(0)
    a = model(**inputs).logits
    b = model(**inputs).logits
    assert not torch.allclose(a, b)
    model.eval()
    torch.testing.assert_close(model(**inputs).logits, model(**inputs).logits, atol=0, rtol=0)


def test_a_kernel_is_its_canonical_value_in_the_file_and_in_the_model(tmp_path):
    """Our model and our writer share the PyTorch mapping, so a wrong transpose of a square kernel would pass every
    comparison above (transformers reads the same file the same way): check one against the canonical definition,
    y = x @ kernel + bias, in the written file and in the loaded model."""
    from safetensors.numpy import load_file

    ckpt = make_checkpoint(HeadKind.BASE, seed=13)
    kernel = ckpt.tensors["encoder.group.1.inner.0.attention.query.kernel"].read()  # [in, out], H x H
    bias = ckpt.tensors["encoder.group.1.inner.0.attention.query.bias"].read()
    get_format("safetensors").save(ckpt, tmp_path)
    stored = load_file(tmp_path / "model.safetensors")["encoder.albert_layer_groups.1.albert_layers.0.attention.query.weight"]
    assert (stored == kernel.T).all()  # nn.Linear stores [out, in]
    query = MODEL_FOR_HEAD[HeadKind.BASE].from_pretrained(tmp_path).encoder.albert_layer_groups[1].albert_layers[0]
    x = torch.randn(3, kernel.shape[0])
    with torch.no_grad():
        torch.testing.assert_close(query.attention.query(x), x @ torch.from_numpy(kernel) + torch.from_numpy(bias))
