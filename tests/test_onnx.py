"""ONNX export: built from canonical tensors, run in ONNX Runtime, checked against our PyTorch model (through the NumPy
reference forward) and transformers 4.57; read back bit-exact; bad files refused in one line."""

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

from albert_bridge.arrays import arrays_equal
from albert_bridge.convert import convert
from albert_bridge.errors import BridgeError, ParityError
from albert_bridge.export import onnx as onnx_export
from albert_bridge.export import onnx_runtime
from albert_bridge.export.onnx import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    build_model,
    export,
    save_model,
)
from albert_bridge.export.onnx_runtime import VALIDATION_TOLERANCE, compare, run
from albert_bridge.formats import detect_format, get_format, load
from albert_bridge import numpy_forward
from albert_bridge.schema import ARCHITECTURES, HeadKind
from albert_bridge.testing import flatten_outputs, make_checkpoint, make_inputs, tiny_config
from tests.helpers import ATOL, ROOT, assert_close, cli, one_line_error

pytestmark = pytest.mark.onnx

SHAPES = [(3, 9), (2, 17)]  # (batch, seq): two dynamic shapes, both padded (the last sequence loses its last third)


@pytest.fixture(scope="module")
def torch_models():
    import torch

    from albert_bridge.models.albert_torch import MODEL_FOR_HEAD

    return torch, MODEL_FOR_HEAD


def test_numpy_forward_matches_our_pytorch_model(torch_models, head):
    torch, model_for_head = torch_models
    ckpt = make_checkpoint(head, seed=21)
    model = model_for_head[head](ckpt.config)
    model.load_checkpoint(ckpt)
    model.eval()
    for batch, seq in SHAPES:
        inputs = make_inputs(head, batch=batch, seq_len=seq, seed=seq)
        with torch.no_grad():
            ours = flatten_outputs(model(**{k: torch.from_numpy(v) for k, v in inputs.items()},
                                         output_hidden_states=True))
        assert_close(numpy_forward.forward(ckpt, inputs), ours)


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "relu", "silu", "tanh"])
def test_every_activation_matches_pytorch_and_onnx(torch_models, act):
    torch, model_for_head = torch_models
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=22, config=tiny_config(hidden_act=act))
    model = model_for_head[HeadKind.MASKED_LM](ckpt.config)
    model.load_checkpoint(ckpt)
    model.eval()
    inputs = make_inputs(HeadKind.MASKED_LM)
    with torch.no_grad():
        ours = flatten_outputs(model(**{k: torch.from_numpy(v) for k, v in inputs.items()}))
    reference = numpy_forward.forward(ckpt, inputs, output_hidden_states=False)
    assert_close(reference, ours)
    for opset in (17, 20):  # 20: the standard Gelu op instead of its decomposition
        assert_close(run(build_model(ckpt, opset=opset), inputs), reference)


def test_every_head_at_two_dynamic_shapes(head):
    """One file serves any batch and sequence length (and number of choices); padded keys are masked."""
    ckpt = make_checkpoint(head, seed=23)
    model = build_model(ckpt, hidden_states=True)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == list(INPUT_NAMES)
    expected_names = [*OUTPUT_NAMES[head], *(f"hidden_states.{i}" for i in range(ckpt.config.num_hidden_layers + 1))]
    assert [o.name for o in model.graph.output] == expected_names
    for batch, seq in SHAPES:
        inputs = make_inputs(head, batch=batch, seq_len=seq, seed=seq, num_choices=batch + 1)
        got = run(model, inputs)
        assert_close(got, numpy_forward.forward(ckpt, inputs))
        rows = batch * (batch + 1) if head is HeadKind.MULTIPLE_CHOICE else batch
        assert got["hidden_states.0"].shape == (rows, seq, ckpt.config.hidden_size)
    if head is HeadKind.MULTIPLE_CHOICE:
        assert got["logits"].shape == (batch, batch + 1)


