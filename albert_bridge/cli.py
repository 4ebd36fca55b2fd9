"""The `albert-bridge` command: a thin click layer over the package. Imports no framework (each backend, adapter or
Hub client imports its own when it runs); head and format names come from their registries.

Exit codes: 0 ok, 1 parity mismatch, 2 usage, 3 invalid input or refused output.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable

import click

from .convert import convert as run_convert
from .errors import BridgeError, Terminated, did_you_mean
from .formats import FORMATS, get_format
from .fleet import coordinator
from .fleet.manifest import hub_search as search_hub
from .fleet.manifest import read_manifest
from .formats.hf_layout import parse_size
from .inspection import describe, render_text
from .parity import check
from .parity.backends import parse_backends
from .parity.report import nothing_to_compare
from .publish import publish_formats
from .publish import push as run_push
from .schema import HeadKind

HEADS = tuple(head.value for head in HeadKind)
# In the registry's order, but albert-bridge's own canonical layout (which no other tool reads) last.
FORMAT_NAMES = tuple(sorted(FORMATS, key=lambda name: name == "canonical"))
# Other names people give the formats: the framework, the file's extension, a singular.
FORMAT_ALIASES = {"pt": "pytorch", "torch": "pytorch", "bin": "pytorch", "safetensor": "safetensors",
                  "st": "safetensors", "h5": "tf", "keras": "tf", "tf2": "tf", "tensorflow": "tf", "msgpack": "flax",
                  "jax": "flax", "original": "tf1", "ckpt": "tf1", "litert": "tflite", "int8": "onnx-int8"}


def _format_name(value: str, choices: tuple[str, ...] = FORMAT_NAMES) -> str:
    name = FORMAT_ALIASES.get(value.strip().lower(), value.strip().lower())
    if name not in choices:
        hint = did_you_mean(value, [*choices, *(a for a, n in FORMAT_ALIASES.items() if n in choices)])
        raise click.BadParameter(f"{value!r} is not a format{hint} (choose from {', '.join(choices)})")
    return name


def _format_list(value: str, choices: tuple[str, ...]) -> list[str]:
    names = [v for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter(f"no format given (choose from {', '.join(choices)}, or all)")
    return list(dict.fromkeys(_format_name(n, choices) for n in names))


def _split_formats(ctx, param, value: str) -> list[str]:
    if value == "all":  # every format this installation writes into one directory, tiers left out: asked by name
        return [name for name, fmt in FORMATS.items() if fmt.available and fmt.in_all]
    return _format_list(value, FORMAT_NAMES)


def _one_format(ctx, param, value: str | None) -> str | None:
    return None if value is None else _format_name(value)


def _published_formats(ctx, param, value: str) -> list[str]:
    # Aliases resolve here; which formats may be published is publish's to say (exit 3, naming the publishable ones).
    return ["all"] if value == "all" else _format_list(value, FORMAT_NAMES)


# --- what every command shares: --debug, -q, -v, and where progress and reports go -------------------------------
def _setting(name: str):
    def remember(ctx: click.Context, param, value) -> None:
        if value:  # given before or after the command name: either one counts
            ctx.meta[f"albert_bridge.{name}"] = value

    return remember


def _common_options(command):
    for option in (
        click.option("--debug", is_flag=True, expose_value=False, callback=_setting("debug"),
                     help="Show tracebacks with errors (the exit code stays the same)."),
        click.option("-v", "--verbose", count=True, expose_value=False, callback=_setting("verbose"),
                     help="Say more: each run's notes, skipped tensors, each stage."),
        click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_setting("quiet"),
                     help="No progress on stderr (rows, spinner, bar); results, warnings and errors still print."),
    ):
        command = option(command)
    return command


def _quiet() -> bool:
    return bool(click.get_current_context().meta.get("albert_bridge.quiet"))


def _verbose() -> int:
    return int(click.get_current_context().meta.get("albert_bridge.verbose", 0))


def _report_option(name: str, what: str):
    """--json/--junit/--markdown FILE, `-` (or the flag alone) meaning stdout."""
    return click.option(f"--{name}", f"{name}_path", is_flag=False, flag_value="-", default=None, metavar="FILE",
                        type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
                        help=f"Write {what} as {name.upper() if name == 'json' else name.capitalize()} to FILE "
                             "(- or nothing: stdout).")


def _write_reports(**texts: tuple[str | None, Callable[[], str]]) -> bool:
    """Write each requested report; True when one of them took stdout (the text output then goes to stderr)."""
    to_stdout = False
    for path, render in texts.values():
        if path == "-":
            click.echo(render(), nl=False)
            to_stdout = True
        elif path:
            Path(path).write_text(render())
    return to_stdout


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


class _Activity:
    """Progress on stderr when it is a terminal (or with -v), never with -q: each finished step as a line, and on a
    terminal a spinner naming the work in progress between them."""

    FRAMES = "|/-\\"

    def __init__(self, label: str, quiet: bool, verbose: int = 0):
        self.label, self.quiet = label, quiet
        self.spinning = not quiet and sys.stderr.isatty()
        self.rows = not quiet and (self.spinning or verbose > 0)  # keeps a piped stderr to the one error line
        self.lock = threading.Lock()
        self.done = threading.Event()

    def __enter__(self) -> "_Activity":
        if self.spinning:
            self.thread = threading.Thread(target=self._spin, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.spinning:
            self.done.set()
            self.thread.join()
            self._clear()

    def _spin(self) -> None:
        frame = 0
        while not self.done.wait(0.1):
            with self.lock:
                sys.stderr.write(f"\r{self.label} {self.FRAMES[frame % 4]}")
                sys.stderr.flush()
            frame += 1

    def _clear(self) -> None:
        sys.stderr.write("\r" + " " * (len(self.label) + 2) + "\r")
        sys.stderr.flush()

    def line(self, text: str) -> None:
        if not self.rows:
            return
        with self.lock:
            if self.spinning:
                self._clear()
            click.echo(text, err=True)


def _run_line(run, verbose: int) -> str:
    """One parity run as it finishes."""
    state = f"skipped: {run.skipped}" if run.skipped else (f"error: {run.error}" if run.error else "ok")
    seconds = "" if run.seconds is None else f" in {run.seconds:.2f} s"
    notes = "".join(f"\n  note: {n}" for n in run.notes) if verbose else ""
    return f"run {run.label} ({run.checkpoint} on {run.backend}){seconds}: {state}{notes}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@_common_options
@click.version_option(package_name="albert-bridge")
def cli() -> None:
    """albert-bridge: convert, inspect and check ALBERT checkpoints across TF1, PyTorch, TF2, Flax and ONNX.

    Format names take aliases: pt, torch and bin mean pytorch; h5 and keras tf; msgpack and jax flax.
    --debug, -q and -v go before or after the command name."""


@cli.command()
@_common_options
@click.argument("src", type=click.Path(path_type=str))
@click.argument("dst", type=click.Path(path_type=str))
@click.option("--to", "to", required=True, callback=_split_formats, metavar="FMT[,FMT...]",
              help=f"Output formats: {', '.join(FORMAT_NAMES)}, or all.")
@click.option("--from", "src_format", callback=_one_format, metavar="FMT",
              help="Source format (default: detected): " + ", ".join(FORMAT_NAMES) + ".")
@click.option("--head", type=click.Choice(HEADS), help="Head to keep (default: from the checkpoint).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="config.json or albert_config.json to use instead of the one beside the weights.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), help="Cast floating tensors.")
@click.option("--max-shard-size", default="5GB", show_default=True, help="Shard above this size (0: never).")
@click.option("--force", is_flag=True, help="Replace the files of the formats written in a DST that holds them (the "
              "other formats stay), or a DST that is no Hugging Face layout of this model. Never SRC.")
@click.option("--allow-unused", is_flag=True, help="Drop source tensors that map to nothing, instead of failing.")
@click.option("--no-verify", is_flag=True, help="Skip reading every written tensor back before publishing.")
@click.option("--no-validate", is_flag=True,
              help="Skip running a written model (onnx) in ONNX Runtime against the NumPy reference forward pass.")
@click.option("--strict", is_flag=True, help="Refuse tensors holding NaN or Inf and unknown config keys (default: "
              "a warning names them).")
@_report_option("json", "what was read and written")
def convert(src, dst, to, src_format, head, config_path, dtype, max_shard_size, force, allow_unused, no_verify,
            no_validate, strict, json_path) -> None:
    """Convert SRC (any supported format, detected) into the directory DST, atomically."""

    try:
        shard_bytes = parse_size(max_shard_size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-shard-size") from None
    with _progress_bar(_quiet()) as tick:
        result = run_convert(src, dst, to, src_format=src_format, head=head, config=config_path, dtype=dtype, force=force,
                             max_shard_size=shard_bytes, verify=not no_verify, validate=not no_validate,
                             allow_unused=allow_unused, strict=strict, progress=tick)
    for warning in result.warnings:
        _warn(warning)
    ckpt = result.checkpoint
    summary = {"source": ckpt.report.source, "format": ckpt.report.format, "layout": ckpt.report.layout,
               "inferred": ckpt.report.inferred, "head": ckpt.head.value,
               "parameters": ckpt.num_parameters(), "tensors_mapped": ckpt.report.consumed,
               "skipped": ckpt.report.skipped, "warnings": result.warnings,
               "written": {fmt: [str(f) for f in files] for fmt, files in result.written.items()},
               "validated": result.validated}
    if _write_reports(json=(json_path, lambda: json.dumps(summary, indent=2) + "\n")):
        return
    click.echo(f"read {ckpt.report.source} ({ckpt.report.format}, head {ckpt.head.value}, "
               f"{ckpt.num_parameters():,} parameters; {ckpt.report.consumed} tensors mapped, "
               f"{len(ckpt.report.skipped)} skipped)")
    click.echo(f"layout {ckpt.report.layout}")
    for line in ckpt.report.inferred:
        click.echo(f"inferred {line}")
    if _verbose():
        for name, why in ckpt.report.skipped.items():
            click.echo(f"  skipped {name}: {why}")
    for fmt, files in result.written.items():
        click.echo(f"wrote {fmt}: " + ", ".join(str(f) for f in files))
    for fmt, diffs in result.validated.items():
        if get_format(fmt).tier:  # reduced precision: measured by agreement, not by a tolerance
            click.echo(f"validated {fmt} against the NumPy reference forward (random ids): "
                       + ", ".join(f"{name} {value:.4f}" for name, value in diffs.items()))
            continue
        click.echo(f"validated {fmt} against the NumPy reference forward: max abs diff "
                   + ", ".join(f"{name} {diff:.1e}" for name, diff in diffs.items()))


class _progress_bar:
    """A byte progress bar on stderr, only when stderr is a terminal (and not -q)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __enter__(self):
        self.bar = None
        if self.quiet or not sys.stderr.isatty():
            return None
        self.bar = click.progressbar(length=1, label="converting", file=sys.stderr)
        self.bar.__enter__()

        def tick(nbytes: int, total: int) -> None:
            self.bar.length = total
            self.bar.update(nbytes)

        return tick

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


