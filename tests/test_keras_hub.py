"""keras-hub presets against keras-hub 0.32's own classes (Keras 3, TensorFlow backend).

keras-hub is imported in three processes, all for one test: a subprocess that saves presets with keras-hub itself
(the module fixture), the parity harness's keras-hub worker (shared by every harness call and the push's parity), and
a subprocess loading `hf://` from the loopback Hub. The rest needs no keras-hub.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from albert_bridge.convert import convert
from albert_bridge.errors import BridgeError
from albert_bridge.formats import FORMATS, detect_format, load
from albert_bridge.parity import check
from albert_bridge.inputs import flatten_outputs, make_inputs
from albert_bridge.parity.harness import save_outputs
from albert_bridge.schema import ARCHITECTURES, HeadKind
from tests.helpers import ROOT, assert_same_tensors, cli, one_line_error
from tests.hub_server import TOKEN

pytestmark = [pytest.mark.keras_hub,
              pytest.mark.skipif(importlib.util.find_spec("keras_hub") is None, reason="keras-hub is not installed")]

SPM = ROOT / "fixtures" / "tokenizer" / "spiece.model"
# keras-hub's tokenizer runs the SentencePiece model as it is: no lowercasing, no digit-comma rule (ours follows
# transformers' slow tokenizer): lowercase text without digits before commas.
TEXTS = ["the quick brown fox jumps over the lazy dog.", "hello world, this is albert!", "a b c d e"]
HEADS = ("base", "masked-lm", "sequence-classification")

# Weights drawn larger than keras-hub's initialiser (truncated normal, 0.02) so that every layer shapes the outputs.
GENERATE = r"""
import json, sys
import keras, keras_hub, numpy as np
out, spm, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
keras.utils.set_random_seed(7)
bb = keras_hub.models.AlbertBackbone(vocabulary_size=60, num_layers=4, num_heads=2, embedding_dim=6, hidden_dim=8,
                                     intermediate_dim=12, num_groups=2, num_inner_repetitions=2,
                                     max_sequence_length=20, num_segments=2)
tok = keras_hub.models.AlbertTokenizer(proto=spm)
mlm = keras_hub.models.AlbertMaskedLM(
    backbone=bb, preprocessor=keras_hub.models.AlbertMaskedLMPreprocessor(tok, sequence_length=20))
cls = keras_hub.models.AlbertTextClassifier(
    backbone=bb, num_classes=3, preprocessor=keras_hub.models.AlbertTextClassifierPreprocessor(tok, sequence_length=20))
rng = np.random.default_rng(7)
for w in {id(w): w for m in (bb, mlm, cls) for w in m.weights}.values():
    base = 1.0 if w.path.endswith("gamma") else 0.0
    w.assign((base + 0.3 * rng.standard_normal(w.shape)).astype("float32"))
