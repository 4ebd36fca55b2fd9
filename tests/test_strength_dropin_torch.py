"""Gradient checkpointing really happens: torch's checkpoint gets the user's keywords, and every layer runs twice
(forward, then recomputed in the backward pass). Equal gradients alone would pass without any checkpointing."""

import pytest

from albert_bridge.config import AlbertConfig
from albert_bridge.testing import TINY, make_inputs

torch = pytest.importorskip("torch")
checkpoint_module = pytest.importorskip("torch.utils.checkpoint")

import albert_bridge  # noqa: E402

pytestmark = pytest.mark.torch

NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0)


def _step(model, calls: list) -> dict:
    """One training step; `calls` collects one entry per AlbertLayer forward."""
    # a pre-hook: the non-reentrant recomputation stops as soon as it has what the backward needs, before a layer
    # returns (a forward hook would not see it)
    hooks = [m.register_forward_pre_hook(lambda *_: calls.append(1)) for m in model.modules()
             if type(m).__name__ == "AlbertLayer"]
    try:
        model.train()
        model.zero_grad()
        batch = {k: torch.from_numpy(v) for k, v in make_inputs("sequence-classification", batch=2, seq_len=6).items()}
        model(**batch, labels=torch.tensor([0, 1])).loss.backward()
    finally:
        for hook in hooks:
            hook.remove()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("kwargs, reentrant", [(None, True), ({"use_reentrant": False}, False)])
def test_checkpointing_reaches_torch_with_the_users_keywords_and_recomputes_every_layer(monkeypatch, kwargs,
                                                                                        reentrant):
    torch.manual_seed(0)
    config = AlbertConfig(**{**TINY, **NO_DROPOUT, "num_labels": 2})
    model = albert_bridge.AlbertForSequenceClassification(config)
    layers_per_pass = config.num_hidden_layers * config.inner_group_num  # L layers, each running K inner layers
    plain_calls: list = []
    plain = _step(model, plain_calls)
    assert len(plain_calls) == layers_per_pass

    seen = []
    real = checkpoint_module.checkpoint

    def recording(function, *args, **options):
        seen.append(options)
        return real(function, *args, **options)

    monkeypatch.setattr(checkpoint_module, "checkpoint", recording)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    assert model.is_gradient_checkpointing
    calls: list = []
    got = _step(model, calls)
    assert seen == [{"use_reentrant": reentrant}] * layers_per_pass
    assert len(calls) == 2 * layers_per_pass  # each layer ran again in the backward pass
    assert got.keys() == plain.keys()
    for name in plain:
        torch.testing.assert_close(got[name], plain[name], atol=1e-6, rtol=1e-5, msg=name)

    # evaluation runs no checkpoint (nothing to recompute), and disabling turns it off for training too
    model.eval()
    with torch.no_grad():
        model(**{k: torch.from_numpy(v) for k, v in make_inputs("sequence-classification", batch=1).items()})
    assert len(seen) == layers_per_pass
    model.gradient_checkpointing_disable()
    assert not model.is_gradient_checkpointing
    calls = []
    _step(model, calls)
    assert len(calls) == layers_per_pass and len(seen) == layers_per_pass
