"""Drop-in for transformers 4.57's Flax ALBERT classes (issue 13): code written for them runs on ours unchanged.

Each test makes the same call on transformers and on ours and compares: a user's own jax.jit over a call (outputs are
pytrees), jax.grad of a loss and one optax step, `_do_init=False`, init_weights, required_params, the params setter,
to_bf16/to_fp16/to_fp32 (masks included), bfloat16 compute, gradient checkpointing, num_labels with
ignore_mismatched_sizes. transformers decides at import whether JAX is usable (conftest turns USE_FLAX off), so its
side runs in one subprocess that writes every result it computes; ours runs here. The helpers both sides call are
defined once below and given to the subprocess as source.
"""

import inspect
import json
import os
import subprocess
import sys
from functools import partial

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
optax = pytest.importorskip("optax")

import jax.numpy as jnp  # noqa: E402
from flax.serialization import msgpack_restore  # noqa: E402
from flax.traverse_util import flatten_dict, unflatten_dict  # noqa: E402

import albert_bridge  # noqa: E402
from albert_bridge.formats import get_format  # noqa: E402
from albert_bridge.schema import HeadKind  # noqa: E402
from albert_bridge.testing import make_checkpoint, make_inputs, tiny_config  # noqa: E402
from tests.helpers import ROOT, assert_close  # noqa: E402

pytestmark = [pytest.mark.flax, pytest.mark.slow]  # transformers' results: one Flax reference subprocess

# Within 1e-5 x max(1, max |transformers' value|) per array: the parity harness's float32 tolerance.
TOLERANCE = 1e-5
# XLA's CPU compiles of a gradient take seconds, mostly in LLVM's optimisation passes: both sides compile with
# cheaper ones (same program; floating-point results move by ~1e-7 relative, well inside the tolerance).
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
SGD_RATE = 0.5
# Two passes through one group of one layer: shared weights, and the least for XLA to compile.
CONFIG = dict(num_hidden_layers=2, num_hidden_groups=1, inner_group_num=1)


# --- what both sides run -----------------------------------------------------------------------------------------------
def mlm_loss(model, params, inputs):
    """A masked-LM loss over the attended tokens (the task: reconstruct the input), and the whole output: a user's
    jit returns the output object, so it must be a pytree."""
    out = model(**inputs, params=params, output_hidden_states=True, output_attentions=True)
    log_probs = jax.nn.log_softmax(out.logits.astype(jnp.float32))
    picked = jnp.take_along_axis(log_probs, inputs["input_ids"][..., None], axis=-1)[..., 0]
    mask = inputs["attention_mask"]
    return -(picked * mask).sum() / mask.sum(), out


def training_step(model, inputs):
    """The user's compiled step: loss, outputs and gradients in one program."""
    return jax.jit(jax.value_and_grad(lambda p: mlm_loss(model, p, inputs), has_aux=True))


@jax.jit
def sgd_step(params, grads):
    sgd = optax.sgd(SGD_RATE)
    updates, _ = sgd.update(grads, sgd.init(params), params)
    return optax.apply_updates(params, updates)


def casts(model, params) -> dict:
    """Every cast, with no mask, transformers' to_bf16 docstring mask (its `path[-2] != ("LayerNorm", "bias")` is
    always true: it skips only LayerNorm scales) and a mask skipping every LayerNorm parameter: dtypes by leaf."""
    flat = flatten_dict(params)
    rules = {"docstring": lambda path: path[-2] != ("LayerNorm", "bias") and path[-2:] != ("LayerNorm", "scale"),
             "no-layernorm": lambda path: "LayerNorm" not in path[-2]}
    masks = {name: unflatten_dict({path: rule(path) for path in flat}) for name, rule in rules.items()}
    calls = {"to_bf16": model.to_bf16, "to_fp16": model.to_fp16,
             "to_fp32": lambda p: model.to_fp32(model.to_bf16(p)),
             **{f"to_bf16-{n}": partial(model.to_bf16, mask=m) for n, m in masks.items()},
             **{f"to_fp16-{n}": partial(model.to_fp16, mask=m) for n, m in masks.items()}}
    return {name: paths(jax.eval_shape(call, params)) for name, call in calls.items()}  # traced, nothing compiled