bb.save_to_preset(out + "/base")
mlm.save_to_preset(out + "/masked-lm")
cls.save_to_preset(out + "/sequence-classification")
json.dump({t: [int(i) for i in np.asarray(tok(t))] for t in texts}, open(out + "/ids.json", "w"))
"""


def _keras_hub_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    return env


@pytest.fixture(scope="module")
def presets(tmp_path_factory) -> Path:
    """Presets saved by keras-hub itself (backbone, masked LM, classifier; seed 7), and its tokenizer's ids."""
    out = tmp_path_factory.mktemp("keras-hub-presets")
    done = subprocess.run([sys.executable, "-c", GENERATE, str(out), str(SPM), json.dumps(TEXTS)],
                          env=_keras_hub_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _mlm_eps_diff(warnings: list[str]) -> float:
    """The MLM logits difference the conversion reported (keras-hub's head LayerNorm eps 1e-5)."""
    [line] = [w for w in warnings if "eps 1e-05" in w]
    return float(re.search(r"max \|diff\| ([0-9.e+-]+)", line).group(1))


def _by_run(report) -> dict[tuple[str, str], object]:
    return {(c.b, c.output): c for c in report.comparisons}


def _saved_preset_both_ways(presets: Path, tmp_path: Path, head: str) -> None:
    """keras-hub's own preset -> safetensors and TF1 -> keras-hub again: the weights come back bit for bit, keras-hub
    runs the re-written presets with exactly its outputs, and the safetensors/TF1 files compute keras-hub's outputs
    within fp32 tolerance (the MLM logits: within the eps difference the conversion measured and reported)."""
    tmp_path.mkdir()
    preset = presets / head
    assert detect_format(preset).name == "keras-hub"
    ckpt = load(preset)
    assert ckpt.head is HeadKind(head) and ckpt.config.inner_group_num == 2 and ckpt.config.num_hidden_groups == 2
    assert not ckpt.report.unknown and ckpt.assets.get("spiece.model") == (
        None if head == "base" else preset / "assets/tokenizer/vocabulary.spm")
    if head != "base":
        assert all("optimizer" in why for name, why in ckpt.report.skipped.items() if name.startswith("task:optimizer"))
    st = convert(preset, tmp_path / "st", ["safetensors"])
    convert(preset, tmp_path / "tf1", ["tf1"])
    back = convert(tmp_path / "st", tmp_path / "kh-st", ["keras-hub"])
    convert(tmp_path / "tf1", tmp_path / "kh-tf1", ["keras-hub"])
    for out in ("kh-st", "kh-tf1"):
        assert_same_tensors(load(tmp_path / out), ckpt)
    if head != "base":  # the tokenizer travels: spiece.model in the HF folder, vocabulary.spm in the preset
        assert (tmp_path / "st" / "spiece.model").read_bytes() == SPM.read_bytes()
        assert (tmp_path / "kh-st" / "assets/tokenizer/vocabulary.spm").read_bytes() == SPM.read_bytes()

    report = check(runs=[(preset, "keras-hub", "keras-hub:saved"), (tmp_path / "st", "numpy", "numpy:st"),
                         (tmp_path / "tf1", "numpy", "numpy:tf1"), (tmp_path / "kh-st", "keras-hub", "keras-hub:st")])
    assert all(run.ok for run in report.runs), [(r.label, r.error, r.skipped) for r in report.runs]
    comparisons = _by_run(report)
    outputs = {"base": {"last_hidden_state", "pooler_output"}}.get(head, {"logits"})
    assert outputs | {f"hidden_states.{i}" for i in range(5)} == {o for _, o in comparisons}
    # keras-hub on our preset: its own numbers exactly (the one from TF1 holds the same bytes: checked above)
    assert all(comparisons["keras-hub:st", o].max_abs_diff == 0 for _, o in comparisons)
    for (label, output), c in comparisons.items():
        if head == "masked-lm" and output == "logits" and label.startswith("numpy"):
            reported = _mlm_eps_diff(st.warnings)
            assert reported > 1e-6 and abs(c.max_abs_diff - reported) <= 1e-5 + 0.01 * reported, (c, reported)
            assert _mlm_eps_diff(back.warnings) == reported
        else:
            assert c.passed, c


def _transformers_checkpoint(directory: Path, head: str) -> Path:
    import torch
    import transformers

    config = transformers.AlbertConfig(vocab_size=99, embedding_size=24, hidden_size=32, num_hidden_layers=4,
                                       num_hidden_groups=2, inner_group_num=2, num_attention_heads=4,
                                       intermediate_size=40, max_position_embeddings=40, num_labels=3)
    classes = {"base": "AlbertModel", "masked-lm": "AlbertForMaskedLM", "pretraining": "AlbertForPreTraining",
               "sequence-classification": "AlbertForSequenceClassification"}
    torch.manual_seed(3)
    model = getattr(transformers, classes[head])(config).eval()
    with torch.no_grad():  # larger than the initialiser's 0.02 so that every layer shapes the outputs
        for name, p in model.named_parameters():
            p.copy_((1.0 if name.endswith("LayerNorm.weight") else 0.0) + 0.3 * torch.randn_like(p))
    model.save_pretrained(directory)
    shutil.copyfile(SPM, directory / "spiece.model")
    return directory


def _transformers_checkpoint_as_a_preset(tmp_path: Path, head: str) -> None:
    """transformers 4.57 -> preset: keras-hub's own class of the head gives transformers' outputs within fp32
    tolerance (MLM logits: within the eps difference reported); pretraining becomes AlbertMaskedLM, its
    sentence-order head named as dropped."""
    tmp_path.mkdir()
    hf = _transformers_checkpoint(tmp_path / "hf", head)
    result = convert(hf, tmp_path / "preset", ["keras-hub"])
    target = "masked-lm" if head == "pretraining" else head
    assert load(tmp_path / "preset").head is HeadKind(target)
    if head == "pretraining":
        skipped = result.checkpoint.report.skipped
        assert {"head.sop.kernel", "head.sop.bias"} <= set(skipped) and "sentence-order" in skipped["head.sop.kernel"]
        assert any("sentence-order head dropped (head.sop.bias, head.sop.kernel)" in w for w in result.warnings)
    # transformers' outputs computed here (this process has torch and transformers already): no worker to start
    import torch
    import transformers

    inputs = make_inputs(target, batch=3, seq_len=16, vocab_size=99)
    model = getattr(transformers, ARCHITECTURES[HeadKind(target)]).from_pretrained(hf).eval()
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, output_hidden_states=True, return_dict=True)
    save_outputs(tmp_path / "transformers.npz", inputs, flatten_outputs(out, skip=("loss", "attentions")),
                 {"backend": "transformers 4.57 (PyTorch)", "head": target})
    report = check(runs=[(tmp_path / "preset", "keras-hub")], expect=tmp_path / "transformers.npz", head=target)
    assert all(run.ok for run in report.runs), [(r.label, r.error, r.skipped) for r in report.runs]
    assert {c.a for c in report.comparisons} == {"expected"}
    assert len(report.comparisons) == (7 if head == "base" else 6)
    for c in report.comparisons:
        if target == "masked-lm" and c.output == "logits":
            reported = _mlm_eps_diff(result.warnings)
            assert abs(c.max_abs_diff - reported) <= 1e-5 + 0.01 * reported, (c, reported)
        else:
            assert c.passed, c


