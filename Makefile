# Everything runs in .venv, created on first use from pyproject.toml + constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test lint bench mutation clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[all,test]"
	@# transformers' TF classes (a test-only reference) need tf-keras; --no-deps keeps the full tensorflow wheel out.
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt tf-keras
	@# keras-hub (a parity backend) and LiteRT and Ray (extras); keras-hub's tensorflow-text requires the full
	@# tensorflow wheel, which tensorflow-cpu already provides as the same module: --no-deps for those two.
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[litert,ray]" kagglehub kagglesdk regex rich absl-py
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt keras-hub tensorflow-text
	@# transformers 5 (PyTorch only) beside it, for the test that a pushed folder loads there: its own directory,
	@# since it needs huggingface_hub >= 1 and transformers 4.57 needs < 1.
	$(BIN)/python -m pip install -q --target $(VENV)/transformers5 'transformers>=5,<6'
	touch $(STAMP)

setup: $(STAMP)

# The main job on the bundled fixture: convert to every available format, then read each result back.
demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash fixtures/demo.sh

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check albert_bridge tests fixtures converters bench tools

# Mutation testing (mutmut 3), module by module with that module's own tests; not part of `make test` (it takes
# tens of minutes to hours). MODULES=config atomic parity parity-runs onnx hub; SAMPLE=0.25 runs a seeded quarter of
# each module's mutants.
MODULES ?=
SAMPLE ?= 1.0
mutation: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[mutation]"
	$(BIN)/python tools/mutation.py $(MODULES) --sample $(SAMPLE) --report mutation-report.json

bench: $(STAMP)
	$(BIN)/python bench/bench_convert.py

clean:
	rm -rf $(VENV) out .pytest_cache
