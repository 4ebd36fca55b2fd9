"""Mutation testing of the modules whose promises the README makes (`make mutation`; not part of `make test`).

For each module: a scratch copy of the project (albert_bridge, tests, fixtures) with a `[tool.mutmut]` section
naming only that module and its own test files, then `mutmut run` (mutmut 3: each mutant runs, in a forked
process, only the tests that reach the mutated function, with a timeout derived from their normal duration).
Prints, and writes to `--report` as JSON, killed / survived / timeout / other counts per module and the names of the
survivors (`mutmut show NAME` in the scratch directory prints one's diff).

    python tools/mutation.py                       # every module, one after the other
    python tools/mutation.py config atomic         # some of them
    python tools/mutation.py parity --sample 0.3   # a seeded random 30% of the mutants
    python tools/mutation.py parity --sample 0.3 --again  # its survivors again, against the tests as they are now

mutmut 3 does not mutate decorated functions other than static/class methods: `atomic_directory` and
`_SignalsRaise.deferred` (both `@contextmanager`) are outside its reach.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> (files to mutate, mutant name patterns (None: all in those files), that module's own tests)
MODULES: dict[str, tuple[list[str], list[str] | None, list[str]]] = {
    "config": (["albert_bridge/config.py"], None,
               ["tests/test_config.py", "tests/test_dropin_config.py", "tests/test_strength_config.py"]),
    "atomic": (["albert_bridge/atomic.py"],
               ["albert_bridge.atomic.xǁ_SignalsRaiseǁ*", "albert_bridge.atomic.x_swap__mutmut_*",
                "albert_bridge.atomic.x_clear_stale_temporaries__mutmut_*", "albert_bridge.atomic.x__alive__mutmut_*",
                "albert_bridge.atomic.x__temporary__mutmut_*"],
               ["tests/test_strength_convert.py", "tests/test_hostile.py"]),
    # The rule, the reports and the input checks: unit tests, every mutant.
    "parity": (["albert_bridge/parity/compare.py", "albert_bridge/parity/report.py", "albert_bridge/parity/backends.py"],
               ["albert_bridge.parity.compare.*", "albert_bridge.parity.report.*",
                "albert_bridge.parity.backends.x_check_job_inputs__mutmut_*",
                "albert_bridge.parity.backends.x_parse_backends__mutmut_*"],
               ["tests/test_parity.py", "tests/test_strength_parity.py"]),
    # The runs themselves: each mutant costs worker processes (seconds each), so `make mutation` samples these.
    "parity-runs": (["albert_bridge/parity/harness.py", "albert_bridge/parity/backends.py",
                     "albert_bridge/numpy_forward.py"],
                    ["albert_bridge.parity.harness.*", "albert_bridge.numpy_forward.*",
                     "albert_bridge.parity.backends.x_run_job__mutmut_*", "albert_bridge.parity.backends.x__run_*",
                     "albert_bridge.parity.backends.x__hf_directory__mutmut_*",
                     "albert_bridge.parity.backends.xǁBackendǁ*"],
                    ["tests/test_parity.py", "tests/test_strength_parity.py"]),
    "onnx": (["albert_bridge/export/onnx.py", "albert_bridge/export/onnx_runtime.py"], None,
             ["tests/test_onnx.py", "tests/test_strength_onnx.py"]),
    "hub": (["albert_bridge/sources.py", "albert_bridge/publish.py"], None,
            ["tests/test_hub.py", "tests/test_strength_hub.py", "tests/test_strength_sources.py",
             "tests/test_strength_publish.py"]),
}
# Extra pytest arguments: a forked child that builds TF or JAX models can hang (their thread pools do not survive a
# fork), so the config run leaves out the one test that builds a model in every framework.
# The onnx and hub runs leave out their slowest tests (transformers' own classes on every head, a push checked on
# every framework: a minute or more per surviving mutant); the scores in the README were measured this way.
PYTEST_ARGS = {"config": ["-k", "not transformers_config_objects_build_our_models"],
               "onnx": ["-k", "not matches_transformers and not imports_neither"],
               "hub": ["-k", "not every_framework and not transformers_5"]}


def scratch_copy(module: str, work: Path) -> Path:
    files, _, tests = MODULES[module]
    target = work / module
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("albert_bridge", "tests", "fixtures"):
        shutil.copytree(ROOT / name, target / name, ignore=ignore, symlinks=True)
    # mutmut forks each mutant's run from a process that already ran the tests: the parity harness's shared worker
    # pool (pipes to worker processes) would be shared with that parent. Each run starts its own.
    with open(target / "tests" / "conftest.py", "a") as conftest:
        conftest.write("\n\ndef pytest_sessionstart(session):  # tools/mutation.py: a fresh worker pool per run\n"
                       "    import albert_bridge.parity.harness as harness\n\n"
                       "    harness._SHARED_POOL = None\n")
        # With -x, the first failing test ends a mutant's run: run the fastest tests first (mutmut's own timings),
        # so a unit test kills a mutant before a push-level test spends seconds on it.
        conftest.write("\n\ndef pytest_collection_modifyitems(items):  # tools/mutation.py: fastest tests first\n"
                       "    import json, os\n"
                       "    if os.path.exists('mutmut-stats.json'):\n"
                       "        with open('mutmut-stats.json') as f:\n"
                       "            durations = json.load(f).get('duration_by_test', {})\n"
                       "        items.sort(key=lambda item: durations.get(item.nodeid, float('inf')))\n")
    pyproject = (ROOT / "pyproject.toml").read_text()
    tests = [t for t in tests if (ROOT / t).exists()]
    pyproject += ("\n[tool.mutmut]\n"
                  'source_paths = ["albert_bridge"]\n'
                  f"only_mutate = {json.dumps(files)}\n"
                  f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
                  'also_copy = ["fixtures", "tests"]\n'
                  f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', '-q', *PYTEST_ARGS.get(module, [])])}\n"
                  "timeout_multiplier = 5.0\n"
                  "use_git_change_detection = false\n")
    (target / "pyproject.toml").write_text(pyproject)
    return target


def mutant_names(directory: Path) -> dict[str, str]:
    """Every mutant mutmut generated, with its status, from `mutmut results --all true`."""
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=directory,
                         capture_output=True, text=True).stdout
    statuses = {}
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            statuses[name] = status
    return statuses


def refresh_scratch(module: str, directory: Path) -> None:
    """The project as it is now (tests, fixtures, every module but the mutated ones) in a scratch copy that holds its
    mutants already (mutmut collects new tests). A mutated file that changed since is only reported: its mutants
    are of the code as it was."""
    mutated = set(MODULES[module][0])
    for target in (directory, directory / "mutants"):
        for name in ("tests", "fixtures"):
            shutil.copytree(ROOT / name, target / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "conftest.py"))  # the scratch conftest carries the hooks above
        for source in (ROOT / "albert_bridge").rglob("*.py"):
            relative = source.relative_to(ROOT).as_posix()
            if relative not in mutated:
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / relative)
    for relative in sorted(mutated):
        if (ROOT / relative).read_bytes() != (directory / relative).read_bytes():
            print(f"--again: {relative} changed since the run; its mutants are of the code as it was", flush=True)


def run_module(module: str, work: Path, max_children: int, sample: float, seed: int, again: bool = False) -> dict:
    """Mutate `module` in a fresh scratch copy; with `again`, rerun only the survivors of the last run there against
    the current tests (same seed and sample: the same mutants)."""
    directory = work / module if again else scratch_copy(module, work)
    if again:
        if not (directory / "mutants").is_dir():
            raise SystemExit(f"--again: no earlier run of {module} in {directory}")
        refresh_scratch(module, directory)
    # One thread per pool: mutmut forks a child per mutant, and a fork taken while a BLAS or torch pool runs can hang.
    # The mutated package first: the parity harness's worker processes import it too, and run the mutant the
    # environment names (MUTANT_UNDER_TEST), like the forked test process.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(directory / "mutants"), str(directory)]),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    patterns = MODULES[module][1]
    names: list[str] = list(patterns or [])
    if sample < 1.0:  # generate the mutants first, then run a seeded sample of them
        if not again:
            subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "1", "no-such-mutant-*"],
                           cwd=directory, env=env, capture_output=True)
        every = [n for n in mutant_names(directory) if not patterns or any(fnmatch.fnmatch(n, p) for p in patterns)]
        names = sorted(random.Random(seed).sample(every, max(1, round(len(every) * sample))))

    def statuses() -> dict[str, str]:
        found = mutant_names(directory)
        return {n: s for n, s in found.items() if any(fnmatch.fnmatch(n, p) for p in names)} if names else found

    to_run = sorted(n for n, s in statuses().items() if s in ("survived", "no tests")) if again else names
    if to_run or not again:
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *to_run],
                       cwd=directory, env=env, check=False)
    final = statuses()
    counts: dict[str, int] = {}
    for status in final.values():
        counts[status] = counts.get(status, 0) + 1
    survivors = sorted(n for n, s in final.items() if s in ("survived", "no tests"))
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    tried = killed + len(survivors)
    return {"module": module, "directory": str(directory), "counts": counts, "sample": sample,
            "score": round(killed / tried, 4) if tried else None, "survivors": survivors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"any of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "albert-mutation")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--sample", type=float, default=1.0, help="fraction of the mutants to run (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, help="write the results as JSON here")
    parser.add_argument("--again", action="store_true",
                        help="rerun the last run's survivors (same --sample and --seed) against the current tests")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)} (known: {', '.join(MODULES)})")
    results = []
    for module in args.modules or list(MODULES):
        result = run_module(module, args.work, args.max_children, args.sample, args.seed, args.again)
        results.append(result)
        print(f"{module}: {result['counts']} score {result['score']} ({len(result['survivors'])} survivors)",
              flush=True)
        for name in result["survivors"]:
            print(f"  survived: {name}")
    if args.report:
        args.report.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