@pytest.mark.hub
@pytest.mark.slow
def test_keras_hub_classes_run_presets_both_ways_and_from_the_hub(presets, tmp_path, online, capsys, monkeypatch):
    """One test, so that one process holds keras-hub's parity worker (its import is the cost): presets keras-hub
    saved, in and out of every other world; transformers' checkpoints as presets; keras-hub's tokenizer on the
    carried model; a pushed preset loaded by keras-hub from the (loopback) Hub and read back as a source."""
    for head in HEADS:
        _saved_preset_both_ways(presets, tmp_path / f"saved-{head}", head)
    for head in [*HEADS, "pretraining"]:
        _transformers_checkpoint_as_a_preset(tmp_path / f"transformers-{head}", head)
    _keras_hub_tokenizer_on_the_carried_vocabulary_gives_our_ids(presets)
    _forced_difference_is_what_keras_hub_computes(tmp_path / "forced")
    from albert_bridge import publish

    monkeypatch.setattr(publish, "REFERENCE_BACKENDS", ("numpy",))  # SRC on the worker already running
    _push_a_preset_that_keras_hub_loads_from_the_hub_and_read_it_back(online, tmp_path / "hub", capsys)


def _forced_difference_is_what_keras_hub_computes(tmp_path: Path) -> None:
    """The difference `--force` prints (the NumPy reference both ways) is the one keras-hub's own run shows."""
    tmp_path.mkdir()
    src = _small(tmp_path, "sequence-classification", hidden_act="gelu")
    result = convert(src, tmp_path / "preset", ["keras-hub"], force=True)
    [line] = [w for w in result.warnings if "--force" in w]
    reported = float(re.search(r"logits ([0-9.e+-]+)", line).group(1))
    report = check(runs=[(src, "numpy"), (tmp_path / "preset", "keras-hub")])
    [logits] = [c for c in report.comparisons if c.output == "logits"]
    assert reported > 1e-5 and not logits.passed and abs(logits.max_abs_diff - reported) <= 1e-5 + 0.01 * reported


def _keras_hub_tokenizer_on_the_carried_vocabulary_gives_our_ids(presets: Path) -> None:
    from albert_bridge import AlbertTokenizer

    ours = AlbertTokenizer.from_pretrained(load(presets / "masked-lm").assets["spiece.model"])
    theirs = json.loads((presets / "ids.json").read_text())
    assert all(len(ids) > 3 for ids in theirs.values())
    assert {t: ours(t, add_special_tokens=False)["input_ids"] for t in TEXTS} == theirs