@cli.command()
@_common_options
@click.argument("src", type=click.Path(path_type=str))
@click.option("--from", "src_format", callback=_one_format, metavar="FMT", help="Source format (default: detected).")
@click.option("--head", type=click.Choice(HEADS), help="Inspect as this head.")
@click.option("--strict", is_flag=True, help="Unknown config keys are problems (exit 3), not warnings.")
@_report_option("json", "the description")
def inspect(src, src_format, head, strict, json_path) -> None:
    """Describe a checkpoint: format, config, head, parameters, dtypes, groups, warnings, problems, the tokenizer
    beside it. Exit 3 when it reports a problem or the tokenizer cannot be read."""

    info = describe(src, src_format, head, strict=strict)
    if not _write_reports(json=(json_path, lambda: json.dumps(info, indent=2) + "\n")):
        click.echo(render_text(info, verbose=_verbose()))
    if info["problems"] or "error" in (info["tokenizer"] or {}):  # bad input, described in full
        sys.exit(3)


def _backend_names(ctx, param, value: str | None) -> list[str]:

    try:
        return parse_backends(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@_common_options
@click.argument("srcs", nargs=-1, required=True, type=click.Path(path_type=str), metavar="SRC [SRC2 ...]")
@click.option("--backends", callback=_backend_names, metavar="NAME[,NAME...]",
              help="torch, tf, flax, onnx, numpy (float64 reference), hf-torch, hf-tf, hf-flax (transformers' "
                   "classes), keras-hub (keras-hub's classes, from a preset), or all (default: torch,tf,flax,onnx).")
@click.option("--device", type=click.Choice(["cpu", "cuda", "tpu"]), default="cpu", show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32", show_default=True,
              help="Compute dtype of every run.")
@click.option("--atol", type=float, help="Absolute tolerance (default: by dtype, scaled with the model's size).")
@click.option("--rtol", type=float, help="Tolerance relative to each output's largest magnitude (default: likewise).")
@click.option("--head", type=click.Choice(HEADS), help="Run as this head (default: the first SRC's).")
@click.option("--batch", type=click.IntRange(1, 4096), default=3, show_default=True, help="Random inputs: batch size.")
@click.option("--seq-len", type=click.IntRange(2, 1 << 20), default=16, show_default=True,
              help="Random inputs: sequence length.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random inputs: seed.")
@click.option("--inputs", "inputs_file", type=click.Path(dir_okay=False),
              help=".npz with input_ids (and attention_mask, token_type_ids) instead of random inputs.")
@click.option("--text", "texts", multiple=True,
              help="A text to tokenize with the tokenizer beside SRC (repeat for a batch; the choices of one "
                   "example for multiple choice).")
@click.option("--text-file", type=click.Path(dir_okay=False),
              help="Texts to tokenize with the tokenizer beside SRC, one example a line (with --text: both).")
@click.option("--metric", type=click.Choice(["tolerance", "agreement"]), default="tolerance", show_default=True,
              help="tolerance: max |a - b| (fp32); agreement: top-1 agreement of logits and cosine of the other "
                   "outputs (reduced-precision tiers: int8, float16).")
@click.option("--min-agreement", type=click.FloatRange(0, 1), default=0.97, show_default=True,
              help="With --metric agreement: the least top-1 agreement (logits) and mean cosine (other outputs).")
@_report_option("json", "the report")
@_report_option("junit", "the report")
@_report_option("markdown", "the report")
@click.option("--save-outputs", type=click.Path(dir_okay=False), help="Write the first run's inputs and outputs (.npz).")
@click.option("--expect", type=click.Path(dir_okay=False),
              help="Compare every run with outputs saved by --save-outputs (and run on their inputs).")
@click.option("--timeout", type=float, default=900, show_default=True, help="Seconds one run may take.")
@click.option("--emulate-device", is_flag=True, hidden=True,
              help="Run the --device code path on the CPU (tests that path on machines without the device).")
def parity(srcs, backends, device, dtype, atol, rtol, head, batch, seq_len, seed, inputs_file, texts, text_file, metric,
           min_agreement, json_path, junit_path, markdown_path, save_outputs, expect, timeout, emulate_device) -> None:
    """Run every SRC on every backend with the same inputs and compare all outputs (logits, pooled output, every
    hidden state) with the first run. Exit 0 when all agree, 1 when any differs, 3 on bad input."""

    if inputs_file and (texts or text_file):
        raise click.UsageError("give --inputs or --text/--text-file, not both")
    activity = _Activity("parity", _quiet(), _verbose())
    with activity:
        report = check(list(srcs), backends, device=device, dtype=dtype, atol=atol, rtol=rtol, head=head,
                       inputs=inputs_file, texts=texts or None, text_file=text_file, metric=metric,
                       min_agreement=min_agreement, batch=batch, seq_len=seq_len, seed=seed,
                       expect=expect, save_outputs_to=save_outputs, emulate_device=emulate_device, timeout=timeout,
                       on_run=lambda run: activity.line(_run_line(run, _verbose())))
    _show_report(report, json_path, junit_path, markdown_path)
    if not report.compared and save_outputs and any(r.ok for r in report.runs):
        click.echo(f"saved the outputs of {next(r.label for r in report.runs if r.ok)} to {save_outputs}")
        return
    if not report.compared:
        raise BridgeError(nothing_to_compare(report))
    if not report.passed:
        sys.exit(1)


def _show_report(report, json_path, junit_path, markdown_path) -> None:
    """The text report on stdout, or on stderr when a machine-readable one takes stdout (`-`)."""
    took_stdout = _write_reports(json=(json_path, report.to_json), junit=(junit_path, report.to_junit),
                                 markdown=(markdown_path, report.to_markdown))
    if not (took_stdout and _quiet()):
        click.echo(report.to_text(), nl=False, err=took_stdout)


@cli.command()
@_common_options
@click.argument("src", type=click.Path(path_type=str))
@click.argument("repo_id")
@click.option("--formats", default="all", show_default=True, callback=_published_formats, metavar="FMT[,FMT...]",
              help="Formats to publish: safetensors (PyTorch's weights), tf, flax, onnx, or all (every one this "
                   "installation writes); deployment tiers by name beside them: onnx-int8, tflite, tflite-int8.")
@click.option("--create-pr", is_flag=True, help="Open a pull request (its description carries the parity table).")
@click.option("--revision", help="Branch to commit to (created from main when missing).")
@click.option("--private", is_flag=True, help="Create the repository private (an existing one keeps its visibility).")
@click.option("--commit-message", help="Commit title (default: what is published, and that parity was checked).")
@click.option("--token", help="Hub token (default: HF_TOKEN, else the huggingface_hub login). Never printed.")
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=str), metavar="DIR",
              help="Write the folder that would be uploaded into DIR (new or empty); upload nothing.")
