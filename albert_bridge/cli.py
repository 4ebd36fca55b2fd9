"""The `albert-bridge` command: a thin click layer over the package. Imports no framework (each backend, adapter or
Hub client imports its own when it runs); head and format names come from their registries.

Exit codes: 0 ok, 1 parity mismatch, 2 usage, 3 invalid input or refused output.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable

import click

from .convert import convert as run_convert
from .errors import BridgeError, Terminated, did_you_mean
from .formats import FORMATS, get_format
from .formats.hf_layout import parse_size
from .inspection import describe, render_text
from .parity import check
from .parity.backends import parse_backends
from .parity.report import nothing_to_compare
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
    if value == "all":  # every format this installation writes (deployment tiers are asked for by name)
        return [name for name, fmt in FORMATS.items() if fmt.available and not fmt.tier]
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
                   "classes), or all (default: torch,tf,flax,onnx).")
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