# ---- refusals: no keras-hub needed ------------------------------------------------------------------------------

def _small(tmp_path: Path, head: str = "masked-lm", **changes) -> Path:
    from albert_bridge.testing import head_config, make_checkpoint
    from albert_bridge.formats import get_format

    config = head_config(HeadKind(head)).updated(num_hidden_layers=4, num_hidden_groups=2, **changes)
    folder = tmp_path / f"src-{head}-{'-'.join(map(str, changes.values()))}"
    get_format("safetensors").save(make_checkpoint(head, seed=5, config=config), folder, None)
    return folder


@pytest.mark.parametrize("head", ["base", "masked-lm", "sequence-classification"])
def test_round_trip_is_bit_exact(tmp_path, head):
    from albert_bridge.formats import get_format
    from albert_bridge.testing import head_config, make_checkpoint

    ckpt = make_checkpoint(head, seed=1, config=head_config(HeadKind(head)).updated(num_hidden_layers=4,
                                                                                    num_hidden_groups=2))
    get_format("keras-hub").save(ckpt, tmp_path)
    back = load(tmp_path)
    assert back.head is ckpt.head and back.problems() == [] and not back.report.unknown
    assert_same_tensors(ckpt, back)
    for key in ("vocab_size", "embedding_size", "hidden_size", "intermediate_size", "num_attention_heads",
                "num_hidden_layers", "num_hidden_groups", "inner_group_num", "max_position_embeddings",
                "type_vocab_size", *(["num_labels"] if head == "sequence-classification" else [])):
        assert getattr(back.config, key) == getattr(ckpt.config, key), key


@pytest.mark.parametrize("fmt", [name for name, f in FORMATS.items() if f.available and not (f.own_directory or f.needs)])
def test_to_and_from_every_other_format(tmp_path, fmt):
    """pretraining in FMT -> keras-hub (masked LM, the sentence-order head dropped) -> FMT: the same tensors."""
    from albert_bridge.formats import get_format
    from albert_bridge.testing import head_config, make_checkpoint

    config = head_config(HeadKind.PRETRAINING).updated(num_hidden_layers=4, num_hidden_groups=2)
    ckpt = make_checkpoint("pretraining", seed=2, config=config)
    get_format(fmt).save(ckpt, tmp_path / "src")
    result = convert(tmp_path / "src", tmp_path / "preset", ["keras-hub"], src_format=fmt)
    assert {"head.sop.kernel", "head.sop.bias"} <= set(result.checkpoint.report.skipped)
    convert(tmp_path / "preset", tmp_path / "back", [fmt])
    assert_same_tensors(ckpt.with_head(HeadKind.MASKED_LM), load(tmp_path / "back", fmt))


@pytest.mark.parametrize("change, needle", [({"hidden_act": "gelu"}, "hidden_act 'gelu'"),
                                            ({"layer_norm_eps": 1e-5}, "layer_norm_eps 1e-05")])
def test_what_keras_hub_computes_differently_is_refused_unless_forced(tmp_path, capsys, change, needle):
    src = _small(tmp_path, **change)
    code, out, err = cli(capsys, "convert", src, tmp_path / "out", "--to", "keras-hub")
    assert code != 0 and not (tmp_path / "out").exists()
    one_line_error(err, needle, "keras-hub", "--force")
    code, out, err = cli(capsys, "convert", src, tmp_path / "out", "--to", "keras-hub", "--force")
    assert code == 0, err
    [line] = [line for line in err.splitlines() if "--force" in line]
    assert needle in line and re.search(r"logits \d\.\d\de-\d\d", line)
    assert load(tmp_path / "out").head is HeadKind.MASKED_LM


@pytest.mark.parametrize("head", ["question-answering", "token-classification", "multiple-choice"])
def test_heads_keras_hub_has_no_task_for_are_refused_in_one_line(tmp_path, capsys, head):
    code, out, err = cli(capsys, "convert", _small(tmp_path, head), tmp_path / "out", "--to", "keras-hub")
    assert code != 0 and not (tmp_path / "out").exists()
    one_line_error(err, f"head {head} has no keras-hub task")


