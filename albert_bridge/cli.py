"""The `albert-bridge` command: a thin click layer. Imports no framework; each command imports what it needs.

Exit codes: 0 ok, 1 parity mismatch, 2 usage, 3 invalid input or refused output.
"""

from __future__ import annotations

import json
import sys

import click

HEADS = ("base", "pretraining", "masked-lm", "sequence-classification", "multiple-choice",
         "token-classification", "question-answering")
FORMAT_NAMES = ("safetensors", "pytorch", "tf", "flax", "tf1", "onnx", "canonical")


def _split_formats(ctx, param, value: str) -> list[str]:
    if value == "all":  # every format this installation writes
        from .formats import FORMATS

        return [name for name, fmt in FORMATS.items() if fmt.available]
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in FORMAT_NAMES]
    if bad or not names:
        raise click.BadParameter(f"{', '.join(bad) or value!r} (choose from {', '.join(FORMAT_NAMES)})")
    return list(dict.fromkeys(names))


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="albert-bridge")
def cli(debug: bool) -> None:
    """albert-bridge: convert, inspect and check ALBERT checkpoints across TF1, PyTorch, TF2, Flax and ONNX."""


@cli.command()
@click.argument("src", type=click.Path(path_type=str))
@click.argument("dst", type=click.Path(path_type=str))
@click.option("--to", "to", required=True, callback=_split_formats, metavar="FMT[,FMT...]",
              help=f"Output formats: {', '.join(FORMAT_NAMES)}, or all.")
@click.option("--from", "src_format", type=click.Choice(FORMAT_NAMES), help="Source format (default: detected).")
@click.option("--head", type=click.Choice(HEADS), help="Head to keep (default: from the checkpoint).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="config.json or albert_config.json to use instead of the one beside the weights.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), help="Cast floating tensors.")
@click.option("--max-shard-size", default="5GB", show_default=True, help="Shard above this size (0: never).")
@click.option("--force", is_flag=True, help="Replace a non-empty DST.")
@click.option("--allow-unused", is_flag=True, help="Drop source tensors that map to nothing, instead of failing.")
@click.option("--no-verify", is_flag=True, help="Skip reading every written tensor back before publishing.")
@click.option("--no-validate", is_flag=True,
              help="Skip running a written model (onnx) in ONNX Runtime against the NumPy reference forward pass.")
