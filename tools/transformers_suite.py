"""Run transformers 4.57's own ALBERT model tests twice, with its classes and with ours in their place, and compare.

    python tools/transformers_suite.py                 # PyTorch and Flax, the full suites
    python tools/transformers_suite.py --backend torch -k "test_model or test_config"
    python tools/transformers_suite.py --json out.json

The tests are transformers' files, kept unchanged under tests/data/transformers_suite/hf_tests (their sources are
in that folder's README.md); tests/data/transformers_suite/conftest.py swaps our classes in (ALBERT_SUITE_SIDE=ours).
A test counts as passed when pytest reports it passed; skipped tests (slow ones, those needing the Hub or a GPU)
count on neither side. Prints, per backend, how many pass on each side and the tests that pass with transformers'
classes and fail with ours. Exit status 0 always, unless a pytest run itself could not start (2)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "tests" / "data" / "transformers_suite"
FILES = {
    "torch": SUITE / "hf_tests" / "models" / "albert" / "test_modeling_albert.py",
    "flax": SUITE / "hf_tests" / "models" / "albert" / "test_modeling_flax_albert.py",
}
CLASSES = {"torch": "AlbertModelTest", "flax": "FlaxAlbertModelTest"}
# transformers' own files, not committed (another project's code): laid out as tests/data/transformers_suite/README.md says.
FOREIGN = ("test_modeling_common.py", "test_configuration_common.py", "test_modeling_flax_common.py",
           "models/albert/test_modeling_albert.py", "models/albert/test_modeling_flax_albert.py",
           "utils/test_configuration_utils.py")


def missing_files() -> list[str]:
    """transformers' test files the suites need that are not laid out here."""
    return [name for name in FOREIGN if not (SUITE / "hf_tests" / name).is_file()]
SIDES = ("theirs", "ours")


def run_side(backend: str, side: str, keyword: str | None = None, workers: int = 0,
             timeout: float | None = None, tests: tuple[str, ...] = ()) -> dict[str, str]:
    """Run one suite on one side in a fresh process: {test id: "passed" | "failed" | "skipped"}. `tests`: only
    these test methods (exact names; `keyword` is pytest's -k substring expression)."""
    env = {**os.environ, "ALBERT_SUITE_SIDE": side, "ALBERT_SUITE_BACKEND": backend,
           "USE_FLAX": "1" if backend == "flax" else "0", "USE_TORCH": "1", "PYTHONPATH": str(ROOT),
           "TRANSFORMERS_VERBOSITY": "warning"}  # transformers' default: tests read its loading messages
    with tempfile.TemporaryDirectory(prefix="albert-suite-") as tmp:
        report = Path(tmp) / "report.xml"
        targets = [f"{FILES[backend]}::{CLASSES[backend]}::{name}" for name in tests] or [str(FILES[backend])]
        command = [sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider",
                   "-p", "no:albert_bridge", "-c", str(SUITE / "pytest.ini"), "--rootdir", str(SUITE),
                   "--confcutdir", str(SUITE), f"--junitxml={report}", "-o", "junit_family=xunit1"]
        if keyword:
            command += ["-k", keyword]
        if workers:
            command += ["-n", str(workers)]
        done = subprocess.run(command, cwd=SUITE, env=env, capture_output=True, text=True, timeout=timeout)
        if not report.exists():
            raise RuntimeError(f"pytest ({backend}, {side}) wrote no report:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return parse_junit(report)


def run_both(backend: str, keyword: str | None = None, workers: int = 0, timeout: float | None = None,
             tests: tuple[str, ...] = ()) -> dict[str, dict[str, str]]:
    """Both sides of one suite, run at once (two processes): {"theirs": results, "ours": results}."""
    with ThreadPoolExecutor(len(SIDES)) as pool:
        futures = {side: pool.submit(run_side, backend, side, keyword, workers, timeout, tests) for side in SIDES}
        return {side: future.result() for side, future in futures.items()}


def parse_junit(path: Path) -> dict[str, str]:
    """{test: outcome} from a JUnit report. A test's subtests are reported as further cases of the same name: it
    failed if any of them failed, else passed if any passed (a skipped subtest does not undo a pass)."""
    rank = {"skipped": 0, "passed": 1, "failed": 2}
    results: dict[str, str] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        tags = {child.tag for child in case}
        outcome = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
        if rank[outcome] > rank[results.get(name, "skipped")] or name not in results:
            results[name] = outcome
    return results


def compare(theirs: dict[str, str], ours: dict[str, str]) -> dict:
    passed_theirs = sorted(t for t, r in theirs.items() if r == "passed")
    return {
        "theirs_passed": len(passed_theirs),
        "ours_passed_of_those": sum(1 for t in passed_theirs if ours.get(t) == "passed"),
        "ours_passed": sum(1 for r in ours.values() if r == "passed"),
        "missed": [t for t in passed_theirs if ours.get(t) != "passed"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=[*FILES, "both"], default="both")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression (a subset of the tests)")
    parser.add_argument("-n", dest="workers", type=int, default=0, help="pytest-xdist workers (default: none)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if missing_files():
        parser.error("transformers' test files are not laid out (see tests/data/transformers_suite/README.md): "
                     + ", ".join(missing_files()))
    summary = {}
    for backend in FILES if args.backend == "both" else [args.backend]:
        try:
            results = run_both(backend, args.keyword, args.workers)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 2
        summary[backend] = compare(results["theirs"], results["ours"])
        summary[backend]["results"] = results
        s = summary[backend]
        print(f"{backend}: transformers' classes pass {s['theirs_passed']}; ours pass {s['ours_passed_of_those']} of "
              f"those ({s['ours_passed']} in all)")
        for test in s["missed"]:
            print(f"  fails with ours: {test}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
