"""Our Flax classes: parity with our PyTorch classes, and with transformers 4.57's Flax classes in both directions,
for every head; dropout, bfloat16 compute, jit caching, from_pretrained from any format, save_pretrained."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
torch = pytest.importorskip("torch")

import jax.numpy as jnp  # noqa: E402

import albert_bridge  # noqa: E402
from albert_bridge.arrays import arrays_equal  # noqa: E402
from albert_bridge.formats import get_format, load  # noqa: E402
from albert_bridge.formats import hf_flax_msgpack as fm  # noqa: E402
from albert_bridge.models.albert_flax import FLAX_MODEL_FOR_HEAD  # noqa: E402
from albert_bridge.models.albert_torch import MODEL_FOR_HEAD  # noqa: E402
from albert_bridge.schema import ARCHITECTURES, HeadKind  # noqa: E402
from albert_bridge.testing import flatten_outputs, head_config, make_checkpoint, make_inputs, tiny_config  # noqa: E402
from tests.helpers import ALL_HEADS, ROOT, flatten_tree, torch_inputs  # noqa: E402

pytestmark = pytest.mark.flax

ATOL = 1e-5
# bfloat16 keeps 8 bits of mantissa (relative step 2**-8 = 0.0039); through 5 layers of the tiny model the logits
# move by at most this fraction of their largest magnitude (measured 0.018 for the MLM logits, 0.009 for SOP, 0.024
# with bfloat16 parameters too; see test_bfloat16_compute). The tolerance leaves a 2.5x margin.
BF16_RTOL = 0.06


inputs_for = make_inputs
flat_outputs = flatten_outputs


def max_diff(a: dict, b: dict) -> float:
    assert list(a) == list(b)
    worst = 0.0
    for key in a:
        assert a[key].shape == b[key].shape, key
        worst = max(worst, float(np.abs(a[key].astype(np.float64) - b[key].astype(np.float64)).max(initial=0)))
    return worst


def dtypes(params) -> set[str]:
    return {str(leaf.dtype) for leaf in jax.tree_util.tree_leaves(params)}


_MODELS: dict = {}


def ours_from(head: HeadKind, directory):
    """Our Flax model of this head with the weights in `directory`.

    One model per head and worker, its weights swapped in with load_checkpoint: `params` are an argument of the
    jitted function, so every test of that head (same config, shapes and flags) reuses one compiled program."""
    ckpt = load(directory)
    model = _MODELS.get(head)
    if model is None or model.config.to_dict() | {"architectures": None} != ckpt.config.to_dict() | {
            "architectures": None}:
        model = _MODELS[head] = FLAX_MODEL_FOR_HEAD[head].from_pretrained(directory)
    else:
        model.load_checkpoint(ckpt)
    return model


FLAGS = {"output_hidden_states": True, "output_attentions": True}


# --- against our PyTorch implementation ------------------------------------------------------------------------------
def test_matches_our_pytorch(saved, head, record_property):
    ours = ours_from(head, saved)
    reference = MODEL_FOR_HEAD[head].from_pretrained(saved)
    inputs = inputs_for(head)
    a = ours(**inputs, **FLAGS)
    with torch.no_grad():
        b = reference(**torch_inputs(inputs), **FLAGS)
    # transformers' Flax output classes: its PyTorch names with a Flax prefix, and no loss field
    assert type(a).__name__ == "Flax" + type(b).__name__ and list(a.keys()) == list(b.keys())
    assert len(a.hidden_states) == 5 + 1 and len(a.attentions) == 5 * 2  # L+1; L passes of K inner layers
    diff = max_diff(flat_outputs(a), flat_outputs(b))
    record_property("flax_vs_torch_max_abs_diff", diff)
    assert diff <= ATOL
    # transformers' tuple form: the same values in field order, None fields left out.
    tuple_a = ours(**inputs, **FLAGS, return_dict=False)
    with torch.no_grad():
        tuple_b = reference(**torch_inputs(inputs), **FLAGS, return_dict=False)
    assert isinstance(tuple_a, tuple) and len(tuple_a) == len(tuple_b)
    for x, y in zip(tuple_a, tuple_b):
        pairs = zip(x, y) if isinstance(y, tuple) else [(x, y)]
        assert all(np.abs(np.asarray(u) - v.numpy()).max() <= ATOL for u, v in pairs)
    # Without attention mask and token types: all ones and all zeros, as transformers fills them in.
    ids = inputs["input_ids"]
    with torch.no_grad():
        expected = flat_outputs(reference(torch.as_tensor(ids), **FLAGS))
    assert max_diff(flat_outputs(ours(ids, **FLAGS)), expected) <= ATOL


# --- the model wrapper -----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_dropout_only_in_training(tmp_path):
    head = HeadKind.SEQUENCE_CLASSIFICATION
    get_format("safetensors").save(make_checkpoint(head, seed=12), tmp_path)
    model = ours_from(head, tmp_path)
    inputs = {**inputs_for(head), **FLAGS}
    evaluation = np.asarray(model(**inputs).logits)
    assert np.array_equal(evaluation, np.asarray(model(**inputs, train=False).logits))
    one = np.asarray(model(**inputs, train=True, dropout_rng=jax.random.PRNGKey(1)).logits)
    again = np.asarray(model(**inputs, train=True, dropout_rng=jax.random.PRNGKey(1)).logits)
    other = np.asarray(model(**inputs, train=True, dropout_rng=jax.random.PRNGKey(2)).logits)
    assert np.array_equal(one, again)
    assert np.abs(one - evaluation).max() > 1e-3 and np.abs(one - other).max() > 1e-3
    with pytest.raises(ValueError, match="dropout_rng"):
        model(**inputs, train=True)


@pytest.mark.slow
def test_jit_is_cached_per_shape_and_flags(tmp_path):
    get_format("safetensors").save(make_checkpoint(HeadKind.BASE, seed=13), tmp_path)
    model = albert_bridge.FlaxAlbertModel.from_pretrained(tmp_path)
    inputs = inputs_for(HeadKind.BASE)
    first = model(**inputs)
    model(**inputs, return_dict=False)  # applied outside the compiled function: no new compile
    model(**{k: v + 0 for k, v in inputs.items()}, params=model.params)
    assert model._forward._cache_size() == 1
    model(**inputs, output_attentions=True)
    assert model._forward._cache_size() == 2
    assert isinstance(first.last_hidden_state, jax.Array) and list(first.keys()) == [
        "last_hidden_state", "pooler_output"]
    with torch.no_grad():
        expected = albert_bridge.AlbertModel.from_pretrained(tmp_path)(**torch_inputs(inputs))
    assert max_diff(flat_outputs(first), flat_outputs(expected)) <= ATOL


@pytest.mark.slow
def test_bfloat16_compute(tmp_path, record_property):
    head = HeadKind.PRETRAINING
    get_format("safetensors").save(make_checkpoint(head, seed=14), tmp_path)
    inputs = {**inputs_for(head), **FLAGS}
    a = ours_from(head, tmp_path)(**inputs)
    half = albert_bridge.FlaxAlbertForPreTraining.from_pretrained(tmp_path, dtype=jnp.bfloat16)
    b = half(**inputs)
    # The MLM bias (float32 here) is added as stored: float32 logits, as transformers' (test_dropin_flax.py).
    assert b.prediction_logits.dtype == jnp.float32 and b.hidden_states[-1].dtype == jnp.bfloat16
    assert dtypes(half.params) == {"float32"}  # the computation dtype is not the parameters' dtype
    for key in ("prediction_logits", "sop_logits"):
        x, y = np.asarray(a[key]), np.asarray(b[key], np.float32)
        relative = float(np.abs(x - y).max() / np.abs(x).max())
        record_property(f"bf16_vs_fp32_{key}", relative)
        assert relative <= BF16_RTOL, (key, relative)
    # Parameters stored in bfloat16 too: from_pretrained(param_dtype=...), or to_bf16 as in transformers.
    stored = albert_bridge.FlaxAlbertForPreTraining.from_pretrained(tmp_path, param_dtype=jnp.bfloat16)
    assert dtypes(stored.params) == {"bfloat16"}
    assert dtypes(half.to_bf16(half.params)) == {"bfloat16"} and dtypes(half.to_fp32(stored.params)) == {"float32"}
    c = half(**inputs, params=stored.params)
    relative = float(np.abs(np.asarray(c.prediction_logits, np.float32) - np.asarray(a.prediction_logits)).max()
                     / np.abs(np.asarray(a.prediction_logits)).max())
    record_property("bf16_params_and_compute_vs_fp32", relative)
    assert relative <= BF16_RTOL


def test_from_pretrained_reads_every_format(tmp_path):
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=15)
    params = []
    for fmt in ("safetensors", "pytorch", "canonical", "flax"):
        get_format(fmt).save(ckpt, tmp_path / fmt)
        params.append(albert_bridge.FlaxAlbertForMaskedLM.from_pretrained(tmp_path / fmt).params)
    for other in params[1:]:
        assert jax.tree_util.tree_structure(other) == jax.tree_util.tree_structure(params[0])
        assert all(arrays_equal(np.asarray(x), np.asarray(y))
                   for x, y in zip(jax.tree_util.tree_leaves(params[0]), jax.tree_util.tree_leaves(other)))


def test_save_pretrained_round_trip_sharded_and_stale_files(tmp_path):
    model = albert_bridge.FlaxAlbertForMaskedLM(head_config(HeadKind.MASKED_LM), seed=3)
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    shards = json.loads((tmp_path / "flax_model.msgpack.index.json").read_text())["weight_map"].values()
    n = len(set(shards))
    assert n > 2 and sorted(p.name for p in tmp_path.iterdir()) == [
        "config.json", *(f"flax_model-{i:05d}-of-{n:05d}.msgpack" for i in range(1, n + 1)),
        "flax_model.msgpack.index.json"]
    # transformers writes architectures without the TF prefix
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["AlbertForMaskedLM"]
    again = albert_bridge.FlaxAlbertForMaskedLM.from_pretrained(tmp_path)
    assert all(arrays_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree_util.tree_leaves(model.params), jax.tree_util.tree_leaves(again.params)))
    model.save_pretrained(tmp_path)  # one file now: the shards and their index go
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "flax_model.msgpack"]
    # Our PyTorch classes read it and compute the same.
    inputs = inputs_for(HeadKind.MASKED_LM)
    with torch.no_grad():
        expected = flat_outputs(albert_bridge.AlbertForMaskedLM.from_pretrained(tmp_path)(**torch_inputs(inputs),
                                                                                          **FLAGS))
    assert max_diff(flat_outputs(ours_from(HeadKind.MASKED_LM, tmp_path)(**inputs, **FLAGS)), expected) <= ATOL


def test_loading_another_heads_checkpoint_warns(tmp_path):
    get_format("flax").save(make_checkpoint(HeadKind.PRETRAINING, seed=16), tmp_path)
    with pytest.warns(UserWarning) as caught:
        model, info = albert_bridge.FlaxAlbertForSequenceClassification.from_pretrained(
            tmp_path, output_loading_info=True, num_labels=3)
    assert sorted(info["missing_keys"]) == ["classifier/bias", "classifier/kernel"]
    assert "predictions/bias" in info["unexpected_keys"] and "sop_classifier/classifier/kernel" in info["unexpected_keys"]
    assert any("newly initialised" in str(w.message) for w in caught)
    kernel = np.asarray(model.params["classifier"]["kernel"])
    assert kernel.shape == (32, 3) and 0.005 < kernel.std() < 0.05  # normal(0, initializer_range=0.02)
    assert not np.asarray(model.params["classifier"]["bias"]).any()
    with warnings.catch_warnings(record=True) as caught:  # the base model of any head: nothing is missing
        warnings.simplefilter("always")
        base, info = albert_bridge.FlaxAlbertModel.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == [] and "pooler/kernel" in flatten_tree(base.params)
    assert [str(w.message) for w in caught if "newly initialised" in str(w.message)] == []


# --- against transformers 4.57's Flax classes ------------------------------------------------------------------------
# transformers decides at import whether JAX is usable (USE_FLAX, which conftest turns off for the PyTorch tests), so
# the reference peer runs in one subprocess for all heads; its results are shared by the xdist workers.
REFERENCE_PEER = r'''
import json, sys
import numpy as np
import transformers
from flax.serialization import msgpack_restore
from flax.traverse_util import flatten_dict, unflatten_dict


def outputs(model, inputs):
    result = model(**inputs, output_hidden_states=True, output_attentions=True)
    flat = {}
    for key, value in result.items():
        if isinstance(value, tuple):
            flat.update({f"{key}.{i}": np.asarray(v) for i, v in enumerate(value)})
        else:
            flat[key] = np.asarray(value)
    return flat


def file_params(directory):
    index = directory + "/flax_model.msgpack.index.json"
    try:
        shards = sorted(set(json.load(open(index))["weight_map"].values()))
    except FileNotFoundError:
        shards = ["flax_model.msgpack"]
    params = {}
    for shard in shards:
        params.update(flatten_dict(msgpack_restore(open(f"{directory}/{shard}", "rb").read()), sep="/"))
    return params


for task in json.load(open(sys.argv[1])):
    cls = getattr(transformers, task["class"])
    inputs = dict(np.load(task["inputs"]))
    if task["kind"] == "load":  # transformers reads our file: every parameter from it, none random, none left over
        model = cls.from_pretrained(task["dir"])
        ours = file_params(task["dir"])
        theirs = flatten_dict(model.params, sep="/")
        check = {"missing": sorted(set(theirs) - set(ours)), "unexpected": sorted(set(ours) - set(theirs)),
                 "differ": sorted(k for k in set(ours) & set(theirs)
                                  if np.asarray(theirs[k]).tobytes() != ours[k].tobytes())}
        json.dump(check, open(task["out"] + ".json", "w"))
    else:  # transformers makes a model, perturbs every parameter, saves it with save_pretrained
        model = cls(transformers.AlbertConfig(**task["config"]), seed=task["seed"])
        params = flatten_dict(model.params, sep="/")
        json.dump({name: list(value.shape) for name, value in params.items()}, open(task["out"] + ".json", "w"))
        rng = np.random.default_rng(task["seed"])
        model.params = unflatten_dict({name: np.asarray(value) + 0.05 * rng.standard_normal(value.shape).astype(
            np.float32) for name, value in params.items()}, sep="/")
        model.save_pretrained(task["dir"], max_shard_size=task.get("max_shard_size", "10GB"))
    np.savez(task["out"] + ".npz", **outputs(model, inputs))
print("done")
'''

REFERENCE_CASES = [(head, variant) for head in ALL_HEADS for variant in ("plain",)] + [
    (HeadKind.MASKED_LM, "sharded"), (HeadKind.PRETRAINING, "save_pretrained"), (HeadKind.BASE, "e-equals-h")]


def _reference_config(head: HeadKind, variant: str):
    # E == H: the original code has no E->H projection; transformers' classes always have one (the identity then).
    return tiny_config(embedding_size=32) if variant == "e-equals-h" else head_config(head)


def _build_reference(root) -> None:
    """Our files for transformers to load, and tasks for it to write its own; one subprocess runs them all."""
    tasks = []
    for head, variant in REFERENCE_CASES:
        name = f"{head.value}-{variant}"
        np.savez(root / f"inputs-{name}.npz", **inputs_for(head, seed=5))
        ours = root / f"ours-{name}"
        ckpt = make_checkpoint(head, seed=21, config=_reference_config(head, variant))
        if variant == "e-equals-h":  # as read from an original checkpoint: no projection tensors at all
            del ckpt.tensors["encoder.projection.kernel"], ckpt.tensors["encoder.projection.bias"]
            get_format("safetensors").save(ckpt, ours)  # the same weights for transformers' PyTorch class
        if variant == "save_pretrained":
            get_format("safetensors").save(ckpt, root / "st")
            FLAX_MODEL_FOR_HEAD[head].from_pretrained(root / "st").save_pretrained(ours, max_shard_size="30KB")
        else:
            get_format("flax").save(ckpt, ours, max_shard_size=20_000 if variant == "sharded" else None)
        common = {"class": "Flax" + ARCHITECTURES[head], "inputs": str(root / f"inputs-{name}.npz")}
        tasks.append({**common, "kind": "load", "dir": str(ours), "out": str(root / f"theirs-on-ours-{name}")})
        tasks.append({**common, "kind": "save", "dir": str(root / f"theirs-{name}"), "seed": 31,
                      "config": _reference_config(head, variant).to_dict(), "out": str(root / f"theirs-own-{name}"),
                      **({"max_shard_size": "20KB"} if variant == "sharded" else {})})
    (root / "tasks.json").write_text(json.dumps(tasks))
    env = {**os.environ, "USE_FLAX": "1", "USE_TORCH": "0", "USE_TF": "0", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", REFERENCE_PEER, str(root / "tasks.json")], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=600)
    assert run.returncode == 0 and "done" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    (root / "done").write_text("ok")


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The transformers results, computed once per test run (the xdist workers share them through a lock)."""
    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.mktemp("flax-reference")
        _build_reference(root)
        return root
    root = tmp_path_factory.getbasetemp().parent / "flax-reference"  # this run's directory, shared by workers
    with FileLock(str(root) + ".lock"):
        if not (root / "done").is_file():
            root.mkdir(exist_ok=True)
            _build_reference(root)
    return root


