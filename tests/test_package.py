"""`import albert_bridge` exposes every class of the ALBERT documentation under its transformers name."""

import re
import subprocess
import sys

import pytest

import albert_bridge
from tests.helpers import ROOT

HEADS = ("Model", "ForPreTraining", "ForMaskedLM", "ForSequenceClassification", "ForMultipleChoice",
         "ForTokenClassification", "ForQuestionAnswering")
# transformers' ALBERT documentation page (docs/source/en/model_doc/albert.md, Apache-2.0), kept in the repository so
# the check below runs in any clone.
DOC = ROOT / "tests" / "data" / "albert_doc.md"


def documented_names() -> set[str]:
    """Every class the page documents: its section headings and the objects its `[[autodoc]]` lines name."""
    text = DOC.read_text()
    headings = set(re.findall(r"^## ((?:TF|Flax)?Albert\w+)\s*$", text, flags=re.M))
    autodoc = {name.rsplit(".", 1)[-1] for name in re.findall(r"^\[\[autodoc\]\] ([\w.]+)", text, flags=re.M)}
    return headings | autodoc


def test_every_documented_name_is_exported():
    names = documented_names()
    # Config, two tokenizers, two output classes, seven heads in three frameworks: a parse that found less is broken.
    assert len(names) == 26 and {"AlbertConfig", "TFAlbertForPreTrainingOutput", "FlaxAlbertModel"} <= names
    assert names <= set(albert_bridge.__all__), names - set(albert_bridge.__all__)
    assert {f"{p}Albert{h}" for p in ("", "TF", "Flax") for h in HEADS} <= names


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
