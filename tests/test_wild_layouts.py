"""Checkpoints from the wild (issue 19): Google's zh releases (E = H, a config that omits what the tensors fix),
brightmart/albert_zh (post-LN read, pre-LN refused), unknown bundles, and the family `inspect` names.

Expected values come from each layout's own code: brightmart's modeling.py and run_pretraining.py run by
fixtures/wild/make_brightmart.py (committed outputs), and the NumPy transcription of google-research's code
(tests/tf1_reference.py). Every conversion is written in every format here and run in transformers 4.57 (PyTorch)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from albert_bridge.convert import convert
from albert_bridge.formats import FORMATS, load
from albert_bridge.formats.tf_bundle import BundleReader, write_bundle
from fixtures.tf1.generate import COMMITTED, ORIGINAL_CONFIG, write_checkpoint
from tests.helpers import FIXTURE, ROOT, assert_close, cli, one_line_error
from tests.tf1_reference import OriginalAlbert, sample_inputs

BRIGHTMART = ROOT / "fixtures" / "wild" / "brightmart_tiny"
# Every format this environment can write (ONNX and PyTorch .bin need their framework) into a shared directory
# (keras-hub's presets: tests/test_keras_hub.py).
WRITABLE = [name for name, fmt in FORMATS.items()
            if fmt.available and fmt.in_all and (fmt.needs is None or importlib.util.find_spec(fmt.needs))]
# What Google's zh releases leave out of albert_config.json (they omit embedding_size; the rest is ours, to show
# every size the tensors fix being taken from them).
OMITTED = ("embedding_size", "vocab_size", "max_position_embeddings", "intermediate_size", "num_hidden_groups",
           "inner_group_num")
ZH_CONFIG = {**ORIGINAL_CONFIG, "embedding_size": ORIGINAL_CONFIG["hidden_size"]}  # E = H: no projection written


def google_zh(directory: Path, **config_changes) -> Path:
    """A google-research-named checkpoint with E = H and no projection, its config without OMITTED."""
    prefix = write_checkpoint(directory, config=ZH_CONFIG, seed=13, tokenizer=False)
    stated = {k: v for k, v in ZH_CONFIG.items() if k not in OMITTED}
    (directory / "albert_config.json").write_text(json.dumps({**stated, **config_changes}, indent=2))
    return prefix


def convert_everywhere(src: Path, out: Path, capsys) -> str:
    """`convert SRC OUT --to <every format>` through the CLI; its log. Then each format's files reload to the same
    tensors as the safetensors ones (convert verified each against the source, bit for bit, before the rename)."""
    code, log, err = cli(capsys, "convert", src, out, "--to", ",".join(WRITABLE))
    assert code == 0, err
    reference = load(out, "safetensors").with_projection()
    for name in WRITABLE:
        ckpt = load(out, name).with_projection()  # tf1 omits the identity projection (E = H), as Google's code does
        assert ckpt.head is reference.head and set(ckpt.tensors) == set(reference.tensors), name
        for key, tensor in ckpt.tensors.items():
            assert np.array_equal(tensor.read(), reference.tensors[key].read()), (name, key)
    return log


def transformers_outputs(directory: Path, ids, types, mask) -> dict[str, np.ndarray]:
    import torch
    from transformers import AlbertForPreTraining

    model = AlbertForPreTraining.from_pretrained(directory).eval()
    inputs = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
    with torch.no_grad():
        got = model(**{k: torch.tensor(np.asarray(v, np.int64)) for k, v in inputs.items()}, output_hidden_states=True)
    return {"sequence_output": got.hidden_states[-1].numpy(), "mlm_logits": got.prediction_logits.numpy(),
            "sop_logits": got.sop_logits.numpy(), **{f"layer_{i}": h.numpy() for i, h in enumerate(got.hidden_states[1:])}}


def through_tf1(out: Path, tmp_path: Path) -> Path:
    """What the tf1 files in OUT read as, written again as safetensors (for transformers to run)."""
    convert(out, tmp_path / "from-tf1", ["safetensors"], src_format="tf1")
    return tmp_path / "from-tf1"


# ---- Google's zh releases: E = H, sizes the config omits --------------------------------------------------------

@pytest.mark.torch
def test_google_zh_takes_omitted_sizes_from_the_tensors(tmp_path, capsys):
    prefix = google_zh(tmp_path / "zh")
    code, out, err = cli(capsys, "inspect", tmp_path / "zh")
    assert code == 0, err
    assert "layout      Google zh (E = H, no projection)" in out
    assert "inferred    embedding_size 32 taken from bert/embeddings/word_embeddings (the config does not say)" in out
    inferred = [line for line in out.splitlines() if line.startswith("inferred")]
    # type_vocab_size is not stated either, but its default (2) is what the tensors hold: nothing to say.
    assert {line.split()[1] for line in inferred} == set(OMITTED), inferred
    assert "validation  ok" in out

    log = convert_everywhere(tmp_path / "zh", tmp_path / "out", capsys)
    assert "inferred embedding_size 32 taken from bert/embeddings/word_embeddings (the config does not say)" in log
    assert "layout Google zh (E = H, no projection)" in log

    ref = OriginalAlbert({n: r for n, r in _bundle(prefix).items()}, ZH_CONFIG)
    ids, types, mask = sample_inputs(ZH_CONFIG)
    sequence, layers = ref.encode(ids, types, mask)
    want = {"sequence_output": sequence, "mlm_logits": ref.mlm_logits(sequence),
            "sop_logits": ref.sop_logits(ref.pooled(sequence)), **{f"layer_{i}": h for i, h in enumerate(layers)}}
    assert_close(transformers_outputs(tmp_path / "out", ids, types, mask), want)
    assert_close(transformers_outputs(through_tf1(tmp_path / "out", tmp_path), ids, types, mask), want)
    written = json.loads((tmp_path / "out" / "albert_config.json").read_text())
    assert written["embedding_size"] == 32 and not any("embedding_hidden_mapping_in" in n
                                                       for n in _bundle(tmp_path / "out" / "model.ckpt-best"))


@pytest.mark.parametrize(("field", "value", "needles"), [
    ("embedding_size", 128, ("embedding_size 128", "bert/embeddings/word_embeddings", "[99, 32]")),
    ("intermediate_size", 64, ("intermediate_size 64", "ffn_1/intermediate/dense/kernel", "[32, 40]")),
    ("num_hidden_groups", 1, ("num_hidden_groups 1", "group_1/", "num_hidden_groups 2")),
])
def test_a_stated_size_the_tensors_contradict_is_refused_naming_both(tmp_path, capsys, field, value, needles):
    google_zh(tmp_path / "zh", **{field: value})
    for command in (("inspect", tmp_path / "zh"), ("convert", tmp_path / "zh", tmp_path / "out", "--to", "safetensors")):
        code, _, err = cli(capsys, *command)
        assert code == 3
        one_line_error(err, "the config says", *needles)
    assert not (tmp_path / "out").exists()


# ---- brightmart/albert_zh -----------------------------------------------------------------------------------------

@pytest.mark.torch
def test_brightmart_post_ln_reproduces_brightmarts_own_outputs(tmp_path, capsys):
    expected = dict(np.load(BRIGHTMART / "expected.npz"))
    inputs = [expected.pop(k) for k in ("input_ids", "token_type_ids", "attention_mask")]
    expected.pop("pooled_output")
    log = convert_everywhere(BRIGHTMART, tmp_path / "out", capsys)
    assert "layout brightmart post-LN" in log
    assert "inferred embedding_size 32 (E = H): bert/embeddings/word_embeddings [97, 24] @ " \
           "bert/embeddings/word_embeddings_2 [24, 32] stored as one [97, 32] table" in log
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert (config["embedding_size"], config["hidden_size"], config["hidden_act"]) == (32, 32, "gelu_new")
    assert "ln_type" not in config and "pooler_type" not in config  # brightmart's own keys: nothing reads them

    for directory in (tmp_path / "out", through_tf1(tmp_path / "out", tmp_path)):
        got = transformers_outputs(directory, *inputs)
        got["mlm_logits"] = got["mlm_logits"].reshape(-1, got["mlm_logits"].shape[-1])  # brightmart: [B * T, V]
        worst = assert_close(got, expected)
        print(directory.name, "max |diff| against brightmart's TF outputs", worst)


def test_brightmart_word_embeddings_are_the_product_rounded_once():
    ckpt = load(BRIGHTMART)
    with BundleReader(BRIGHTMART / "albert_model.ckpt") as reader:
        word, projection = reader.read("bert/embeddings/word_embeddings"), reader.read("bert/embeddings/word_embeddings_2")
    product = (word.astype(np.float64) @ projection.astype(np.float64)).astype(np.float32)
    assert np.array_equal(ckpt.tensors["embeddings.word"].read(), product)
    assert "encoder.projection.kernel" not in ckpt.tensors and ckpt.config.embedding_size == 32
    assert ckpt.report.unknown == [] and ckpt.report.consumed == 31  # every variable, the projection in the product


def test_brightmart_pre_ln_is_refused_in_one_line(tmp_path, capsys):
    shutil.copytree(BRIGHTMART, tmp_path / "src")
    config = tmp_path / "src" / "albert_config_tiny.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "ln_type": "preln"}))
    for command in (("inspect", tmp_path / "src"), ("convert", tmp_path / "src", tmp_path / "out", "--to", "safetensors")):
        code, _, err = cli(capsys, *command)
        assert code == 3
        one_line_error(err, "pre-LayerNorm", "ln_type 'preln'", "transformers' ALBERT is post-LayerNorm",
                       "albert_model.ckpt", "bert/embeddings/word_embeddings_2")
    assert not (tmp_path / "out").exists()


def test_brightmart_without_ln_type_reads_as_post_ln(tmp_path):
    shutil.copytree(BRIGHTMART, tmp_path / "src")
    config = tmp_path / "src" / "albert_config_tiny.json"
    config.write_text(json.dumps({k: v for k, v in json.loads(config.read_text()).items() if k != "ln_type"}))
    assert load(tmp_path / "src").report.layout == "brightmart post-LN"


# ---- unknown bundles and the family inspect names -----------------------------------------------------------------

def test_an_unknown_bundle_lists_its_five_most_telling_names(tmp_path, capsys):
    """A BERT checkpoint (per-layer names, no ALBERT sharing): refused with its largest model variables."""
    rng = np.random.default_rng(0)
    shapes = {"bert/embeddings/word_embeddings": (99, 32), "bert/embeddings/position_embeddings": (40, 32),
              "bert/encoder/layer_0/intermediate/dense/kernel": (32, 40),
              "bert/encoder/layer_0/output/dense/kernel": (40, 32),
              "bert/encoder/layer_0/attention/self/query/kernel": (32, 32),
              "bert/encoder/layer_0/attention/self/query/bias": (32,), "bert/pooler/dense/bias": (32,)}
    tensors = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    tensors["bert/embeddings/word_embeddings/adam_m"] = np.zeros((99, 32), np.float32)  # a slot: never telling
    tensors["global_step"] = np.int64(7)
    write_bundle(tmp_path / "src" / "bert_model.ckpt", tensors)
    (tmp_path / "src" / "albert_config.json").write_text(json.dumps(ORIGINAL_CONFIG))
    code, _, err = cli(capsys, "convert", tmp_path / "src", tmp_path / "out", "--to", "safetensors")
    assert code == 3
    one_line_error(err, "not an ALBERT layout this tool knows", "google-research TF1", "brightmart post-LN",
                   "the most telling of its 9 variables: bert/embeddings/word_embeddings [99, 32]; "
                   "bert/embeddings/position_embeddings [40, 32]; bert/encoder/layer_0/intermediate/dense/kernel "
                   "[32, 40]; bert/encoder/layer_0/output/dense/kernel [40, 32]; "
                   "bert/encoder/layer_0/attention/self/query/kernel [32, 32]")
    assert "adam_m" not in err and "query/bias" not in err


@pytest.mark.parametrize(("source", "family"), [
    (COMMITTED, "google-research TF1"),
    (FIXTURE, "transformers"),
    (BRIGHTMART, "brightmart post-LN"),
])
def test_inspect_names_the_family(capsys, source, family):
    code, out, err = cli(capsys, "inspect", source)
    assert code == 0, err
    assert f"\nlayout      {family}\n" in out
    code, out, _ = cli(capsys, "inspect", source, "--json", "-")
    assert json.loads(out)["layout"] == family


def test_a_tf_hub_module_says_so(tmp_path):
    write_checkpoint(tmp_path / "hub", layout="hub", seed=4, slots=False, global_step=None, tokenizer=False)
    assert load(tmp_path / "hub").report.layout == "google-research TF1 in a TF-Hub module"


def _bundle(prefix: Path) -> dict[str, np.ndarray]:
    with BundleReader(prefix) as reader:
        return {name: reader.read(name) for name in reader}


@pytest.mark.parametrize("backend", [pytest.param("", marks=pytest.mark.torch), pytest.param("TF", marks=pytest.mark.tf),
                                     pytest.param("Flax", marks=pytest.mark.flax)], ids=["torch", "tf", "flax"])
def test_our_backends_read_brightmart_directly(backend):
    """E = H without a projection in every backend of ours: each builds the identity the checkpoint lacks."""
    import albert_bridge

    expected = dict(np.load(BRIGHTMART / "expected.npz"))
    inputs = {k: expected[k].astype(np.int64) for k in ("input_ids", "token_type_ids", "attention_mask")}
    model = getattr(albert_bridge, f"{backend}AlbertForPreTraining").from_pretrained(BRIGHTMART)
    if backend == "":
        import torch

        model.eval()
        with torch.no_grad():
            got = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, output_hidden_states=True)
    else:
        got = model(**inputs, output_hidden_states=True)
    vocab = expected["mlm_logits"].shape[-1]
    assert_close({"sequence_output": np.asarray(got.hidden_states[-1]), "sop_logits": np.asarray(got.sop_logits),
                  "mlm_logits": np.asarray(got.prediction_logits).reshape(-1, vocab)},
                 {k: expected[k] for k in ("sequence_output", "sop_logits", "mlm_logits")})


@pytest.mark.torch
def test_brightmart_classifier_head(tmp_path):
    """run_classifier.py's head, on brightmart's own pooled output: logits = pooled @ output_weights^T + output_bias
    (post-LN: no extra LayerNorm), the pretraining heads gone as after fine-tuning."""
    import torch
    from transformers import AlbertForSequenceClassification

    rng = np.random.default_rng(2)
    tensors = {n: t for n, t in _bundle(BRIGHTMART / "albert_model.ckpt").items() if not n.startswith("cls/")}
    weights, bias = rng.standard_normal((3, 32)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    write_bundle(tmp_path / "src" / "albert_model.ckpt", {**tensors, "output_weights": weights, "output_bias": bias})
    shutil.copyfile(BRIGHTMART / "albert_config_tiny.json", tmp_path / "src" / "albert_config_tiny.json")
    result = convert(tmp_path / "src", tmp_path / "out", ["safetensors"])
    assert result.checkpoint.report.layout == "brightmart post-LN"
    assert "num_labels 3 taken from output_weights (the config does not say)" in result.checkpoint.report.inferred
    expected = np.load(BRIGHTMART / "expected.npz")
    model = AlbertForSequenceClassification.from_pretrained(tmp_path / "out").eval()
    with torch.no_grad():
        got = model(**{k: torch.tensor(expected[k].astype(np.int64))
                       for k in ("input_ids", "token_type_ids", "attention_mask")}).logits.numpy()
    assert_close({"logits": got}, {"logits": expected["pooled_output"].astype(np.float64) @ weights.T + bias})
