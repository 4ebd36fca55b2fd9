"""The parity report: one object, four renderings (JSON for machines, JUnit XML for CI, Markdown for PR comments and
model cards, plain text for the terminal).

The JSON keys are a contract CI users parse (`report.schema.json` beside this file describes them):
`passed, atol, rtol, device, dtype, runs[{checkpoint, backend, device, dtype, seconds, skipped}],
comparisons[{a, b, output, max_abs_diff, max_rel_diff, passed}], first_divergent_layer`; other keys are extras
(among them `metric`, `min_agreement` and each comparison's `top1_agreement`, `top5_agreement`, `cosine`).
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .compare import Comparison

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
MAX_COLUMNS = 6  # compared runs shown side by side; more get one summary row each


@dataclass
class Run:
    checkpoint: str
    backend: str
    device: str
    dtype: str
    seconds: float | None = None          # wall time of this run as the harness saw it (worker start included)
    skipped: str | None = None            # why it did not run (not installed, no such device)
    label: str = ""                       # how comparisons name it
    error: str | None = None              # it should have run and failed (a parity failure)
    load_seconds: float | None = None
    forward_seconds: float | None = None
    ran_on: str | None = None             # the device as the framework names it
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.skipped is None and self.error is None


@dataclass
class Report:
    atol: float
    rtol: float
    device: str
    dtype: str
    head: str
    inputs: str                           # what was fed, in words
    runs: list[Run] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    first_divergent_layer: int | str | None = None
    tolerance: str = ""                   # the rule and where the numbers come from, in words
    metric: str = "tolerance"             # what decides: tolerance (fp32 contract) or agreement (reduced precision)
    min_agreement: float | None = None    # agreement: the least top-1 agreement (logits) / cosine (the rest)

    @property
    def compared(self) -> bool:
        return bool(self.comparisons)

    @property
    def passed(self) -> bool:
        """Every comparison within tolerance, at least one made, and no run that should have run failed."""
        return self.compared and all(c.passed for c in self.comparisons) and not any(r.error for r in self.runs)

    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.passed]

    # --- JSON -------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "atol": self.atol, "rtol": self.rtol, "device": self.device, "dtype": self.dtype,
            "head": self.head, "inputs": self.inputs, "tolerance": self.tolerance,
            "runs": [asdict(r) for r in self.runs],
            "comparisons": [{k: _finite(v) for k, v in asdict(c).items()} for c in self.comparisons],
            "first_divergent_layer": self.first_divergent_layer,
            "metric": self.metric, "min_agreement": self.min_agreement,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    # --- JUnit XML: one testcase per comparison, skipped runs as skipped testcases ------------------------------
    def to_junit(self) -> str:
        failures = len(self.failures())
        errors = sum(1 for r in self.runs if r.error)
        skipped = sum(1 for r in self.runs if r.skipped)
        tests = len(self.comparisons) + errors + skipped
        seconds = sum(r.seconds or 0.0 for r in self.runs)
        suites = ET.Element("testsuites", name="albert-bridge parity", tests=str(tests), failures=str(failures),
                            errors=str(errors), skipped=str(skipped), time=f"{seconds:.3f}")
        suite = ET.SubElement(suites, "testsuite", name=f"parity {self.head} {self.device} {self.dtype}",
                              tests=str(tests), failures=str(failures), errors=str(errors), skipped=str(skipped),
                              time=f"{seconds:.3f}")
        for run in self.runs:
            if run.ok:
                continue
            case = ET.SubElement(suite, "testcase", classname=f"parity.run.{_safe(run.label)}", name="run",
                                 time=f"{run.seconds or 0.0:.3f}")
            if run.skipped:
                ET.SubElement(case, "skipped", message=run.skipped)
            else:
                ET.SubElement(case, "error", message=run.error or "").text = run.error
        for c in self.comparisons:
            case = ET.SubElement(suite, "testcase", classname=f"parity.{_safe(c.a)}.vs.{_safe(c.b)}", name=c.output,
                                 time="0")
            if not c.passed:
                message = c.note or (f"max |a - b| {c.max_abs_diff:.3e} > atol {self.atol:.1e} + "
                                     f"rtol {self.rtol:.1e} * max|a|")
                ET.SubElement(case, "failure", message=message, type="ParityMismatch").text = (
                    f"{c.b} vs {c.a}, {c.output}: {message}")
        ET.indent(suites)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"

    # --- tables ----------------------------------------------------------------------------------------------
    def _table(self) -> tuple[list[str], list[list[str]]]:
        """Rows: outputs; columns: every compared run (each against its reference). With more runs than fit a
        terminal, one row per run instead: its largest difference, where, and how many outputs fail."""
        columns = list(dict.fromkeys(f"{c.b} vs {c.a}" if self._several_references() else c.b
                                     for c in self.comparisons))
        if len(columns) > MAX_COLUMNS:
            return self._summary_table()
        rows: dict[str, dict[str, str]] = {}
        for c in self.comparisons:
            column = f"{c.b} vs {c.a}" if self._several_references() else c.b
            cell = c.note if c.max_abs_diff is None else self._cell(c)
            rows.setdefault(c.output, {})[column] = cell + ("" if c.passed else " FAIL")
        return ["output", *columns], [[name, *(cells.get(col, "") for col in columns)] for name, cells in rows.items()]

    def _cell(self, c: Comparison) -> str:
        if self.metric != "agreement":
            return f"{c.max_abs_diff:.2e}"
        if c.top1_agreement is not None:
            return f"top-1 {c.top1_agreement:.2%}, top-5 {c.top5_agreement:.2%}"
        return "" if c.cosine is None else f"cosine {c.cosine:.4f}"

    def _summary_table(self) -> tuple[list[str], list[list[str]]]:
        by_pair: dict[tuple[str, str], list[Comparison]] = {}
        for c in self.comparisons:
            by_pair.setdefault((c.a, c.b), []).append(c)
        rows = []
        for (a, b), group in by_pair.items():
            numbers = [c for c in group if c.max_abs_diff is not None]
            worst = max(numbers, key=lambda c: c.max_abs_diff, default=None)
            failed = sum(not c.passed for c in group)
            rows.append([b, a, worst.output if worst else "", f"{worst.max_abs_diff:.2e}" if worst else "",
                         f"{failed} of {len(group)}" + (" FAIL" if failed else "")])
        return ["run", "against", "largest at", "max |a - b|", "over tolerance"], rows

    def _several_references(self) -> bool:
        return len({c.a for c in self.comparisons}) > 1

    def _runs_table(self) -> tuple[list[str], list[list[str]]]:
        rows = []
        for r in self.runs:
            state = f"skipped: {r.skipped}" if r.skipped else (f"error: {r.error}" if r.error else "ok")
            seconds = "" if r.seconds is None else f"{r.seconds:.2f}"
            rows.append([r.label, r.checkpoint, r.backend, r.ran_on or r.device, seconds, state])
        return ["run", "checkpoint", "backend", "device", "seconds", "result"], rows

    def verdict(self) -> str:
        if not self.compared:
            ran = sum(1 for r in self.runs if r.ok)
            return f"NOTHING COMPARED: {ran} run(s) completed, at least two (or --expect) are needed"
        failed = self.failures()
        errors = [r for r in self.runs if r.error]
        within = "tolerance" if self.metric != "agreement" else f"agreement {self.min_agreement:g}"
        if not failed and not errors:
            return f"PASSED: {len(self.comparisons)} comparisons within {within}"
        parts = []
        if failed:
            parts.append(f"{len(failed)} of {len(self.comparisons)} comparisons "
                         + ("exceed tolerance" if self.metric != "agreement" else f"below agreement {self.min_agreement:g}"))
        if errors:
            parts.append(f"{len(errors)} run(s) failed")
        where = self.first_divergent_layer
        if where is not None:
            parts.append(f"first divergent layer: {where}")
        return "FAILED: " + "; ".join(parts)

    def legend(self) -> str:
        """What the table's numbers are, and what FAIL means when one is marked."""
        if self.metric == "agreement":
            legend = ("top-1 / top-5 agreement of each logits output (attended positions), mean cosine of the others, "
                      "each run against its reference")
            return legend + (f"; FAIL: below {self.min_agreement:g}" if self.failures() else "")
        legend = "max |a - b| of each output, each run against its reference"
        return legend + ("; FAIL: over tolerance" if self.failures() else "")

    def header(self) -> str:
        return (f"parity of head {self.head} on {self.device}, {self.dtype}; inputs: {self.inputs}\n"
                f"tolerance: {self.tolerance}")

    def to_text(self) -> str:
        lines = [self.header(), "", *_plain(*self._runs_table())]
        if self.comparisons:
            lines += ["", self.legend(), *_plain(*self._table())]
        return "\n".join([*lines, "", self.verdict()]) + "\n"

    def to_markdown(self) -> str:
        lines = [f"### ALBERT parity: {'passed' if self.passed else 'FAILED'}", "",
                 f"Head `{self.head}` on `{self.device}`, `{self.dtype}`; inputs: {self.inputs}.  ",
                 f"Tolerance: {self.tolerance}.", "", *_markdown(*self._runs_table())]
        if self.comparisons:
            lines += ["", (self.legend() if self.metric == "agreement" else
                           "Max absolute difference (each run against its reference):"), "",
                      *_markdown(*self._table())]
        return "\n".join([*lines, "", f"**{self.verdict()}**"]) + "\n"

    def write(self, json_path=None, junit_path=None, markdown_path=None) -> None:
        for path, text in ((json_path, self.to_json), (junit_path, self.to_junit), (markdown_path, self.to_markdown)):
            if path:
                Path(path).write_text(text())


def nothing_to_compare(report: Report) -> str:
    """Why a report compared nothing, and what to add."""
    ran = [r.label for r in report.runs if r.ok]
    why = "; ".join(f"{r.label} {'skipped: ' + r.skipped if r.skipped else 'error: ' + str(r.error)}"
                    for r in report.runs if not r.ok)
    if len(ran) == 1:
        why = "; ".join(filter(None, [f"only one run completed ({ran[0]})", why]))
    return (f"nothing to compare: {why or 'no run completed'} (add a backend with --backends, a second SRC, or "
            "--expect golden.npz)")


def _finite(value: Any) -> Any:
    """JSON has no Infinity: an infinite difference (NaN on one side) is written as null, with passed false."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", label).strip("_")


def _plain(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return [fmt.format(*header).rstrip(), *(fmt.format(*row).rstrip() for row in rows)]


def _markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(row) for row in rows)]
