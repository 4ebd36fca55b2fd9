"""Run transformers 4.57's own ALBERT tokenizer tests twice: with transformers' classes, and with ours in their place.

    python tools/transformers_suite_tokenizers.py prepare --albert-test PATH --sample-text PATH  # once (below)
    python tools/transformers_suite_tokenizers.py run [--json OUT] [-k EXPR]  # both runs, counts, the difference

The suite is transformers' `tests/models/albert/test_tokenization_albert.py` with the mixin it imports,
`tests/test_tokenization_common.py` (`TokenizerTesterMixin`). Their code is not committed here (it is
transformers', Apache-2.0); `prepare` lays it out under `.cache/transformers_suite_tokenizers/` (git-ignored):
- `test_tokenization_common.py` and `LICENSE` from the transformers sdist on PyPI for the installed version
  (`pip download transformers==<version> --no-binary :all:`): exactly the released 4.57 file.
- `test_tokenization_albert.py` from `--albert-test` and `fixtures/sample_text.txt` from `--sample-text` (the sdist
  ships neither; take them from huggingface/transformers, see tests/data/transformers_suite/MANIFEST.md for the
  versions used: the albert file reachable here is a later one, brought to 4.57's form by `adapt_albert_test`).
- `fixtures/spiece.model`: transformers' fixture is albert-base-v2's 30,000-piece model (binary, not reachable here);
  our 1,200-piece `fixtures/tokenizer/spiece.model` stands in, so the tests that hard-code its ids fail with either
  side's classes and are not counted against ours.

`run` makes the same pytest call twice in fresh processes. With `ALBERT_BRIDGE_SUITE=ours` this file, loaded as a
pytest plugin, puts `albert_bridge.AlbertTokenizer` / `AlbertTokenizerFast` where the test module and its class
look for transformers' (`AlbertTokenizer`, `AlbertTokenizerFast`, `tokenizer_class`, `rust_tokenizer_class`). The
mixin's own imports (BertTokenizer for the mismatch-warning test, PreTrainedTokenizerFast for type checks) stay
transformers'. Exit status 0; the counts are the result (tests/test_transformers_tokenizer_suite.py asserts them).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUITE_DIR = ROOT / ".cache" / "transformers_suite_tokenizers"
TEST_FILE = pathlib.Path("tests/models/albert/test_tokenization_albert.py")
COMMON_FILE = pathlib.Path("tests/test_tokenization_common.py")
FIXTURE = pathlib.Path("tests/fixtures/spiece.model")
SAMPLE_TEXT = pathlib.Path("tests/fixtures/sample_text.txt")  # the mixin's sample text (setUpClass reads it)
IMPL_ENV = "ALBERT_BRIDGE_SUITE"
REPORT_ENV = "ALBERT_BRIDGE_SUITE_REPORT"


# ---------------------------------------------------------------------------------------------- the pytest plugin
def pytest_configure(config):
    # The stored albert test imports SPIECE_UNDERLINE from a module 4.57 does not have (transformers 5's
    # `transformers.constants.token_constants`); 4.57 has the same constant in tokenization_utils_base's users.
    if "transformers.constants.token_constants" not in sys.modules:
        package = types.ModuleType("transformers.constants")
        module = types.ModuleType("transformers.constants.token_constants")
        module.SPIECE_UNDERLINE = "\u2581"
        package.token_constants = module
        sys.modules.setdefault("transformers.constants", package)
        sys.modules["transformers.constants.token_constants"] = module
    config._albert_bridge_outcomes = {}


def pytest_collection_modifyitems(session, config, items):
    if os.environ.get(IMPL_ENV) != "ours":
        return
    import albert_bridge

    for item in items:
        module, cls = item.module, getattr(item, "cls", None)
        for name in ("AlbertTokenizer", "AlbertTokenizerFast"):
            if hasattr(module, name):
                setattr(module, name, getattr(albert_bridge, name))
        if cls is not None and hasattr(cls, "tokenizer_class"):
            cls.tokenizer_class = albert_bridge.AlbertTokenizer
            cls.rust_tokenizer_class = albert_bridge.AlbertTokenizerFast


def pytest_runtest_logreport(report):
    outcomes = _outcomes
    name = report.nodeid.split("::")[-1]
    if report.when == "call" or report.outcome != "passed":
        if report.skipped:
            outcomes.setdefault(name, "skipped")
        elif report.failed:
            outcomes[name] = "failed"
        else:
            outcomes.setdefault(name, "passed")


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(REPORT_ENV)
    if path:
        pathlib.Path(path).write_text(json.dumps(_outcomes, indent=1, sort_keys=True))


_outcomes: dict[str, str] = {}


# ---------------------------------------------------------------------------------------------- prepare
# The albert test file as stored at huggingface/transformers@046eae0032b26be7ca49b4ec118bf7fa5a93785d (the version
# reachable here) predates the 4.57 mixin's class-level setup; 4.57's file differs in exactly these two places.
_TO_457 = (
    ("class AlbertTokenizationTest(TokenizerTesterMixin, unittest.TestCase):\n    tokenizer_class",
     "class AlbertTokenizationTest(TokenizerTesterMixin, unittest.TestCase):\n"
     "    from_pretrained_id = \"albert/albert-base-v1\"\n    tokenizer_class"),
    ("    def setUp(self):\n        super().setUp()\n", "    @classmethod\n    def setUpClass(cls):\n"
     "        super().setUpClass()\n"),
    ("tokenizer.save_pretrained(self.tmpdirname)", "tokenizer.save_pretrained(cls.tmpdirname)"),
)


def adapt_albert_test(text: str) -> str:
    if "from_pretrained_id" in text:
        return text  # already the 4.57 form
    for old, new in _TO_457:
        if old not in text:
            raise SystemExit(f"unexpected test_tokenization_albert.py: {old.strip()!r} not found")
        text = text.replace(old, new, 1)
    return text


def prepare(albert_test: pathlib.Path, sample_text: pathlib.Path, suite_dir: pathlib.Path = SUITE_DIR) -> None:
    import transformers

    version = transformers.__version__
    (suite_dir / TEST_FILE).parent.mkdir(parents=True, exist_ok=True)
    (suite_dir / FIXTURE).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", f"transformers=={version}", "--no-binary", ":all:",
                        "--no-deps", "--no-build-isolation", "-d", tmp], check=True, capture_output=True)
        (sdist,) = pathlib.Path(tmp).glob("transformers-*.tar.gz")
        with tarfile.open(sdist) as tar:
            for inner, target in ((f"transformers-{version}/{COMMON_FILE}", COMMON_FILE),
                                  (f"transformers-{version}/LICENSE", pathlib.Path("LICENSE"))):
                (suite_dir / target).write_bytes(tar.extractfile(inner).read())
    (suite_dir / TEST_FILE).write_text(adapt_albert_test(albert_test.read_text(encoding="utf-8")), encoding="utf-8")
    shutil.copyfile(sample_text, suite_dir / SAMPLE_TEXT)
    shutil.copyfile(ROOT / "fixtures" / "tokenizer" / "spiece.model", suite_dir / FIXTURE)
    for package in ("tests", "tests/models", "tests/models/albert"):
        (suite_dir / package / "__init__.py").touch()
    print(f"suite laid out in {suite_dir} (test_tokenization_common.py from transformers {version}'s sdist)")


# ---------------------------------------------------------------------------------------------- run
def run_once(impl: str, suite_dir: pathlib.Path = SUITE_DIR, select: str | None = None,
             workers: int = 0) -> dict[str, str]:
    """{test name: passed | failed | skipped} for one run of the suite with `impl` ("transformers" or "ours")."""
    if not (suite_dir / TEST_FILE).is_file() or not (suite_dir / COMMON_FILE).is_file():
        raise SystemExit(f"the suite is not laid out in {suite_dir}: run `{__file__} prepare --albert-test PATH`")
    with tempfile.TemporaryDirectory() as tmp:
        report = pathlib.Path(tmp) / "report.json"
        env = {**os.environ, IMPL_ENV: impl, REPORT_ENV: str(report), "HF_HUB_OFFLINE": "1", "USE_TF": "0",
               "USE_FLAX": "0", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
               "PYTHONPATH": os.pathsep.join([str(ROOT / "tools"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
        command = [sys.executable, "-m", "pytest", str(TEST_FILE), "-q", "-p", "transformers_suite_tokenizers",
                   "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir", str(suite_dir), "-W", "ignore"]
        if select:
            command += ["-k", select]
        if workers:
            command += ["-n", str(workers), "-p", "xdist"]
        subprocess.run(command, cwd=suite_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not report.is_file():
            raise SystemExit(f"the {impl} run wrote no report (run the pytest command by hand to see why)")
        return json.loads(report.read_text())


def compare(select: str | None = None, suite_dir: pathlib.Path = SUITE_DIR) -> dict:
    theirs = run_once("transformers", suite_dir, select)
    ours = run_once("ours", suite_dir, select)
    passed = sorted(n for n, o in theirs.items() if o == "passed")
    return {
        "tests": len(theirs),
        "passed_transformers": len(passed),
        "passing_transformers": passed,
        "passed_ours": sum(ours.get(n) == "passed" for n in passed),
        "failed_ours_only": [n for n in passed if ours.get(n) != "passed"],
        "skipped_transformers": sorted(n for n, o in theirs.items() if o == "skipped"),
        "failed_transformers": sorted(n for n, o in theirs.items() if o == "failed"),
        "passed_ours_only": sorted(n for n, o in ours.items() if o == "passed" and theirs.get(n) != "passed"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="lay out the suite under .cache/ (pip download of transformers' sdist)")
    p.add_argument("--albert-test", type=pathlib.Path, required=True,
                   help="transformers' tests/models/albert/test_tokenization_albert.py")
    p.add_argument("--sample-text", type=pathlib.Path, required=True, help="transformers' tests/fixtures/sample_text.txt")
    r = sub.add_parser("run", help="run the suite with transformers' classes, then with ours")
    r.add_argument("-k", dest="select", help="pytest -k expression (a subset)")
    r.add_argument("--json", type=pathlib.Path, help="write the result here too")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.albert_test, args.sample_text)
        return 0
    result = compare(args.select)
    print(f"{result['tests']} tests; transformers' classes pass {result['passed_transformers']}, "
          f"ours pass {result['passed_ours']} of those")
    for name in result["failed_ours_only"]:
        print(f"  passes with transformers', fails with ours: {name}")
    for name in result["failed_transformers"]:
        print(f"  fails with transformers' classes too: {name}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
