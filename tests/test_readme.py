"""The README's Python examples run as written, in order, on the bundled fixtures (a model and a tokenizer that fit
each other)."""

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow  # every example, in a fresh process: the whole package imported, every backend


def test_readme_python_examples_run_as_written(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 3
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")  # the examples' paths, relative to the repository root
    script = tmp_path / "examples.py"
    script.write_text("\n".join(blocks))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {"model.safetensors", "tf_model.h5", "flax_model.msgpack"} <= {p.name for p in (tmp_path / "out").iterdir()}
