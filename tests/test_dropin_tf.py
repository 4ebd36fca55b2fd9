"""Drop-in for transformers 4's TF classes (issue 13): Keras training (compile without a loss, fit, evaluate,
predict), resize_token_embeddings and the embedding accessors, serving signatures, dtype and mixed precision; each
against transformers 4.57's TF classes, computed in test_tf2_models.py's one reference subprocess
(tests/tf2_dropin_reference.py)."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import albert_bridge  # noqa: E402
from albert_bridge.models.albert_tf import MODEL_FOR_HEAD  # noqa: E402
from albert_bridge.schema import HeadKind  # noqa: E402
from albert_bridge.testing import make_checkpoint  # noqa: E402
from tests import tf2_dropin_reference as spec  # noqa: E402
from tests import test_tf2_models  # noqa: E402

pytestmark = [pytest.mark.tf, pytest.mark.slow]  # transformers' results: one TF reference subprocess

reference = test_tf2_models.reference  # the shared session fixture: one subprocess for both files

ATOL = 1e-5
# fp16 / bf16 against fp32: max |diff| relative to max |fp32| (the project's tolerances)
HALF_TOLERANCE = {"float16": 5e-3, "mixed_float16": 5e-3, "bfloat16": 2e-2}


def load(work, head: str, **kwargs):
    return MODEL_FOR_HEAD[HeadKind(head)].from_pretrained(work / "dropin" / head, **kwargs)


def features(work, head="masked-lm") -> dict:
    data = np.load(work / "dropin" / f"inputs-{head}.npz")
    return {k: data[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("head", spec.TRAINING)
def test_keras_training_matches_transformers(reference, head):
    """compile(optimizer) with no loss, then evaluate / predict / one SGD step of fit, as transformers' TF does
    (both run eagerly here; test_fit_trains_... runs Keras' graphs)."""
    work, results, info = reference
    theirs = {k.split(":", 1)[1]: v for k, v in results.items() if k.startswith(f"dropin/{head}:")}
    steps = spec.TRAINING[head]
    model = load(work, head, **spec.NO_DROPOUT)
    model.compile(optimizer=keras.optimizers.SGD(spec.LEARNING_RATE), run_eagerly=True)
    np.testing.assert_allclose(model.evaluate(spec.batches(work, head), verbose=0), theirs["evaluate"], atol=ATOL)
    if "split" in steps:  # (features, labels) batches: the labels go into the inputs
        np.testing.assert_allclose(model.evaluate(spec.batches(work, head, split=True), verbose=0),
                                   theirs["evaluate-split"], atol=ATOL)
    if "predict" in steps:  # the output class (transformers' name less TF), numpy arrays, the loss included
        predicted = model.predict(spec.batches(work, head), verbose=0)
        their_class, their_keys = info[f"dropin/{head}:predict"]
        assert "TF" + type(predicted).__name__ == their_class and list(predicted.keys()) == their_keys
        for key in their_keys:
            assert isinstance(predicted[key], np.ndarray)
            np.testing.assert_allclose(predicted[key], theirs[f"predict.{key}"], atol=2e-5)
    if "fit" in steps:
        np.testing.assert_allclose(model.fit(spec.batches(work, head), verbose=0).history["loss"], theirs["fit"],
                                   atol=ATOL)
        # the same step was taken: the same loss after it
        np.testing.assert_allclose(model.evaluate(spec.batches(work, head), verbose=0), theirs["after-step"],
                                   atol=1e-4)


def test_fit_trains_with_dropout_and_save_reloads(tmp_path):
    """compile(optimizer="adam", metrics) + fit in Keras' graphs, dropout on, on (features, labels) batches: the loss
    goes down (eight examples learnt by heart); predict in a graph; saved after fit, the model reloads identically."""
    keras.utils.set_random_seed(0)  # dropout masks (and initialisers) repeatable
    config = spec.small_config("sequence-classification")
    model = albert_bridge.TFAlbertForSequenceClassification(config)
    model.load_checkpoint(make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION, seed=3, config=config))
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 99, (8, 8)).astype(np.int32)
    data = tf.data.Dataset.from_tensors(({"input_ids": ids}, rng.integers(0, 3, 8)))
    model.compile(optimizer="adam", metrics=["accuracy"])
    model.optimizer.learning_rate.assign(3e-3)
    history = model.fit(data, epochs=15, verbose=0).history
    assert max(history["loss"][-3:]) < 0.6 * history["loss"][0] and "accuracy" in history, history
    predicted = model.predict(data, verbose=0)
    model.save_pretrained(tmp_path)
    again = albert_bridge.TFAlbertForSequenceClassification.from_pretrained(tmp_path)
    for name, variable in model.named_variables().items():
        assert np.array_equal(variable.numpy(), again.named_variables()[name].numpy()), name
    again.compile_inference = False  # one eager call costs less than a trace
    np.testing.assert_allclose(predicted.logits, again(ids).logits.numpy(), atol=ATOL)