@click.option("--force", is_flag=True, help="Publish even when parity fails or cannot be checked; the model card and "
                                            "the commit message then carry a warning.")
@click.option("--license", help="License id for the card's metadata (default: the source card's).")
@click.option("--base-model", help="base_model for the card's metadata (default: a Hub SRC, else the source card's).")
@click.option("--from", "src_format", callback=_one_format, metavar="FMT",
              help="Source format (default: detected): " + ", ".join(FORMAT_NAMES) + ".")
@click.option("--text-file", type=click.Path(dir_okay=False),
              help="Texts (one a line, tokenized beside SRC) on which deployment tiers are measured against fp32.")
@click.option("--timeout", type=float, default=900, show_default=True, help="Seconds one parity run may take.")
@_report_option("json", "the parity report")
@_report_option("junit", "the parity report")
@_report_option("markdown", "the parity report")
def push(src, repo_id, formats, create_pr, revision, private, commit_message, token, dry_run, force, license,
         base_model, src_format, text_file, timeout, json_path, junit_path, markdown_path) -> None:
    """Publish SRC to the Hub repo REPO_ID (org/name) in every framework's format: convert, run the parity harness
    on the files to upload against SRC, write a model card, commit what changed in one commit. Exit 1 when
    parity fails (nothing is published unless --force), 3 on bad input, a missing or rejected token."""

    activity = _Activity("converting, checking parity, publishing", _quiet(), _verbose())
    try:
        with activity:
            result = run_push(src, repo_id, formats=formats, create_pr=create_pr, revision=revision,
                              private=private, commit_message=commit_message, token=token, dry_run=dry_run,
                              force=force, license=license, base_model=base_model, src_format=src_format,
                              timeout=timeout, on_run=lambda run: activity.line(_run_line(run, _verbose())),
                              text_file=text_file)
    except BridgeError as exc:
        if getattr(exc, "report", None) is not None:  # a refused push shows the comparisons that refused it
            _show_report(exc.report, json_path, junit_path, markdown_path)
        raise
    _show_report(result.report, json_path, junit_path, markdown_path)
    for warning in result.warnings + ([result.forced] if result.forced else []):
        _warn(warning)
    where = result.repo + (f"@{revision}" if revision else "")
    if dry_run:
        click.echo(f"wrote {dry_run}: {', '.join(sorted(result.files))} and README.md (dry run: nothing uploaded)")
    elif result.commit_url is None:
        click.echo(f"nothing to commit: {where} already holds these files")
    elif result.pr_url:
        click.echo(f"opened a pull request on {where} with {', '.join(result.committed)}: {result.pr_url}")
    else:
        click.echo(f"committed {', '.join(result.committed)} to {where}: {result.commit_url}")


