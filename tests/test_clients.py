"""Drop-in for transformers 4 users, the libraries around the PyTorch classes: each client below (transformers 4.57's
pipelines and Trainer, torch.jit.trace, torch.onnx.export, peft, accelerate, sentence-transformers, torch.compile)
runs on our class and on transformers' class loaded from the same weights, and the results are compared."""

import io
import shutil
import warnings

import numpy as np
import pytest
import torch
import transformers

import albert_bridge
from albert_bridge.errors import ConfigMissing
from albert_bridge.formats import get_format
from albert_bridge.models import outputs
from albert_bridge.schema import HeadKind
from albert_bridge.testing import make_checkpoint, tiny_config
from tests.helpers import ROOT, assert_close

pytestmark = pytest.mark.torch

TOKENIZER = ROOT / "fixtures" / "tokenizer"  # 1,200 pieces: the checkpoints below have vocab_size 1200
# Dropout off: Trainer trains in train mode, and our FFN dropout (which transformers forgets) draws other masks.
CONFIG = dict(vocab_size=1200, num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
              classifier_dropout_prob=0.0)
CLASSES = {HeadKind.BASE: "AlbertModel", HeadKind.MASKED_LM: "AlbertForMaskedLM",
           HeadKind.SEQUENCE_CLASSIFICATION: "AlbertForSequenceClassification"}
TEXTS = ["A first text about a shop.", "And a second, longer one: it has more words in it than the first."]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """{head: a folder with a tiny checkpoint (our safetensors adapter) and the fixture tokenizer}."""
    root = tmp_path_factory.mktemp("clients")
    folders = {}
    for seed, head in enumerate(CLASSES):
        folders[head] = root / head.value
        get_format("safetensors").save(make_checkpoint(head, seed=seed, config=tiny_config(**CONFIG)), folders[head])
        shutil.copy(TOKENIZER / "spiece.model", folders[head])
    return folders


def pair(head: HeadKind, folder, **kwargs):
    """(ours, transformers') from_pretrained of this head's class with the same arguments, quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (getattr(albert_bridge, CLASSES[head]).from_pretrained(folder, **kwargs),
                getattr(transformers, CLASSES[head]).from_pretrained(folder, **kwargs))


def batch(texts=TEXTS) -> dict:
    return dict(transformers.AlbertTokenizer.from_pretrained(TOKENIZER)(texts, padding=True, return_tensors="pt"))


def named(values) -> dict:
    """Outputs (a mapping, or a tuple) as numpy arrays by name, nested tuples flattened (hidden_states.0, ...)."""
    items = values.items() if hasattr(values, "items") else enumerate(values)
    found = {}
    for key, value in items:
        if isinstance(value, (tuple, list)):
            found.update({f"{key}.{i}": v.detach().numpy() for i, v in enumerate(value)})
        else:
            found[str(key)] = value.detach().numpy()
    return found


# ---- outputs ------------------------------------------------------------------------------------------------------

def test_outputs_behave_like_transformers_model_output():
    """The same calls on transformers' MaskedLMOutput and ours: keys of the fields that are not None, tuple indexing,
    a key added by item assignment (the fill-mask pipeline's), a field set afterwards, one built from a dict."""
    logits, hidden = torch.ones(2, 3), (torch.zeros(2), torch.ones(2))
    results = []
    for module in (transformers.modeling_outputs, outputs):
        out = module.MaskedLMOutput(logits=logits, hidden_states=hidden)
        seen = [list(out.keys()), len(out), out[0] is logits, out[1] is hidden, out[:2] == (logits, hidden),
                out.to_tuple() == (logits, hidden), out["logits"] is out.logits, "loss" in out, out.get("loss"),
                [k for k in out]]
        out["input_ids"] = torch.zeros(1)
        seen += [list(out.keys()), len(out.to_tuple())]
        out["loss"] = torch.tensor(1.0)  # a field set after construction (order: see below)
        seen += [set(out.keys()), out["loss"] is out.loss]
        rebuilt = type(out)({"logits": logits, "attentions": hidden})  # how pipelines and Trainer rebuild one
        seen += [list(rebuilt.keys()), rebuilt.logits is logits, rebuilt[1] is hidden]
        pairs = type(out)(iter([("logits", logits), ("loss", None)]))  # how tf.nest rebuilds a mapping
        seen += [list(pairs.keys()), pairs[0] is logits]
        with pytest.raises(KeyError):
            out["no such key"]
        results.append(seen)
    assert results[0] == results[1]
    # Different on purpose: a field set after construction takes its field's place (transformers appends it), so the
    # tuple is what the model would have returned with it; an attribute set adds the key too (transformers: only an
    # item set does).
    out = outputs.MaskedLMOutput(logits=logits)
    out.loss = torch.tensor(1.0)
    assert list(out.keys()) == ["loss", "logits"] and out[0] is out.loss
    with pytest.raises(TypeError, match="keys are strings"):
        outputs.MaskedLMOutput({1: logits})


# ---- transformers' pipelines ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("task, head", [("fill-mask", HeadKind.MASKED_LM),
                                        ("text-classification", HeadKind.SEQUENCE_CLASSIFICATION),
                                        ("feature-extraction", HeadKind.BASE)])