def test_padding_is_masked():
    """Tokens of a padded sequence do not see its padding: the same sequence, shorter and unpadded, gives the same."""
    ckpt = make_checkpoint(HeadKind.BASE, seed=24)
    model = build_model(ckpt)
    inputs = make_inputs(HeadKind.BASE, batch=3, seq_len=12)
    kept = int(inputs["attention_mask"][-1].sum())
    assert kept < 12
    padded = run(model, inputs)["last_hidden_state"][-1, :kept]
    alone = run(model, {k: v[-1:, :kept] for k, v in inputs.items()})["last_hidden_state"][0]
    np.testing.assert_allclose(padded, alone, atol=ATOL, rtol=0)


@pytest.fixture(scope="module")
def transformers_module():
    import transformers

    return transformers


def test_matches_transformers(tmp_path, head, transformers_module):
    import torch

    ckpt = make_checkpoint(head, seed=25)
    get_format("safetensors").save(ckpt, tmp_path / "hf")
    theirs = getattr(transformers_module, ARCHITECTURES[head]).from_pretrained(tmp_path / "hf").eval()
    export(ckpt, tmp_path / "model.onnx", hidden_states=True)
    for batch, seq in SHAPES:
        inputs = make_inputs(head, batch=batch, seq_len=seq, seed=seq)
        with torch.no_grad():
            expected = flatten_outputs(theirs(**{k: torch.from_numpy(v) for k, v in inputs.items()},
                                              output_hidden_states=True))
        assert_close(run(tmp_path / "model.onnx", inputs), expected)


def test_shared_layers_and_tied_decoder_are_stored_once(tmp_path):
    """Initializers are exactly the canonical tensors, by name and bytes: 10 layers run 4 stored (g, k) layers and
    the decoder reads the word embeddings; the file is the weights plus a small graph."""
    config = tiny_config(vocab_size=3000, embedding_size=64, hidden_size=256, intermediate_size=512,
                         num_hidden_layers=10, max_position_embeddings=64)
    ckpt = make_checkpoint(HeadKind.PRETRAINING, seed=26, config=config)
    model = build_model(ckpt)
    assert sorted(t.name for t in model.graph.initializer) == sorted(ckpt.tensors)
    for tensor in model.graph.initializer:
        assert arrays_equal(onnx.numpy_helper.to_array(tensor), ckpt.tensors[tensor.name].read()), tensor.name
    users = [n for n in model.graph.node if "encoder.group.1.inner.0.attention.query.kernel" in n.input]
    assert len(users) == sum(config.group_of_layer(i) == 1 for i in range(config.num_hidden_layers))
    (path,) = export(ckpt, tmp_path / "model.onnx")
    size, weights = path.stat().st_size, ckpt.nbytes()
    assert weights < size <= 1.02 * weights, (size, weights)


def test_float16_within_stated_tolerance():
    """float16 weights and compute (LayerNorm statistics in float32): within VALIDATION_TOLERANCE['float16'] times
    max(1, |reference|) of the float64 reference from the same float16 weights (about 2e-3 of it measured)."""
    for head in (HeadKind.PRETRAINING, HeadKind.QUESTION_ANSWERING):
        ckpt = make_checkpoint(head, seed=27).cast("float16")
        model = build_model(ckpt, hidden_states=True)
        assert {t.data_type for t in model.graph.initializer} == {onnx.TensorProto.FLOAT16}
        inputs = make_inputs(head)
        got = run(model, inputs)
        assert {v.dtype for v in got.values()} == {np.dtype("float16")}
        want = numpy_forward.forward(ckpt, inputs)
        diffs = compare(got, want, "float16")  # ParityError beyond tolerance
        relative = max(diffs[k] / max(1.0, np.abs(want[k]).max()) for k in diffs)
        assert ATOL < relative < VALIDATION_TOLERANCE["float16"] / 3  # float16 compute, with a margin
        assert onnx_runtime.validate(model, ckpt)  # the conversion-time check agrees