def setter_checks(model, params) -> dict:
    """Assigning params that lack the LayerNorm biases, that have an extra parameter, and complete ones."""
    full = flatten_dict(params)
    lacking = {k: v for k, v in full.items() if k[-2:] != ("LayerNorm", "bias")}
    return {"missing": error(lambda: setattr(model, "params", unflatten_dict(lacking))),
            "extra": error(lambda: setattr(model, "params", unflatten_dict({**full, ("extra", "w"): jnp.ones(1)}))),
            "complete": error(lambda: setattr(model, "params", unflatten_dict(full)))}


def paths(tree) -> dict:
    """Key path -> [shape, dtype]: a pytree's structure as JAX sees it."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(k): [list(np.shape(v)), str(v.dtype)] for k, v in leaves}


def leaves(prefix: str, tree) -> dict:
    return {prefix + jax.tree_util.keystr(k): np.asarray(v, np.float32)
            for k, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def error(call):
    try:
        call()
    except Exception as exc:
        return type(exc).__name__
    return None


SHARED = (mlm_loss, training_step, sgd_step, casts, setter_checks, paths, leaves, error)

REFERENCE = r'''
import json, sys
from functools import partial
import numpy as np, jax, jax.numpy as jnp, optax, transformers
from flax.traverse_util import flatten_dict, unflatten_dict

root, SGD_RATE = sys.argv[1], float(sys.argv[2])
SHARED_SOURCE

inputs = dict(np.load(f"{root}/inputs.npz"))
report, arrays = {}, {}

MLM = transformers.FlaxAlbertForMaskedLM
loaded = MLM.from_pretrained(f"{root}/mlm", _do_init=False)
model, params = loaded
report["do_init_false"] = {"returns": [type(v).__name__ for v in loaded], "params": paths(params),
                           "get": error(lambda: model.params), "set": error(lambda: setattr(model, "params", params))}
report["required_params"] = sorted("/".join(k) for k in model.required_params)
report["init_weights"] = paths(jax.eval_shape(lambda r: model.init_weights(r, (1, 1)), model.key))
report["enable_gradient_checkpointing"] = error(model.enable_gradient_checkpointing)
report["param_dtype"] = error(lambda: MLM.from_pretrained(f"{root}/mlm", _do_init=False, param_dtype=jnp.bfloat16))

(loss, out), grads = training_step(model, inputs)(params)
report["outputs"] = paths(out)
arrays.update(leaves("out", out))
report["loss"] = float(loss)
arrays.update(leaves("grad", grads))
arrays.update(leaves("sgd", sgd_step(params, grads)))

half, half_params = MLM.from_pretrained(f"{root}/mlm", _do_init=False, dtype=jnp.bfloat16)
report["bf16_outputs"] = paths(jax.eval_shape(lambda p: half(**inputs, params=p, output_hidden_states=True),
                                              half_params))
report["casts"] = casts(model, params)

# The params setter of an initialised model. transformers initialises by running the module op by op (11 s of CPU),
# so this model, loaded without, is marked initialised instead: the setter's checks are the same code.
model._is_initialized = True
report["setter"] = setter_checks(model, params)

# A masked-LM checkpoint for a classifier: transformers leaves the missing weights out until init_weights(params).
CLS = transformers.FlaxAlbertForSequenceClassification
classifier, partial = CLS.from_pretrained(f"{root}/mlm", _do_init=False, num_labels=3)
report["missing"] = {"loaded": paths(partial), "initialised": paths(jax.eval_shape(
    lambda r: classifier.init_weights(r, classifier.input_shape, partial), classifier.key))}

# num_labels 3 -> 5: refused, unless ignore_mismatched_sizes (those weights then initialised afresh).
report["mismatch"] = {"refused": error(lambda: CLS.from_pretrained(f"{root}/cls", _do_init=False, num_labels=5)),
                      "params": paths(CLS.from_pretrained(f"{root}/cls", _do_init=False, num_labels=5,
                                                          ignore_mismatched_sizes=True)[1])}
json.dump(report, open(f"{root}/report.json", "w"))
np.savez(f"{root}/arrays.npz", **arrays)
print("done")
'''.replace("SHARED_SOURCE", "\n\n".join(inspect.getsource(f) for f in SHARED))


def assert_close_under(prefix: str, ours: dict, theirs: dict) -> None:
    """Our leaves under `prefix` against transformers' (the leaves of `theirs` under the same prefix)."""
    expected = {k: v for k, v in theirs.items() if k.startswith((prefix + ".", prefix + "["))}
    assert_close(ours, expected, TOLERANCE, scaled=True)


def compiled_step(model, inputs, params, expect_remat: bool = False):
    traced = training_step(model, inputs).trace(params)
    assert ("remat" in str(traced.jaxpr)) == expect_remat  # layers rematerialised only when checkpointing
    return traced.lower().compile(compiler_options=FAST_COMPILE)


