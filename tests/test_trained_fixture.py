"""The trained fixture (fixtures/trained, made by fixtures/trained/make_trained.py): its committed numbers are
recomputed here on the held-aside text with transformers 4.57's classes and tokenizer and with ours, the masked LM is
at least four times the unigram baseline there, and transformers' fill-mask pipeline answers alike on both classes."""

import json

import pytest
import torch
import transformers

import albert_bridge
from fixtures.trained.make_trained import HERE, MAX_LENGTH, classifier_accuracy, mlm_scores, sequence_predict, torch_predict

pytestmark = pytest.mark.torch

MLM, CLASSIFIER = HERE / "mlm", HERE / "classifier"
METRICS = json.loads((HERE / "metrics.json").read_text(encoding="utf-8"))
HELDOUT = (HERE / "heldout.txt").read_text(encoding="utf-8").splitlines()
HELDOUT_CLASSIFY = [(int(label), text) for label, text in
                    (line.split("\t", 1) for line in (HERE / "heldout-classify.tsv").read_text("utf-8").splitlines())]
FILL_MASK = "This method is called by the [MASK]."
CLASSES = {"transformers": (transformers.AlbertForMaskedLM, transformers.AlbertForSequenceClassification),
           "ours": (albert_bridge.AlbertForMaskedLM, albert_bridge.AlbertForSequenceClassification)}


@pytest.fixture(scope="module")
def tokenizer():
    """transformers' slow AlbertTokenizer (the reference), checked against ours on every held-aside line."""
    reference = transformers.AlbertTokenizer.from_pretrained(MLM)
    ours = albert_bridge.AlbertTokenizer.from_pretrained(MLM)
    for line in HELDOUT:
        assert ours.encode(line, add_special_tokens=False) == reference.encode(line, add_special_tokens=False), line
    return reference


def _tokenize(tokenizer):
    return lambda text: tokenizer.encode(text, add_special_tokens=False)[:MAX_LENGTH - 2]


def test_committed_files_are_small_and_in_transformers_layout():
    files = [p for p in HERE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) <= 8_000_000
    for sub in (MLM, CLASSIFIER):
        assert {"config.json", "model.safetensors", "spiece.model", "tokenizer_config.json"} <= {p.name for p in
                                                                                                 sub.iterdir()}
    assert len(HELDOUT) == METRICS["heldout_sentences"] == len(HELDOUT_CLASSIFY)


@pytest.mark.parametrize("implementation", sorted(CLASSES))
def test_masked_lm_accuracy_is_reproduced_and_four_times_the_unigram_baseline(implementation, tokenizer):
    model = CLASSES[implementation][0].from_pretrained(MLM).eval()
    ids = [_tokenize(tokenizer)(line) for line in HELDOUT]
    got = mlm_scores(torch_predict(model), ids, tokenizer.mask_token_id, METRICS["mlm"]["unigram_piece_id"])
    want = METRICS["mlm"]
    assert got["masked_positions"] == want["masked_positions"]
    assert got["unigram_baseline_accuracy"] == pytest.approx(want["unigram_baseline_accuracy"])
    # a flipped argmax or two between torch builds is tolerated, not more
    assert got["top1_accuracy"] == pytest.approx(want["top1_accuracy"], abs=2 / want["masked_positions"])
    assert got["top1_accuracy"] >= 4 * got["unigram_baseline_accuracy"]


@pytest.mark.parametrize("implementation", sorted(CLASSES))
def test_classifier_accuracy_is_reproduced(implementation, tokenizer):
    model = CLASSES[implementation][1].from_pretrained(CLASSIFIER).eval()
    assert model.config.id2label == {0: "original", 1: "shuffled"}
    got = classifier_accuracy(sequence_predict(model), HELDOUT_CLASSIFY, _tokenize(tokenizer))
    want = METRICS["classifier"]["heldout_accuracy"]
    assert got == pytest.approx(want, abs=2 / len(HELDOUT_CLASSIFY))
    assert got >= 0.90  # a coin scores 0.5


def test_fill_mask_pipeline_answers_alike_with_both_implementations(tokenizer):
    """transformers' fill-mask pipeline on its class and on ours: the same ranked words, each a word of the text."""
    answers = {}
    for implementation, (masked_lm, _) in CLASSES.items():
        model = masked_lm.from_pretrained(MLM).eval()
        with torch.no_grad():
            answers[implementation] = transformers.pipeline("fill-mask", model=model, tokenizer=tokenizer, top_k=5)(
                FILL_MASK)
    words = [[a["token_str"] for a in answers[i]] for i in sorted(answers)]
    assert words[0] == words[1]
    assert all(word.isalpha() for word in words[0]), words[0]
    for ours, theirs in zip(answers["ours"], answers["transformers"]):
        assert ours["score"] == pytest.approx(theirs["score"], abs=1e-5)