def test_bfloat16_is_stored_as_such_and_computed_in_float32(tmp_path):
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=28, dtype="bfloat16")
    get_format("onnx").save(ckpt, tmp_path)
    back = load(tmp_path)
    assert back.dtypes() == {"bfloat16": len(ckpt.tensors)}
    assert max(onnx_runtime.validate(tmp_path / "model.onnx", ckpt).values()) < ATOL


def test_onnx_to_safetensors_to_onnx_is_bit_exact(tmp_path):
    ckpt = make_checkpoint(HeadKind.PRETRAINING, seed=29)
    get_format("onnx").save(ckpt, tmp_path / "a")
    convert(tmp_path / "a", tmp_path / "st", ["safetensors"])
    convert(tmp_path / "st", tmp_path / "b", ["onnx"])
    first, second = load(tmp_path / "a"), load(tmp_path / "b")
    assert first.report.format == second.report.format == "onnx" and second.problems() == []
    assert first.report.consumed == len(ckpt.tensors) and not first.report.unknown
    for key, tensor in ckpt.tensors.items():
        assert arrays_equal(first.tensors[key].read(), tensor.read()), key
        assert arrays_equal(second.tensors[key].read(), tensor.read()), key
    assert (tmp_path / "a" / "model.onnx").read_bytes() == (tmp_path / "b" / "model.onnx").read_bytes()


def test_config_comes_from_the_metadata_without_config_json(tmp_path):
    ckpt = make_checkpoint(HeadKind.TOKEN_CLASSIFICATION, seed=30)
    get_format("onnx").save(ckpt, tmp_path)
    (tmp_path / "config.json").unlink()
    back = load(tmp_path / "model.onnx")
    assert back.head is HeadKind.TOKEN_CLASSIFICATION and back.problems() == []
    assert back.config.to_dict() | {"architectures": None} == ckpt.config.to_dict() | {"architectures": None}


def test_every_initializer_is_accounted_for(tmp_path):
    """An initializer that is no canonical tensor is reported by name, a missing one too (strict accounting)."""
    ckpt = make_checkpoint(HeadKind.BASE, seed=40)
    model = build_model(ckpt)
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.zeros(3, np.float32), "encoder.mystery"))
    dropped = next(t for t in model.graph.initializer if t.name == "pooler.bias")
    model.graph.initializer.remove(dropped)
    onnx.save(model, tmp_path / "model.onnx")
    back = load(tmp_path)
    assert back.report.unknown == ["encoder.mystery"] and back.report.consumed == len(ckpt.tensors) - 1
    assert {p.tensor: p.message for p in back.problems()}.keys() == {"pooler.bias", "encoder.mystery"}
    with pytest.raises(BridgeError, match="pooler.bias.*missing"):
        back.validate()