def test_a_preset_shares_no_directory_and_needs_layers_a_multiple_of_groups(tmp_path, capsys):
    code, _, err = cli(capsys, "convert", _small(tmp_path), tmp_path / "out", "--to", "keras-hub,safetensors")
    one_line_error(err, "needs a directory of its own")
    src = ROOT / "fixtures" / "tiny-albert"  # 5 layers in 2 groups
    code, _, err = cli(capsys, "convert", src, tmp_path / "out", "--to", "keras-hub")
    one_line_error(err, "num_hidden_layers (5)", "num_hidden_groups (2)")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
def test_a_damaged_task_weights_file_is_one_line(tmp_path, capsys, damage):
    preset = tmp_path / "preset"
    convert(_small(tmp_path, "sequence-classification"), preset, ["keras-hub"])
    task = preset / "task.weights.h5"
    data = task.read_bytes()
    if damage == "missing":
        task.unlink()
    else:
        task.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x89HDF\r\n" + bytes(200))
    code, _, err = cli(capsys, "convert", preset, tmp_path / "out", "--to", "safetensors")
    assert code != 0 and not (tmp_path / "out").exists()
    one_line_error(err, "task.weights.h5")
    with pytest.raises(BridgeError):
        load(preset).materialize()


# ---- the Hub -----------------------------------------------------------------------------------------------------

LOAD_FROM_HUB = r"""
import sys, numpy as np, keras_hub
model = keras_hub.models.AlbertMaskedLM.from_preset("hf://" + sys.argv[1], preprocessor=None)
local = keras_hub.models.AlbertMaskedLM.from_preset(sys.argv[2], preprocessor=None)
ids = np.array([[5, 6, 7, 8, 9, 10]]); feed = {"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": 1 + 0 * ids,
                                                "mask_positions": np.array([[0, 1, 2, 3, 4, 5]])}
print("MAXDIFF", float(np.max(np.abs(np.asarray(model(feed)) - np.asarray(local(feed))))), model.count_params())
"""


def _push_a_preset_that_keras_hub_loads_from_the_hub_and_read_it_back(online, tmp_path: Path, capsys) -> None:
    tmp_path.mkdir()
    src = _transformers_checkpoint(tmp_path / "hf", "masked-lm")
    code, out, err = cli(capsys, "push", src, "org/tiny-keras", "--formats", "keras-hub,safetensors", "--token", TOKEN)
    one_line_error(err, "keras-hub", "repository of its own")
    code, out, err = cli(capsys, "push", src, "org/tiny-keras", "--formats", "keras-hub", "--token", TOKEN)
    assert code == 0, out + err
    [commit] = [c for c in online.commits if c.repo == "org/tiny-keras"]
    assert {"config.json", "model.weights.h5", "task.json", "task.weights.h5", "metadata.json", "tokenizer.json",
            "preprocessor.json", "assets/tokenizer/vocabulary.spm", "README.md"} == set(commit.files)
    card = commit.files["README.md"].decode()
    assert "library_name: keras-hub" in card and 'AlbertMaskedLM.from_preset("hf://org/tiny-keras")' in card
    assert "repository of its own" in card and "| keras-hub:model.weights.h5 |" in card
    # keras-hub's MLM head eps: the logits differ from the source's by the size the NumPy reference measures
    [expected] = [line for line in card.splitlines() if line.startswith("Expected by design: keras-hub:")]
    assert "logits: max |diff|" in expected and "eps 1e-05" in expected and "PASSED" in card

    local = tmp_path / "local"
    convert(src, local, ["keras-hub"])
    env = {**_keras_hub_env(), "HF_HUB_OFFLINE": "0"}
    done = subprocess.run([sys.executable, "-c", LOAD_FROM_HUB, "org/tiny-keras", str(local)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"MAXDIFF 0\.0 \d+", done.stdout), done.stdout

    code, out, err = cli(capsys, "convert", "org/tiny-keras", tmp_path / "back", "--to", "safetensors")
    assert code == 0, err
    assert_same_tensors(load(tmp_path / "back"), load(local))