def _build(root) -> None:
    """Our checkpoints and inputs, then transformers' results on them (one subprocess)."""
    for head, name, seed in ((HeadKind.MASKED_LM, "mlm", 41), (HeadKind.SEQUENCE_CLASSIFICATION, "cls", 42)):
        get_format("flax").save(make_checkpoint(head, seed=seed, config=tiny_config(**CONFIG)), root / name)
    np.savez(root / "inputs.npz", **make_inputs(HeadKind.MASKED_LM, seed=7))
    env = {**os.environ, "USE_FLAX": "1", "USE_TORCH": "0", "USE_TF": "0", "PYTHONPATH": str(ROOT),
           "XLA_FLAGS": " ".join(f"--{k}={str(v).lower()}" for k, v in FAST_COMPILE.items())}
    run = subprocess.run([sys.executable, "-c", REFERENCE, str(root), str(SGD_RATE)], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=600)
    assert run.returncode == 0 and "done" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    (root / "done").write_text("ok")


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """The directory of checkpoints, inputs and transformers' results, built once per run (the xdist workers share
    it through a lock, as tests/test_flax_models.py's reference)."""
    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.mktemp("flax-dropin")
        _build(root)
        return root
    root = tmp_path_factory.getbasetemp().parent / "flax-dropin"
    with FileLock(str(root) + ".lock"):
        if not (root / "done").is_file():
            root.mkdir(exist_ok=True)
            _build(root)
    return root


@pytest.fixture(scope="session")
def theirs(files):
    """transformers' results: (report, arrays)."""
    return json.loads((files / "report.json").read_text()), dict(np.load(files / "arrays.npz"))


@pytest.fixture(scope="module")
def inputs(files):
    return dict(np.load(files / "inputs.npz"))


@pytest.fixture(scope="module")
def loaded(files):
    """Ours, as transformers users load it: `model, params = ...from_pretrained(..., _do_init=False)`."""
    return albert_bridge.FlaxAlbertForMaskedLM.from_pretrained(files / "mlm", _do_init=False)


def test_do_init_false_returns_model_and_params(loaded, theirs):
    report = theirs[0]["do_init_false"]
    model, params = loaded
    assert [type(loaded[0]).__name__, type(params).__name__] == report["returns"]
    assert paths(params) == report["params"]  # the same key paths, shapes and dtypes
    assert error(lambda: model.params) == report["get"] == "ValueError"
    assert error(lambda: setattr(model, "params", params)) == report["set"] == "ValueError"


def test_init_weights_and_required_params(loaded, theirs):
    model, params = loaded
    assert sorted("/".join(k) for k in model.required_params) == theirs[0]["required_params"]
    assert paths(model.init_weights(jax.random.PRNGKey(0), (1, 1))) == theirs[0]["init_weights"]
    assert paths(params) == theirs[0]["init_weights"]


def test_users_jit_grad_and_optax_steps(loaded, theirs, inputs):
    """One compiled function (XLA compiles a gradient in seconds): it returns the output object, the loss and the
    gradients; one optax SGD step from identical params lands on the same params; a few steps lower the loss."""
    model, params = loaded
    report, arrays = theirs
    function = compiled_step(model, inputs, params)
    (loss, out), grads = function(params)
    assert type(out).__name__ == "FlaxMaskedLMOutput" and list(out.keys()) == ["logits", "hidden_states", "attentions"]
    assert out["logits"] is out.logits and out.to_tuple()[0] is out.logits
    assert paths(out) == report["outputs"]  # `.logits`, `.hidden_states[0]`, ...: the same pytree
    assert_close_under("out", leaves("out", out), arrays)
    assert abs(float(loss) - report["loss"]) <= TOLERANCE * max(1.0, abs(report["loss"]))
    assert_close_under("grad", leaves("grad", grads), arrays)
    assert_close_under("sgd", leaves("sgd", sgd_step(params, grads)), arrays)

    for _ in range(5):  # training with the same two compiled functions: the loss falls
        params = sgd_step(params, function(params)[1])
    (after, _), _ = function(params)
    assert float(after) < 0.8 * float(loss), (loss, after)