def test_external_data(tmp_path, monkeypatch):
    """Over protobuf's 2 GB the weights go to model.onnx_data (here: forced, and with the limit lowered)."""
    ckpt = make_checkpoint(HeadKind.MASKED_LM, seed=31)
    (tmp_path / "forced").mkdir()
    files = export(ckpt, tmp_path / "forced" / "model.onnx", external_data=True)
    assert [f.name for f in files] == ["model.onnx", "model.onnx_data"]
    assert files[0].stat().st_size < 0.5 * ckpt.nbytes() < files[1].stat().st_size
    inputs = make_inputs(HeadKind.MASKED_LM)
    expected = numpy_forward.forward(ckpt, inputs, output_hidden_states=False)
    assert_close(run(files[0], inputs), expected)
    saved = save_model(build_model(ckpt), tmp_path / "model.onnx", external_data=True)  # an in-memory model
    assert [f.name for f in saved] == ["model.onnx", "model.onnx_data"]
    assert_close(run(saved[0], inputs), expected)
    monkeypatch.setattr(onnx_export, "PROTO_LIMIT", onnx_export._GRAPH_MARGIN + ckpt.nbytes() // 2)
    get_format("safetensors").save(ckpt, tmp_path / "src")
    result = convert(tmp_path / "src", tmp_path / "auto", ["onnx"])  # verified and validated on the way
    assert sorted(p.name for p in result.written["onnx"]) == ["model.onnx", "model.onnx_data"]
    back = load(tmp_path / "auto")
    assert all(arrays_equal(back.tensors[k].read(), t.read()) for k, t in ckpt.tensors.items())
    with open(tmp_path / "auto" / "model.onnx_data", "r+b") as data:
        data.truncate(ckpt.nbytes() // 2)
    with pytest.raises(BridgeError, match="does not fit model.onnx_data"):
        load(tmp_path / "auto")


def test_optional_inputs_take_transformers_defaults():
    ckpt = make_checkpoint(HeadKind.SEQUENCE_CLASSIFICATION, seed=32)
    inputs = make_inputs(HeadKind.SEQUENCE_CLASSIFICATION)
    inputs["attention_mask"][:] = 1
    inputs["token_type_ids"][:] = 0
    full = run(build_model(ckpt), inputs)
    for names in (("input_ids",), ("input_ids", "attention_mask"), ("input_ids", "token_type_ids")):
        model = build_model(ckpt, inputs=names)
        assert [i.name for i in model.graph.input] == list(names)
        assert_close(run(model, {k: inputs[k] for k in names}), full)
    with pytest.raises(BridgeError, match="the model takes input_ids; it has no input attention_mask"):
        run(build_model(ckpt, inputs=("input_ids",)), inputs)


def test_without_projection_when_e_equals_h():
    """The original code's E == H checkpoints have no E->H projection: the graph runs none."""
    ckpt = make_checkpoint(HeadKind.BASE, seed=33, config=tiny_config(embedding_size=32))
    del ckpt.tensors["encoder.projection.kernel"], ckpt.tensors["encoder.projection.bias"]
    model = build_model(ckpt, hidden_states=True)
    assert "encoder.projection.kernel" not in {t.name for t in model.graph.initializer}
    inputs = make_inputs(HeadKind.BASE)
    assert_close(run(model, inputs), numpy_forward.forward(ckpt, inputs))


def test_metadata_identifies_the_export():
    ckpt = make_checkpoint(HeadKind.MULTIPLE_CHOICE, seed=34)
    meta = {p.key: p.value for p in build_model(ckpt, dtype="float16").metadata_props}
    assert meta["albert_bridge.head"] == "multiple-choice" and meta["albert_bridge.format_version"] == "1"
    assert meta["albert_bridge.dtype"] == "float16" and meta["albert_bridge.inputs"] == ",".join(INPUT_NAMES)
    assert json.loads(meta["albert_bridge.config"])["architectures"] == ["AlbertForMultipleChoice"]


def test_cli_converts_inspects_and_validates(tmp_path, capsys):
    get_format("safetensors").save(make_checkpoint(HeadKind.QUESTION_ANSWERING, seed=35), tmp_path / "src")
    code, out, err = cli(capsys, "convert", tmp_path / "src", tmp_path / "onnx", "--to", "onnx")
    assert code == 0, err
    assert "validated onnx against the NumPy reference forward" in out
    assert detect_format(tmp_path / "onnx").name == "onnx"
    code, out, _ = cli(capsys, "inspect", tmp_path / "onnx", "--json")
    info = json.loads(out)
    assert code == 0 and info["format"] == "onnx" and info["head"] == "question-answering" and not info["problems"]
    code, _, err = cli(capsys, "convert", tmp_path / "onnx", tmp_path / "back", "--to", "tf,flax")
    assert code == 0, err


def test_a_mismatch_fails_the_conversion_with_exit_1(tmp_path, capsys, monkeypatch):
    """The export is run against the reference before it is published: here the reference is made wrong (erf GELU
    for a tanh-GELU model, about 1e-3 off), so the conversion fails naming the output and leaves nothing."""
    get_format("safetensors").save(make_checkpoint(HeadKind.MASKED_LM, seed=36), tmp_path / "src")
    monkeypatch.setitem(numpy_forward.ACTIVATIONS, "gelu_new", numpy_forward.ACTIVATIONS["gelu"])
    code, _, err = cli(capsys, "convert", tmp_path / "src", tmp_path / "out", "--to", "onnx")
    assert code == 1
    one_line_error(err, "output 'logits' differs from the NumPy reference", "tolerance")
    assert not (tmp_path / "out").exists()
    code, _, err = cli(capsys, "convert", tmp_path / "src", tmp_path / "out", "--to", "onnx", "--no-validate")
    assert code == 0, err
    with pytest.raises(ParityError, match="logits"):
        onnx_runtime.validate(tmp_path / "out" / "model.onnx", load(tmp_path / "out"))


def _foreign(path):
    """A valid ONNX model that is not ours: a one-node graph."""
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, producer_name="someone-else"), path)


