"""What transformers 4.57's TF classes do in the drop-in checks of test_dropin_tf.py: Keras training, resize, embedding
accessors, serving, dtype. `prepare` (our process) writes one-layer checkpoints and inputs under `dropin/`; `run`
is called by test_tf2_models.py's one reference subprocess (tf-keras, TF_USE_LEGACY_KERAS=1) and imports the
frameworks itself."""

import os

import numpy as np

# head (HeadKind value) -> transformers' TF class
CLASSES = {"base": "TFAlbertModel", "pretraining": "TFAlbertForPreTraining", "masked-lm": "TFAlbertForMaskedLM",
           "sequence-classification": "TFAlbertForSequenceClassification",
           "multiple-choice": "TFAlbertForMultipleChoice", "token-classification": "TFAlbertForTokenClassification",
           "question-answering": "TFAlbertForQuestionAnswering"}
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout_prob": 0.0}
# what each head does in Keras training: losses per example, of shape (1,), and of two labels
TRAINING = {"sequence-classification": ("split", "predict", "fit"), "masked-lm": (), "question-answering": ("predict",)}
LEARNING_RATE = 0.5
RESIZE = (90, 110)


def small_config(head):
    """The tiny test config with one layer: Keras traces (fit, serving) cost a fifth of the five-layer one's."""
    from albert_bridge.testing import tiny_config

    return tiny_config(num_hidden_layers=1, num_hidden_groups=1, inner_group_num=1,
                       num_labels=2 if head in ("pretraining", "question-answering") else 3)


def prepare(work):
    from albert_bridge.formats import get_format
    from albert_bridge.schema import HeadKind
    from albert_bridge.testing import make_checkpoint, make_inputs, make_labels

    for head in CLASSES:
        config = small_config(head)
        get_format("tf").save(make_checkpoint(head, seed=5, config=config), os.path.join(work, "dropin", head))
        inputs = make_inputs(head, seed=3, dtype="int32")
        np.savez(os.path.join(work, "dropin", f"inputs-{head}.npz"), **inputs,
                 **make_labels(HeadKind(head), inputs, config.num_labels))


def batches(work, head, split=False):
    """The head's inputs with labels as one batch: a dict dataset, or (features, labels) tuples."""
    import tensorflow as tf

    data = np.load(os.path.join(work, "dropin", f"inputs-{head}.npz"))
    data = {k: data[k] for k in data.files}
    if split:
        features = {k: data.pop(k) for k in ("input_ids", "attention_mask", "token_type_ids")}
        data = (features, data)
    return tf.data.Dataset.from_tensors(data)


def run(work, results, info):
    import tensorflow as tf
    import tf_keras
    import transformers

    def load(head, **kwargs):
        return getattr(transformers, CLASSES[head]).from_pretrained(os.path.join(work, "dropin", head), **kwargs)

    # Keras training (run eagerly: the same numbers, no tracing): evaluate every loss shape; predict, and one SGD
    # step (dropout off) of fit, with labels in the dict or apart
    for head, steps in TRAINING.items():
        model = load(head, **NO_DROPOUT)
        model.compile(optimizer=tf_keras.optimizers.SGD(LEARNING_RATE), run_eagerly=True)
        results[f"dropin/{head}:evaluate"] = np.asarray(model.evaluate(batches(work, head), verbose=0))
        if "split" in steps:
            results[f"dropin/{head}:evaluate-split"] = np.asarray(model.evaluate(batches(work, head, True), verbose=0))
        if "predict" in steps:
            predicted = model.predict(batches(work, head), verbose=0)
            info[f"dropin/{head}:predict"] = [type(predicted).__name__, list(predicted.keys())]
            for key, value in predicted.items():
                results[f"dropin/{head}:predict.{key}"] = np.asarray(value)
        if "fit" in steps:
            results[f"dropin/{head}:fit"] = np.asarray(model.fit(batches(work, head), verbose=0).history["loss"])
            results[f"dropin/{head}:after-step"] = np.asarray(model.evaluate(batches(work, head), verbose=0))

    # resize_token_embeddings and the embedding accessors
    inputs = dict(np.load(os.path.join(work, "dropin", "inputs-masked-lm.npz")))
    features = {k: inputs[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    for head in ("masked-lm", "sequence-classification"):
        model = load(head)
        embeddings = model.get_input_embeddings()
        info[f"dropin/{head}:embeddings"] = {
            "class": type(embeddings).__name__, "weight": list(embeddings.weight.shape),
            "output_is_input": model.get_output_embeddings() is embeddings,
            "output_none": model.get_output_embeddings() is None,
            "resize_none": [type(model.resize_token_embeddings()).__name__.endswith("Variable"),
                            list(model.resize_token_embeddings().shape)]}
        for size in RESIZE:
            returned = model.resize_token_embeddings(size)
            info[f"dropin/{head}:resize-{size}"] = {"returns": type(returned).__name__,
                                                     "vocab_size": model.config.vocab_size}
            ids = {**features, "input_ids": features["input_ids"] % RESIZE[0]}
            results[f"dropin/{head}:resize-{size}"] = model(ids, training=False)[0].numpy()

    # a new classifier size over a checkpoint's backbone
    model, loading = load("sequence-classification", num_labels=5, ignore_mismatched_sizes=True,
                          output_loading_info=True)
    info["dropin/mismatched"] = {k: sorted(map(str, v)) for k, v in loading.items()}
    results["dropin/mismatched:logits-shape"] = np.asarray(model(features, training=False).logits.shape)

    # serving: the input signature and outputs of every head (save_pretrained(saved_model=True) serves them as
    # `serving_default`, and in int64 as `int64_serving`)
    for head, name in CLASSES.items():
        model = getattr(transformers, name)(transformers.AlbertConfig.from_pretrained(os.path.join(work, "dropin", head)))
        outputs = model.serving_output(model(model.dummy_inputs, training=False))
        info[f"dropin/{head}:serving"] = {
            "inputs": {k: [s.shape.as_list(), s.dtype.name] for k, s in model.input_signature.items()},
            "outputs": sorted(k for k, v in outputs.items() if v is not None)}

    # dtype: from_pretrained(dtype=...) and the mixed_float16 policy (set last: it is global)
    for dtype in ("float16", "bfloat16"):
        model = load("sequence-classification", dtype=dtype)
        info[f"dropin/dtype-{dtype}"] = [model(features, training=False).logits.dtype.name,
                                        sorted({w.dtype.name for w in model.weights})]
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    model = load("sequence-classification")
    logits = model(features, training=False).logits
    info["dropin/mixed_float16"] = [logits.dtype.name, sorted({w.dtype.name for w in model.weights})]
    results["dropin/mixed_float16:logits"] = tf.cast(logits, tf.float32).numpy()
    tf_keras.mixed_precision.set_global_policy("float32")