def _case(reference, head, variant):
    name = f"{head.value}-{variant}"
    return name, dict(np.load(reference / f"inputs-{name}.npz"))


@pytest.mark.slow
@pytest.mark.parametrize("head, variant", REFERENCE_CASES, ids=[f"{h.value}-{v}" for h, v in REFERENCE_CASES])
def test_transformers_loads_our_msgpack(reference, head, variant, record_property):
    name, inputs = _case(reference, head, variant)
    check = json.loads((reference / f"theirs-on-ours-{name}.json").read_text())
    assert check == {"missing": [], "unexpected": [], "differ": []}
    theirs = dict(np.load(reference / f"theirs-on-ours-{name}.npz"))
    ours = ours_from(head, reference / f"ours-{name}")
    diff = max_diff(flat_outputs(ours(**inputs, **FLAGS)), theirs)
    record_property("flax_vs_transformers_flax_max_abs_diff", diff)
    assert diff <= ATOL


@pytest.mark.slow
@pytest.mark.parametrize("head, variant", REFERENCE_CASES, ids=[f"{h.value}-{v}" for h, v in REFERENCE_CASES])
def test_we_load_transformers_msgpack(reference, head, variant, record_property):
    name, inputs = _case(reference, head, variant)
    directory = reference / f"theirs-{name}"
    if variant == "sharded":
        assert (directory / "flax_model.msgpack.index.json").is_file()
    theirs = dict(np.load(reference / f"theirs-own-{name}.npz"))
    ours = ours_from(head, directory)
    # The same parameter tree, name for name and shape for shape (their tree as their constructor makes it).
    tree = json.loads((reference / f"theirs-own-{name}.json").read_text())
    assert {k: list(v.shape) for k, v in flatten_tree(ours.params).items()} == tree
    diff = max_diff(flat_outputs(ours(**inputs, **FLAGS)), theirs)
    record_property("flax_vs_transformers_flax_max_abs_diff", diff)
    assert diff <= ATOL
    # Our PyTorch classes read their Flax file too (any format in, any backend out).
    torch_model = MODEL_FOR_HEAD[head].from_pretrained(directory)
    with torch.no_grad():
        logits = flat_outputs(torch_model(**torch_inputs(inputs)))
    assert max_diff(logits, {k: theirs[k] for k in logits}) <= ATOL
    assert load(directory).report.format == "flax"


@pytest.mark.slow
def test_e_equals_h_flax_file_holds_the_identity_projection(reference):
    """Without the E->H projection in flax_model.msgpack transformers' Flax class initialises one at random (its
    outputs then differ from its PyTorch class's by ~3): it must be in the file, and the two classes must agree."""
    import transformers

    name, inputs = _case(reference, HeadKind.BASE, "e-equals-h")
    directory = reference / f"ours-{name}"
    tree = fm.msgpack_restore(directory / "flax_model.msgpack")["encoder"]["embedding_hidden_mapping_in"]
    assert np.array_equal(tree["kernel"], np.eye(32, dtype=np.float32)) and not tree["bias"].any()
    flax_outputs = dict(np.load(reference / f"theirs-on-ours-{name}.npz"))
    pytorch = transformers.AlbertModel.from_pretrained(directory).eval()
    with torch.no_grad():
        torch_outputs = flat_outputs(pytorch(**torch_inputs(inputs), output_hidden_states=True,
                                             output_attentions=True))
    assert max_diff(torch_outputs, flax_outputs) <= ATOL