def _other_architecture(path):
    """Our metadata, but a BERT config."""
    ckpt = make_checkpoint(HeadKind.BASE, seed=37)
    model = build_model(ckpt)
    for prop in model.metadata_props:
        if prop.key == "albert_bridge.config":
            prop.value = json.dumps({**json.loads(prop.value), "model_type": "bert"})
    onnx.save(model, path)


def _truncated(path):
    export(make_checkpoint(HeadKind.BASE, seed=38), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _corrupt(path):
    export(make_checkpoint(HeadKind.BASE, seed=38), path)
    data = bytearray(path.read_bytes())
    data[:8] = b"\xff" * 8
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, needle", [
    (_foreign, "not an ALBERT model written by albert-bridge"),
    (_other_architecture, "model_type is 'bert'"),
    (_truncated, "not a readable ONNX model"),
    (_corrupt, "not a readable ONNX model"),
    (lambda path: path.write_bytes(b""), "empty file"),
], ids=["foreign", "bert", "truncated", "corrupt", "empty"])
def test_bad_files_are_refused_in_one_line(tmp_path, capsys, damage, needle):
    damage(tmp_path / "model.onnx")
    with pytest.raises(BridgeError, match=needle):
        load(tmp_path / "model.onnx")
    for command in (["inspect", tmp_path], ["convert", tmp_path / "model.onnx", tmp_path / "out", "--to", "safetensors"]):
        code, _, err = cli(capsys, *command)
        assert code == 3
        one_line_error(err, "model.onnx", needle)


def test_run_errors_are_clear(tmp_path):
    model = build_model(make_checkpoint(HeadKind.BASE, seed=39))
    with pytest.raises(BridgeError, match="missing token_type_ids"):
        run(model, {k: v for k, v in make_inputs(HeadKind.BASE).items() if k != "token_type_ids"})
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(BridgeError, match="no CUDAExecutionProvider"):
            run(model, make_inputs(HeadKind.BASE), device="cuda")
    with pytest.raises(BridgeError, match="unknown device"):
        run(model, make_inputs(HeadKind.BASE), device="tpu")


def test_exporting_imports_neither_torch_nor_tensorflow(tmp_path):
    (tmp_path / "src").mkdir()
    code = (
        "import sys\n"
        "from albert_bridge.testing import make_checkpoint, make_inputs\n"
        "from albert_bridge.export.onnx import export\n"
        "from albert_bridge.export.onnx_runtime import run, validate\n"
        "from albert_bridge.formats import load\n"
        "from albert_bridge.convert import convert\n"
        f"ckpt = make_checkpoint('pretraining')\n"
        f"export(ckpt, {str(tmp_path / 'src' / 'model.onnx')!r})\n"
        f"run({str(tmp_path / 'src' / 'model.onnx')!r}, make_inputs('pretraining'))\n"
        f"validate({str(tmp_path / 'src' / 'model.onnx')!r}, ckpt)\n"
        f"convert({str(tmp_path / 'src')!r}, {str(tmp_path / 'again')!r}, ['onnx', 'safetensors'], src_format='onnx')\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'jax', 'flax', 'transformers') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
