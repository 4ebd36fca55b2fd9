"""`import albert_bridge` exposes every class of the ALBERT documentation under its transformers name."""

import re
import subprocess
import sys

import pytest

import albert_bridge
from tests.conftest import ROOT

HEADS = ("Model", "ForPreTraining", "ForMaskedLM", "ForSequenceClassification", "ForMultipleChoice",
         "ForTokenClassification", "ForQuestionAnswering")
DOCUMENTED = ["AlbertConfig", "AlbertTokenizer", "AlbertTokenizerFast", "AlbertForPreTrainingOutput",
              "TFAlbertForPreTrainingOutput", *(f"{p}Albert{h}" for p in ("", "TF", "Flax") for h in HEADS)]


def test_every_documented_name_is_exported():
    doc = ROOT.parent / "shared" / "ALBERT-DOC-seed.txt"
    if doc.is_file():  # the documentation page this project implements, when the checkout has it beside
        headings = set(re.findall(r"^## ((?:TF|Flax)?Albert\w+)", doc.read_text(), flags=re.M))
        assert headings <= set(DOCUMENTED)
    assert set(DOCUMENTED) <= set(albert_bridge.__all__)


@pytest.mark.parametrize("name", [f"Albert{h}" for h in HEADS] + ["AlbertConfig", "AlbertForPreTrainingOutput"])
def test_available_names_resolve(name):
    obj = getattr(albert_bridge, name)
    assert obj.__name__ == name


def test_unknown_name():
    with pytest.raises(AttributeError):
        albert_bridge.AlbertForEverything  # noqa: B018


def test_import_is_lazy():
    code = ("import sys, albert_bridge; albert_bridge.AlbertConfig; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