def test_pipelines_give_transformers_results(saved, task, head):
    """transformers.pipeline(task, model=ours, tokenizer=ours) against the same pipeline on transformers' model and
    tokenizer; a batch of two (batch_size=2) goes through the pipeline's batch splitting too."""
    ours, theirs = pair(head, saved[head])
    options = {"top_k": None} if task == "text-classification" else {}
    texts = [t.replace("shop", "[MASK]").replace("words", "[MASK]") for t in TEXTS] if task == "fill-mask" else TEXTS
    runs = []
    for model, tokenizer in ((ours, albert_bridge.AlbertTokenizerFast.from_pretrained(TOKENIZER)),
                             (theirs, transformers.AlbertTokenizer.from_pretrained(TOKENIZER))):
        pipe = transformers.pipeline(task, model=model, tokenizer=tokenizer, device="cpu")
        runs.append([pipe(TEXTS[0].replace("shop", "[MASK]") if task == "fill-mask" else TEXTS[0], **options),
                     pipe(texts, batch_size=2, **options)])
    (one, two), (their_one, their_two) = runs
    for got, want in ((one, their_one), *zip(two, their_two)):
        if task == "feature-extraction":
            assert_close({"features": np.array(got)}, {"features": np.array(want)})
            continue
        key = "token_str" if task == "fill-mask" else "label"
        assert [r[key] for r in got] == [r[key] for r in want]
        assert_close({"scores": [r["score"] for r in got]}, {"scores": [r["score"] for r in want]})