@click.option("--strict", is_flag=True, help="Refuse tensors holding NaN or Inf (default: a warning names them).")
def convert(src, dst, to, src_format, head, config_path, dtype, max_shard_size, force, allow_unused, no_verify,
            no_validate, strict) -> None:
    """Convert SRC (any supported format, detected) into the directory DST, atomically."""
    from .convert import convert as run_convert
    from .formats.hf_layout import parse_size

    try:
        shard_bytes = parse_size(max_shard_size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-shard-size") from None
    with _progress_bar() as tick:
        result = run_convert(src, dst, to, src_format=src_format, head=head, config=config_path, dtype=dtype, force=force,
                             max_shard_size=shard_bytes, verify=not no_verify, validate=not no_validate,
                             allow_unused=allow_unused, strict=strict, progress=tick)
    for warning in result.warnings:
        _warn(warning)
    ckpt = result.checkpoint
    skipped = len(ckpt.report.skipped)
    click.echo(f"read {ckpt.report.source} ({ckpt.report.format}, head {ckpt.head.value}, "
               f"{ckpt.num_parameters():,} parameters; {ckpt.report.consumed} tensors mapped, {skipped} skipped)")
    for fmt, files in result.written.items():
        click.echo(f"wrote {fmt}: " + ", ".join(str(f) for f in files))
    for fmt, diffs in result.validated.items():
        click.echo(f"validated {fmt} against the NumPy reference forward: max abs diff "
                   + ", ".join(f"{name} {diff:.1e}" for name, diff in diffs.items()))


class _progress_bar:
    """A byte progress bar on stderr, only when stderr is a terminal."""

    def __enter__(self):
        self.bar = None
        if not sys.stderr.isatty():
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
@click.argument("src", type=click.Path(path_type=str))
@click.option("--from", "src_format", type=click.Choice(FORMAT_NAMES), help="Source format (default: detected).")
@click.option("--head", type=click.Choice(HEADS), help="Inspect as this head.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect(src, src_format, head, as_json) -> None:
    """Describe a checkpoint: format, config, head, parameters, dtypes, groups, problems, the tokenizer beside it.
    Exit 3 when a tensor has a problem or the tokenizer cannot be read."""
    from .inspection import describe, render_text

    info = describe(src, src_format, head)
    click.echo(json.dumps(info, indent=2) if as_json else render_text(info))
    if info["problems"] or "error" in (info["tokenizer"] or {}):  # bad input, described in full
        sys.exit(3)


def _backend_names(ctx, param, value: str | None) -> list[str]:
    from .parity.backends import parse_backends

    try:
        return parse_backends(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
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
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the report as JSON.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write the report as JUnit XML.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), help="Write the report as Markdown.")
@click.option("--save-outputs", type=click.Path(dir_okay=False), help="Write the first run's inputs and outputs (.npz).")
@click.option("--expect", type=click.Path(dir_okay=False),
              help="Compare every run with outputs saved by --save-outputs (and run on their inputs).")
@click.option("--timeout", type=float, default=900, show_default=True, help="Seconds one run may take.")
@click.option("--emulate-device", is_flag=True, hidden=True,
              help="Run the --device code path on the CPU (tests that path on machines without the device).")
def parity(srcs, backends, device, dtype, atol, rtol, head, batch, seq_len, seed, inputs_file, texts, json_path,
           junit_path, markdown_path, save_outputs, expect, timeout, emulate_device) -> None:
    """Run every SRC on every backend with the same inputs and compare all outputs (logits, pooled output, every
    hidden state) with the first run. Exit 0 when all agree, 1 when any differs, 3 on bad input."""
    from .errors import BridgeError
    from .parity import check

    if inputs_file and texts:
        raise click.UsageError("give --inputs or --text, not both")
    report = check(list(srcs), backends, device=device, dtype=dtype, atol=atol, rtol=rtol, head=head,
                   inputs=inputs_file, texts=texts or None, batch=batch, seq_len=seq_len, seed=seed, expect=expect,
                   save_outputs_to=save_outputs, emulate_device=emulate_device, timeout=timeout)
    report.write(json_path, junit_path, markdown_path)
    click.echo(report.to_text(), nl=False)
    if not report.compared and save_outputs and any(r.ok for r in report.runs):
        click.echo(f"saved the outputs of {next(r.label for r in report.runs if r.ok)} to {save_outputs}")
        return
    if not report.compared:
        raise BridgeError("nothing to compare: " + "; ".join(
            f"{r.label} {'skipped: ' + r.skipped if r.skipped else 'error: ' + str(r.error)}"
            for r in report.runs if not r.ok) or "one run only (add a backend or --expect)")
    if not report.passed:
        sys.exit(1)


def _format_names(ctx, param, value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in (*FORMAT_NAMES, "all")]
    if bad or not names:
        raise click.BadParameter(f"{', '.join(bad) or value!r} (choose from {', '.join(FORMAT_NAMES)}, or all)")
    return names


@cli.command()
@click.argument("src", type=click.Path(path_type=str))
@click.argument("repo_id")
@click.option("--formats", default="all", show_default=True, callback=_format_names, metavar="FMT[,FMT...]",
              help="Formats to publish: safetensors, tf, flax, onnx, or all (every one this installation writes).")
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
@click.option("--from", "src_format", type=click.Choice(FORMAT_NAMES), help="Source format (default: detected).")
@click.option("--timeout", type=float, default=900, show_default=True, help="Seconds one parity run may take.")
def push(src, repo_id, formats, create_pr, revision, private, commit_message, token, dry_run, force, license,
         base_model, src_format, timeout) -> None:
    """Publish SRC to the Hub repo REPO_ID (org/name) in every framework's format: convert, run the parity harness
    on the files to upload against SRC, write a model card, commit what changed in one commit. Exit 1 when
    parity fails (nothing is published unless --force), 3 on bad input, a missing or rejected token."""
    from .errors import BridgeError
    from .hub import push as run_push

    try:
        result = run_push(src, repo_id, formats=formats, create_pr=create_pr, revision=revision, private=private,
                          commit_message=commit_message, token=token, dry_run=dry_run, force=force, license=license,
                          base_model=base_model, src_format=src_format, timeout=timeout)
    except BridgeError as exc:
        if getattr(exc, "report", None) is not None:  # a refused push shows the comparisons that refused it
            click.echo(exc.report.to_text(), nl=False)
        raise
    click.echo(result.report.to_text(), nl=False)
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
@click.option("--available", "names_only", is_flag=True, help="Print only the names of available formats.")
def list_formats(names_only: bool) -> None:
    """List the file formats and whether this installation reads and writes them."""
    from .formats import FORMATS

    if names_only:
        click.echo(" ".join(name for name, fmt in FORMATS.items() if fmt.available))
        return
    for fmt in FORMATS.values():
        state = "available" if fmt.available else f"not yet ({fmt.issue})"
        click.echo(f"{fmt.name:12} {fmt.describe:45} {state}")


def main(argv: list[str] | None = None) -> None:
    from .errors import BridgeError, Terminated

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
        if debug:
            raise
        click.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - bad input must never end in a traceback
        if debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else ""
        click.echo(f"error: {type(exc).__name__}: {message} (run with --debug for a traceback)", err=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
