"""The equivalence harness: run a checkpoint on every backend (ours in PyTorch, TF2 and Flax, transformers' own as
the reference peer) with identical inputs and compare every output.

    from albert_bridge.parity import check, assert_parity
    report = check("out/", backends="torch,tf,flax,hf-torch")
    print(report.to_text()); report.passed
    assert_parity("out/")          # in a test: raises with the report when any output differs

Modules: `backends` (the registry and what runs inside a backend's worker), `worker` (the worker process),
`compare` (tolerances, comparisons, first divergent layer), `report` (JSON / JUnit / Markdown / text),
`harness` (check, assert_parity, the worker pool), `pytest_plugin` (the `assert_parity` fixture).
"""

from .backends import BACKENDS, DEFAULT_BACKENDS, Backend
from .compare import Comparison, default_tolerance
from .harness import ParityFailure, WorkerPool, assert_parity, check, load_expected
from .report import Report, Run

__all__ = ["BACKENDS", "DEFAULT_BACKENDS", "Backend", "Comparison", "ParityFailure", "Report", "Run", "WorkerPool",
           "assert_parity", "check", "default_tolerance", "load_expected"]