# ---- Trainer --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("head, safetensors", [(HeadKind.SEQUENCE_CLASSIFICATION, True), (HeadKind.MASKED_LM, False)])
def test_trainer_trains_saves_and_reloads_as_transformers(saved, tmp_path, head, safetensors):
    """Two steps of Trainer on ours and on transformers' class: the same losses and weights. Trainer saves our
    model's weights alone; SaveConfigCallback adds config.json to each checkpoint, and a save_model folder loads
    with config= (without it: one line naming config=). A tied MLM decoder needs save_safetensors=False, as for any
    model Trainer does not know (safetensors refuses shared tensors)."""
    inputs = batch(TEXTS[:1])
    rows = [{"input_ids": ids, "labels": ids.clone() if head is HeadKind.MASKED_LM else torch.tensor(i % 3)}
            for i, ids in enumerate(inputs["input_ids"][:1].repeat(4, 1))]
    ours, theirs = pair(head, saved[head])
    trained = {}
    for name, model in (("ours", ours), ("theirs", theirs)):
        args = transformers.TrainingArguments(tmp_path / name, max_steps=2, per_device_train_batch_size=2,
                                              save_steps=2, report_to=[], use_cpu=True, seed=0,
                                              save_safetensors=safetensors, logging_steps=1, disable_tqdm=True)
        trainer = transformers.Trainer(model=model, args=args, train_dataset=rows,
                                       callbacks=[albert_bridge.SaveConfigCallback()] if name == "ours" else None)
        trainer.train()
        trainer.save_model(tmp_path / f"{name}-final")
        trained[name] = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert_close({"losses": trained["ours"]}, {"losses": trained["theirs"]})
    # Attention key biases get gradients of rounding noise only (softmax ignores a shift along the keys), which
    # Adam scales up to steps of the learning rate: they agree within the two steps taken.
    state = named(theirs.state_dict())
    assert_close(named(ours.state_dict()), state, atol_for={k: 2 * 2 * args.learning_rate for k in state
                                                             if k.endswith("attention.key.bias")})
    with pytest.raises(ConfigMissing, match=r"no config\.json next to the weights \(pass config="):
        getattr(albert_bridge, CLASSES[head]).from_pretrained(tmp_path / "ours-final")
    reference = getattr(transformers, CLASSES[head]).from_pretrained(tmp_path / "theirs-final")
    for folder, config in ((tmp_path / "ours-final", ours.config), (tmp_path / "ours-final", tmp_path / "ours" /
                                                                    "checkpoint-2" / "config.json"),
                           (tmp_path / "ours" / "checkpoint-2", None)):
        reloaded = getattr(albert_bridge, CLASSES[head]).from_pretrained(folder, config=config)
        with torch.no_grad():
            assert_close(named(reloaded(**batch())), named(reference(**batch())))


def test_trainer_with_safetensors_refuses_a_tied_decoder_as_for_any_model_it_does_not_know(saved, tmp_path):
    """What the README says of MLM heads under Trainer: its state-dict save (safetensors) refuses tied weights."""
    ids = batch(TEXTS[:1])["input_ids"][:1]
    ours, _ = pair(HeadKind.MASKED_LM, saved[HeadKind.MASKED_LM])
    args = transformers.TrainingArguments(tmp_path, report_to=[], use_cpu=True, disable_tqdm=True)
    trainer = transformers.Trainer(model=ours, args=args, train_dataset=[{"input_ids": ids[0], "labels": ids[0]}])
    with pytest.raises(RuntimeError, match="share memory"):
        trainer.save_model(tmp_path / "final")


# ---- tracing --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("head", list(CLASSES))
def test_jit_trace_and_torchscript_give_transformers_outputs(saved, head):
    """torch.jit.trace: a dict output needs strict=False on both (the same refusal without it); torchscript=True
    gives tuples, which trace strictly; the traced models compute transformers' outputs."""
    inputs = batch()
    args = (inputs["input_ids"], inputs["attention_mask"])
    ours, theirs = pair(head, saved[head])
    for model in (ours, theirs):
        with pytest.raises(RuntimeError, match="Encountering a dict at the output of the tracer"):
            torch.jit.trace(model, args)
    with torch.no_grad():
        got, want = (torch.jit.trace(m, args, strict=False)(*args) for m in (ours, theirs))
    assert type(got) is type(want) is dict
    assert_close(named(got), named(want))
    unpadded = (args[0][:1], torch.ones_like(args[1][:1]))  # a trace made without padding still applies masks
    with torch.no_grad():
        got, want = (torch.jit.trace(m, unpadded, strict=False)(*args) for m in (ours, theirs))
    assert_close(named(got), named(want))
    ours, theirs = pair(head, saved[head], torchscript=True)
    assert ours.config.torchscript and not ours.config.use_return_dict
    with torch.no_grad():
        plain = ours(*args, output_hidden_states=True)
        assert type(plain) is tuple and len(plain) == len(theirs(*args, output_hidden_states=True))
        got, want = (torch.jit.trace(m, args)(*args) for m in (ours, theirs))
    assert type(got) is type(want) is tuple
    assert_close(named(got), named(want))