def test_gradient_checkpointing_same_outputs_and_grads(files, theirs, inputs):
    """transformers 4.57's Flax ALBERT has no checkpointing (NotImplementedError); ours recomputes each layer and
    gives transformers' outputs, loss and gradients."""
    assert theirs[0]["enable_gradient_checkpointing"] == "NotImplementedError"
    model, params = albert_bridge.FlaxAlbertForMaskedLM.from_pretrained(files / "mlm", _do_init=False)
    model.enable_gradient_checkpointing()
    assert model.module.gradient_checkpointing and paths(params) == theirs[0]["init_weights"]
    (loss, out), grads = compiled_step(model, inputs, params, expect_remat=True)(params)
    assert abs(float(loss) - theirs[0]["loss"]) <= TOLERANCE * max(1.0, abs(theirs[0]["loss"]))
    assert_close_under("out", leaves("out", out), theirs[1])
    assert_close_under("grad", leaves("grad", grads), theirs[1])


def test_to_bf16_fp16_fp32_cast_the_same_leaves(loaded, theirs):
    model, params = loaded
    ours = casts(model, params)
    assert ours == theirs[0]["casts"]
    # No default mask in 4.57: every floating parameter is cast, LayerNorm included.
    assert {dtype for _, dtype in ours["to_bf16"].values()} == {"bfloat16"}
    assert ours["to_bf16-no-layernorm"]["['albert']['embeddings']['LayerNorm']['scale']"][1] == "float32"


def test_bfloat16_compute_and_param_dtype(files, theirs, inputs):
    report, arrays = theirs
    half, params = albert_bridge.FlaxAlbertForMaskedLM.from_pretrained(files / "mlm", _do_init=False,
                                                                       dtype=jnp.bfloat16)
    # Each output in transformers' dtype (float32 MLM logits: the bias is added as stored); traced, not compiled:
    # the values are tests/test_flax_models.py::test_bfloat16_compute's.
    out = jax.eval_shape(lambda p: half(**inputs, params=p, output_hidden_states=True), params)
    assert paths(out) == report["bf16_outputs"]
    # transformers' Flax ALBERT takes no param_dtype; ours loads parameters in it, as its to_bf16 would cast them.
    assert report["param_dtype"] == "TypeError"
    _, stored = albert_bridge.FlaxAlbertForMaskedLM.from_pretrained(files / "mlm", _do_init=False,
                                                                    param_dtype=jnp.bfloat16)
    assert paths(stored) == report["casts"]["to_bf16"]
    file = flatten_dict(msgpack_restore((files / "mlm" / "flax_model.msgpack").read_bytes()))
    assert all(np.array_equal(np.asarray(value), file[path].astype(jnp.bfloat16))
               for path, value in flatten_dict(stored).items())


def test_params_setter_validation(files, theirs):
    model = albert_bridge.FlaxAlbertForMaskedLM.from_pretrained(files / "mlm")
    expected = {"missing": "ValueError", "extra": None, "complete": None}
    assert setter_checks(model, model.params) == theirs[0]["setter"] == expected


def test_missing_weights_then_init_weights(files, theirs):
    """A masked-LM checkpoint in a classifier with _do_init=False: transformers returns the params without the
    pooler and classifier until `init_weights(rng, input_shape, params)`; ours initialises them at once (and
    init_weights keeps what it is given), so the same two calls give the same tree."""
    report = theirs[0]["missing"]
    with pytest.warns(UserWarning, match="newly initialised"):
        model, params = albert_bridge.FlaxAlbertForSequenceClassification.from_pretrained(
            files / "mlm", _do_init=False, num_labels=3)
    assert set(report["loaded"]) < set(paths(params))
    completed = model.init_weights(model.key, model.input_shape, params)
    assert paths(completed) == report["initialised"]
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(params),
                                                     jax.tree_util.tree_leaves(completed)))


def test_num_labels_with_ignore_mismatched_sizes(files, theirs):
    """num_labels 3 -> 5: refused as transformers refuses it (ValueError); with ignore_mismatched_sizes the
    classifier is initialised afresh and every other weight is read from the file."""
    report = theirs[0]["mismatch"]
    cls = albert_bridge.FlaxAlbertForSequenceClassification
    assert report["refused"] == "ValueError"
    with pytest.raises(ValueError):
        cls.from_pretrained(files / "cls", _do_init=False, num_labels=5)
    model, params = cls.from_pretrained(files / "cls", _do_init=False, num_labels=5, ignore_mismatched_sizes=True)
    assert paths(params) == report["params"]
    stored = flatten_dict(msgpack_restore((files / "cls" / "flax_model.msgpack").read_bytes()))
    for path, value in flatten_dict(params).items():
        if path[0] != "classifier":
            assert np.array_equal(value, stored[path]), path
