"""What transformers 4.57's TF classes do in the drop-in checks of test_dropin_tf.py: Keras training, resize, embeddings
accessors, serving, dtype. Run by test_tf2_models.py's one reference subprocess (tf-keras, TF_USE_LEGACY_KERAS=1),
on the files and inputs its `_prepare` wrote (`ours/<head>`, `inputs-<head>.npz` with labels); framework imports
stay inside `run`."""

import os

import numpy as np

# head (HeadKind value) -> transformers' TF class
CLASSES = {"base": "TFAlbertModel", "pretraining": "TFAlbertForPreTraining", "masked-lm": "TFAlbertForMaskedLM",
           "sequence-classification": "TFAlbertForSequenceClassification",
           "multiple-choice": "TFAlbertForMultipleChoice", "token-classification": "TFAlbertForTokenClassification",
           "question-answering": "TFAlbertForQuestionAnswering"}
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout_prob": 0.0}
EVALUATED = ("sequence-classification", "masked-lm", "question-answering")  # per-example, (1,) and two-label losses
LEARNING_RATE = 0.5
RESIZE = (90, 110)


def batches(work, head, split=False):
    """The head's inputs with labels as one batch: a dict dataset, or (features, labels) tuples."""
    import tensorflow as tf

    data = np.load(os.path.join(work, f"inputs-{head}.npz"))
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
        return getattr(transformers, CLASSES[head]).from_pretrained(os.path.join(work, "ours", head), **kwargs)

    # Keras training: evaluate, predict, one SGD step (dropout off), with labels in the dict or apart.
    for head in EVALUATED:
        model = load(head, **NO_DROPOUT)
        model.compile(optimizer=tf_keras.optimizers.SGD(LEARNING_RATE))
        results[f"dropin/{head}:evaluate"] = np.asarray(model.evaluate(batches(work, head), verbose=0))
        results[f"dropin/{head}:evaluate-split"] = np.asarray(model.evaluate(batches(work, head, True), verbose=0))
        predicted = model.predict(batches(work, head), verbose=0)
        info[f"dropin/{head}:predict"] = [type(predicted).__name__, list(predicted.keys())]
        for key, value in predicted.items():
            results[f"dropin/{head}:predict.{key}"] = np.asarray(value)
        history = model.fit(batches(work, head), verbose=0).history
        results[f"dropin/{head}:fit"] = np.asarray(history["loss"])
        results[f"dropin/{head}:after-step"] = np.asarray(model.evaluate(batches(work, head), verbose=0))

    # resize_token_embeddings and the embedding accessors
    inputs = dict(np.load(os.path.join(work, "inputs-masked-lm.npz")))
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

    # serving: input signature and outputs of every head; one SavedModel's signatures
    for head, name in CLASSES.items():
        model = getattr(transformers, name)(transformers.AlbertConfig.from_pretrained(os.path.join(work, "ours", head)))
        function = model.serving.get_concrete_function(model.input_signature)
        info[f"dropin/{head}:serving"] = {
            "inputs": {k: [s.shape.as_list(), s.dtype.name] for k, s in model.input_signature.items()},
            "outputs": sorted(function.structured_outputs.keys())}
    model = load("sequence-classification")
    model.save_pretrained(os.path.join(work, "dropin-saved"), saved_model=True)

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