@pytest.mark.onnx
def test_torch_onnx_export_runs_as_transformers_export(saved):
    """The TorchScript-based exporter (dynamo=False) on ours and on transformers', run by ONNX Runtime with a batch
    of another size and length than the export's."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    head = HeadKind.SEQUENCE_CLASSIFICATION
    example = batch()
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    results = []
    for model in pair(head, saved[head]):
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example["input_ids"], example["attention_mask"]), buffer, dynamo=False,
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              dynamic_axes={**axes, "logits": {0: "batch"}})
        session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
        feed = {k: v[:1, :7].numpy() for k, v in example.items() if k in axes}
        results.append({"logits": session.run(["logits"], feed)[0]})
    assert_close(*results)


# ---- peft, accelerate, sentence-transformers, torch.compile ------------------------------------------------------

def test_peft_lora_trains_saves_and_reloads_as_on_transformers(saved, tmp_path):
    peft = pytest.importorskip("peft")
    head = HeadKind.SEQUENCE_CLASSIFICATION
    models, grads = [], []
    for model in pair(head, saved[head]):
        torch.manual_seed(0)  # the same LoRA initialisation for both (lora_B starts at zero: set it too)
        lora = peft.get_peft_model(model, peft.LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["query", "value"]))
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(parameter, generator=torch.Generator().manual_seed(len(name)))
        lora.train()
        lora(**batch(), labels=torch.tensor([0, 2])).loss.backward()
        grads.append({n: p.grad.numpy() for n, p in lora.named_parameters() if p.requires_grad})
        lora.save_pretrained(tmp_path / str(len(models)))
        models.append(lora.eval())
    assert grads[0].keys() == grads[1].keys() and any("lora_A" in n for n in grads[0])
    assert_close(*grads)
    assert sorted(p.name for p in (tmp_path / "0").iterdir()) == sorted(p.name for p in (tmp_path / "1").iterdir())
    base, _ = pair(head, saved[head])
    reloaded = peft.PeftModel.from_pretrained(base, tmp_path / "0")
    with torch.no_grad():
        assert_close(named(reloaded(**batch())), named(models[1](**batch())))


def test_accelerate_init_empty_weights_then_load(saved):
    accelerate = pytest.importorskip("accelerate")
    head = HeadKind.SEQUENCE_CLASSIFICATION
    config = transformers.AlbertConfig.from_pretrained(saved[head])
    built = []
    for module in (albert_bridge, transformers):
        with accelerate.init_empty_weights():
            built.append(getattr(module, CLASSES[head])(config))
    shapes = [{n: (p.shape, p.device.type) for n, p in m.named_parameters()} for m in built]
    assert shapes[0] == shapes[1] and {device for _, device in shapes[0].values()} == {"meta"}
    loaded = [accelerate.load_checkpoint_and_dispatch(m, str(saved[head] / "model.safetensors"),
                                                      device_map={"": "cpu"}).eval() for m in built]
    with torch.no_grad():
        assert_close(named(loaded[0](**batch())), named(loaded[1](**batch())))


def test_sentence_transformers_with_our_model(saved):
    """A SentenceTransformer whose Transformer module runs our AlbertModel: transformers' embeddings."""
    st = pytest.importorskip("sentence_transformers")
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer  # 5.x
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer
    folder = saved[HeadKind.BASE]
    embeddings = []
    for module in (albert_bridge, transformers):
        word = Transformer(str(folder), max_seq_length=32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            word.model = module.AlbertModel.from_pretrained(folder)  # `auto_model` before 5.x
        pooling = Pooling(tiny_config(**CONFIG).hidden_size, pooling_mode="mean")
        embeddings.append({"embeddings": st.SentenceTransformer(modules=[word, pooling], device="cpu").encode(TEXTS)})
    assert_close(*embeddings)


def test_torch_compile_gives_transformers_outputs(saved):
    head = HeadKind.MASKED_LM
    ours, theirs = pair(head, saved[head])
    compiled = torch.compile(ours, backend="aot_eager")  # dynamo traces our model; no C++ toolchain needed
    with torch.no_grad():
        got = compiled(**batch(), output_hidden_states=True)
        assert type(got) is type(ours(**batch()))
        assert_close(named(got), named(theirs(**batch(), output_hidden_states=True)))
