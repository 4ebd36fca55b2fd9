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
def convert(src, dst, to, src_format, head, config_path, dtype, max_shard_size, force, allow_unused, no_verify) -> None:
    """Convert SRC (any supported format, detected) into the directory DST, atomically."""
    from .convert import convert as run_convert
    from .formats.hf_layout import parse_size

    try:
        shard_bytes = parse_size(max_shard_size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-shard-size") from None
    with _progress_bar() as tick:
        result = run_convert(src, dst, to, src_format=src_format, head=head, config=config_path, dtype=dtype, force=force,
                             max_shard_size=shard_bytes, verify=not no_verify, allow_unused=allow_unused,
                             progress=tick)
    for warning in result.warnings:
        _warn(warning)
    ckpt = result.checkpoint
    skipped = len(ckpt.report.skipped)
    click.echo(f"read {ckpt.report.source} ({ckpt.report.format}, head {ckpt.head.value}, "
               f"{ckpt.num_parameters():,} parameters; {ckpt.report.consumed} tensors mapped, {skipped} skipped)")
    for fmt, files in result.written.items():
        click.echo(f"wrote {fmt}: " + ", ".join(str(f) for f in files))


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
    """Describe a checkpoint: format, config, head, parameters, dtypes, groups, problems."""
    from .inspection import describe, render_text

    info = describe(src, src_format, head)
    click.echo(json.dumps(info, indent=2) if as_json else render_text(info))
    if info["problems"]:
        sys.exit(3)


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
    from .errors import BridgeError

    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="albert-bridge", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(3)
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