@pytest.mark.parametrize("head", ["masked-lm", "sequence-classification"])
def test_resize_and_embedding_accessors_match_transformers(reference, head):
    work, results, info = reference
    model = load(work, head)
    embeddings = model.get_input_embeddings()
    theirs = info[f"dropin/{head}:embeddings"]
    assert type(embeddings).__name__ == theirs["class"] and list(embeddings.weight.shape) == theirs["weight"]
    assert (model.get_output_embeddings() is embeddings) == theirs["output_is_input"]
    assert (model.get_output_embeddings() is None) == theirs["output_none"]
    unchanged = model.resize_token_embeddings()
    assert [isinstance(unchanged, keras.Variable), list(unchanged.shape)] == theirs["resize_none"]
    for size in spec.RESIZE:
        returned = model.resize_token_embeddings(size)
        assert {"returns": type(returned).__name__, "vocab_size": model.config.vocab_size} == \
            info[f"dropin/{head}:resize-{size}"]
        inputs = {**features(work), "input_ids": features(work)["input_ids"] % spec.RESIZE[0]}
        ours, expected = model(**inputs)[0].numpy(), results[f"dropin/{head}:resize-{size}"]
        assert ours.shape == expected.shape
        # rows beyond the kept ones are freshly drawn on both sides: the logits of kept ids agree
        np.testing.assert_allclose(ours[..., :spec.RESIZE[0]], expected[..., :spec.RESIZE[0]], atol=2e-5)
    assert len(model.weights) == len(model.named_variables())  # the replaced variables are untracked


def test_serving_signatures_match_transformers(reference, tmp_path):
    work, _, info = reference
    config = albert_bridge.AlbertConfig.from_pretrained(work / "dropin" / "base")
    for head in spec.CLASSES:  # no tracing needed: both come from the head (traced below for one)
        model = MODEL_FOR_HEAD[HeadKind(head)](config)
        ours = {"inputs": {k: [s.shape.as_list(), s.dtype.name] for k, s in model.input_signature.items()},
                "outputs": sorted(model.serving_output_names())}
        assert ours == info[f"dropin/{head}:serving"], head
    # save_pretrained(saved_model=True): transformers' two signatures, traced from `serving`
    model = load(work, "sequence-classification")
    model.save_pretrained(tmp_path, saved_model=True)
    signatures = tf.saved_model.load(str(tmp_path / "saved_model" / "1")).signatures
    assert sorted(signatures) == ["int64_serving", "serving_default"]
    theirs = info["dropin/sequence-classification:serving"]
    for name, dtype in (("serving_default", "int32"), ("int64_serving", "int64")):
        inputs = signatures[name].structured_input_signature[1]
        assert {k: [s.shape.as_list(), s.dtype.name] for k, s in inputs.items()} == \
            {k: [shape, dtype] for k, (shape, _) in theirs["inputs"].items()}
        assert sorted(signatures[name].structured_outputs) == theirs["outputs"]
    served = signatures["int64_serving"](**{k: tf.constant(v, tf.int64) for k, v in features(work).items()})
    np.testing.assert_allclose(served["logits"].numpy(), model(**features(work)).logits.numpy(), atol=ATOL)


def test_dtype_and_mixed_precision(reference):
    """dtype="float16"/"bfloat16" gives a half-precision model (transformers 4.57 sets the policy of its outer
    model only and computes in float32); the mixed_float16 policy computes in float16 as theirs does."""
    work, results, info = reference
    head = "sequence-classification"
    inputs = features(work)
    full = load(work, head)(**inputs).logits.numpy()
    for dtype in ("float16", "bfloat16"):
        model = load(work, head, dtype=dtype)
        logits = model(**inputs).logits
        assert logits.dtype.name == dtype and {v.dtype for v in model.weights} == {dtype}
        assert relative(logits, full) <= HALF_TOLERANCE[dtype]
        assert info[f"dropin/dtype-{dtype}"] == ["float32", ["float32"]]  # theirs: float32 throughout
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = load(work, head, **spec.NO_DROPOUT)
        logits = model(**inputs).logits
        assert [logits.dtype.name, sorted({v.dtype for v in model.weights})] == info["dropin/mixed_float16"]
        assert relative(logits, full) <= HALF_TOLERANCE["mixed_float16"]
        assert relative(logits, results["dropin/mixed_float16:logits"]) <= HALF_TOLERANCE["mixed_float16"]
        model.compile(optimizer="sgd")  # Keras scales the loss under mixed_float16
        loss = model.fit(spec.batches(work, head), verbose=0).history["loss"][0]
        assert np.isfinite(loss) and abs(loss - results[f"dropin/{head}:evaluate"]) < 5e-3
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_new_classifier_size_over_a_checkpoint(reference):
    work, results, info = reference
    model, loading = load(work, "sequence-classification", num_labels=5, ignore_mismatched_sizes=True,
                          output_loading_info=True)
    assert model(**features(work)).logits.shape == tuple(results["dropin/mismatched:logits-shape"])
    names = sorted(str(k[0] if isinstance(k, (tuple, list)) else k) for k in loading["mismatched_keys"])
    # theirs: (name, checkpoint shape, model shape) as strings; the same names without the model name
    assert names == sorted(k.split("'")[1] for k in info["dropin/mismatched"]["mismatched_keys"])