class _RunByDefault(click.Group):
    """`fleet MANIFEST ...` runs a manifest; `fleet status ...` summarises a ledger."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@cli.group("fleet", cls=_RunByDefault)
@_common_options
def fleet() -> None:
    """Convert, check and publish many checkpoints, resumably: `fleet MANIFEST --ledger F (--dry-run DIR |
    --create-pr | --no-pr)`, or `fleet status --ledger F`. Exit 0 all done and passing, 1 some failed, 3 bad
    manifest or ledger."""


@fleet.command("run")
@_common_options
@click.argument("manifest", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--ledger", "ledger_path", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The SQLite ledger (created when missing): what is done is skipped, a killed run resumes.")
@click.option("--hub-search", metavar="QUERY", help="Instead of MANIFEST: the Hub's models matching QUERY "
              "(words; author:NAME keeps one author's).")
@click.option("--formats", default="safetensors", show_default=True, callback=_published_formats,
              metavar="FMT[,FMT...]", help="Formats each source gets (as push's --formats).")
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=str), metavar="DIR",
              help="Write each source's folder to DIR/<org>--<name>/; upload nothing.")
@click.option("--create-pr", is_flag=True, help="Open a pull request on each repo (one: an open one of ours is reused).")
@click.option("--no-pr", is_flag=True, help="Commit to each repo's main branch directly (only when asked).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--workers", type=click.IntRange(1, 4096), default=2, show_default=True,
              help="Local worker processes (ray: the local Ray's CPUs when no --address).")
@click.option("--address", help="Ray cluster address (default: start a local Ray).")
@click.option("--retries", type=click.IntRange(0, 100), default=2, show_default=True,
              help="A failed source is run again by a later run until it has failed this many more times.")
@click.option("--backends", callback=lambda ctx, p, v: None if v is None else _backend_names(ctx, p, v),
              metavar="NAME[,NAME...]", help="Parity backends (default: push's: ours and transformers' of each "
              "published format's framework; the first installed runs the source).")
@click.option("--endpoint-concurrency", type=click.IntRange(1, 1024), default=4, show_default=True,
              help="Hub requests in flight at once, over all workers.")
@click.option("--cpus-per-task", type=float, default=1.0, show_default=True, help="Ray: CPUs each task requests.")
@click.option("--memory-per-task", help="Ray: memory each task requests (e.g. 4GB).")
@click.option("--token", help="Hub token (default: HF_TOKEN, else the huggingface_hub login). Never printed; "
                              "workers get it through their environment.")
@click.option("--timeout", type=float, default=900, show_default=True, help="Seconds one parity run may take.")
@_report_option("json", "the status of this manifest's sources")
@_report_option("junit", "the status")
@_report_option("markdown", "the status")
def fleet_run(manifest, ledger_path, hub_search, formats, dry_run, create_pr, no_pr, engine, workers, address, retries,
              backends, endpoint_concurrency, cpus_per_task, memory_per_task, token, timeout, json_path, junit_path,
              markdown_path) -> None:
    """Run MANIFEST (one source a line: org/name[@revision] or a path, optionally followed by the repo to publish
    to; # comments) through resolve, inspect, convert, parity and push, recording each source in the ledger."""
    if bool(manifest) == bool(hub_search):
        raise click.UsageError("give a MANIFEST or --hub-search QUERY (one of them)")
    if sum(map(bool, (dry_run, create_pr, no_pr))) != 1:
        raise click.UsageError("give one of --dry-run DIR, --create-pr, --no-pr")
    names = [f.name for f in publish_formats(formats)]
    memory = None
    if memory_per_task:
        try:
            memory = parse_size(memory_per_task)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--memory-per-task") from None
    previous = os.environ.get("HF_TOKEN")
    if token:
        os.environ["HF_TOKEN"] = token  # the workers' environment (Ray: its runtime_env), never a task argument
    try:
        summary = _run_fleet(manifest, hub_search, token, ledger_path, names, dry_run, create_pr, engine, workers,
                             address, retries, backends, endpoint_concurrency, cpus_per_task, memory, timeout)
    finally:
        if token:
            os.environ.pop("HF_TOKEN") if previous is None else os.environ.update(HF_TOKEN=previous)
    _fleet_reports(ledger_path, summary.run, json_path, junit_path, markdown_path)
    counts = summary.counts
    click.echo(", ".join(f"{counts[s]} {s}" for s in coordinator.SHOWN)
               + (f"; {summary.reclaimed} reclaimed from a run that stopped" if summary.reclaimed else "")
               + f" ({summary.seconds:.1f} s)", err=json_path == "-")
    sys.exit(summary.exit_code)


def _run_fleet(manifest, hub_search, token, ledger_path, names, dry_run, create_pr, engine, workers, address, retries,
               backends, endpoint_concurrency, cpus_per_task, memory, timeout):
    entries = read_manifest(manifest) if manifest else search_hub(hub_search, token)
    mode = "dry-run" if dry_run else "pr" if create_pr else "main"
    activity = _Activity("fleet", _quiet(), _verbose())

    def line(row, result) -> None:
        what = getattr(result, "error", None) or getattr(result, "pr_url", None) or getattr(result, "note", None) \
            or getattr(result, "output", None) or getattr(result, "why", "")
        activity.line(f"{getattr(result, 'state', 'lost')} {row.source}" + (f"@{row.revision}" if row.revision else "")
                      + (f": {what}" if what else ""))

    with activity:
        return coordinator.run_fleet(entries, ledger_path, formats=names, mode=mode, out_dir=dry_run,
                                     engine=engine, workers=workers, address=address, retries=retries,
                                     backends=backends, endpoint_limit=endpoint_concurrency, cpus=cpus_per_task,
                                     memory=memory, timeout=timeout, on_outcome=line)


def _fleet_reports(ledger_path, run, json_path, junit_path, markdown_path) -> None:
    if json_path and json_path != "-":
        coordinator.write_json(Path(json_path), ledger_path, run)
        json_path = None
    _write_reports(json=(json_path, lambda: json.dumps(coordinator.status(ledger_path, run), indent=1) + "\n"),
                   junit=(junit_path, lambda: coordinator.to_junit(ledger_path, run)),
                   markdown=(markdown_path, lambda: coordinator.to_markdown(ledger_path, run)))


@fleet.command("status")
@_common_options
@click.option("--ledger", "ledger_path", required=True, type=click.Path(dir_okay=False, path_type=str))
@_report_option("json", "the status")
@_report_option("junit", "the status")
@_report_option("markdown", "the status")
def fleet_status(ledger_path, json_path, junit_path, markdown_path) -> None:
    """Summarise a ledger: counts by state, and each failed source's error. Exit 1 when some failed."""
    info = coordinator.status(ledger_path)
    if json_path or junit_path or markdown_path:
        _fleet_reports(ledger_path, None, json_path, junit_path, markdown_path)
    if json_path != "-":
        counts = info["counts"]
        click.echo(", ".join(f"{counts[s]} {s}" for s in coordinator.SHOWN))
        for row in info["sources"]:
            if row["state"] == "failed":
                click.echo(f"failed {row['source']}" + (f"@{row['revision']}" if row["revision"] else "")
                           + f": {row['error']}")
    if info["counts"]["failed"] or any(r["parity_passed"] is False for r in info["sources"]):
        sys.exit(1)


@cli.command("formats")
@_common_options
@click.option("--available", "names_only", is_flag=True, help="Print only the names of available formats.")
@_report_option("json", "the list")
def list_formats(names_only: bool, json_path) -> None:
    """List the file formats and whether this installation reads and writes them."""
    listing = [{"name": f.name, "describe": f.describe, "available": f.available,
                "aliases": sorted(a for a, n in FORMAT_ALIASES.items() if n == f.name)} for f in FORMATS.values()]
    if _write_reports(json=(json_path, lambda: json.dumps(listing, indent=2) + "\n")):
        return
    if names_only:
        click.echo(" ".join(name for name, fmt in FORMATS.items() if fmt.available))
        return
    for fmt in FORMATS.values():
        state = "available" if fmt.available else f"not yet ({fmt.issue})"
        click.echo(f"{fmt.name:12} {fmt.describe:45} {state}")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="albert-bridge", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:  # click's name for Ctrl-C (KeyboardInterrupt)
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except Terminated as exc:  # SIGTERM during a conversion, after its clean-up
        click.echo("error: terminated", err=True)
        sys.exit(exc.code)
    except BridgeError as exc:
        if debug:  # the traceback, and the same exit code as without --debug
            traceback.print_exc()
        click.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - bad input must never end in a traceback
        if debug:
            traceback.print_exc()
        message = str(exc).splitlines()[0] if str(exc) else ""
        hint = "" if debug else " (run with --debug for a traceback)"
        click.echo(f"error: {type(exc).__name__}: {message}{hint}", err=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
