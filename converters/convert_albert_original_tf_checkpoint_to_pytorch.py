#!/usr/bin/env python3
"""Drop-in replacement for transformers' removed script of the same name, built on albert-bridge.

    python converters/convert_albert_original_tf_checkpoint_to_pytorch.py \
        --tf_checkpoint_path albert_base/model.ckpt-best --albert_config_file albert_base/albert_config.json \
        --pytorch_dump_path out/pytorch_model.bin

Unlike the original it needs no TensorFlow, keeps every head the checkpoint has, and fails on unmapped weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tf_checkpoint_path", required=True, help="Checkpoint prefix, directory or tarball.")
    parser.add_argument("--albert_config_file", required=True, help="The original albert_config.json.")
    parser.add_argument("--pytorch_dump_path", required=True,
                        help="Output: a directory, or a file path whose directory receives pytorch_model.bin.")
    parser.add_argument("--force", action="store_true", help="Replace a non-empty output directory.")
    args = parser.parse_args(argv)

    from albert_bridge.cli import main as cli_main
    from albert_bridge.formats import FORMATS

    if not FORMATS["tf1"].available:
        print("error: reading original TF1 checkpoints arrives with issue #3; not available in this release",
              file=sys.stderr)
        return 3
    dump = Path(args.pytorch_dump_path)
    out_dir = dump.parent if dump.suffix else dump
    cli_args = ["convert", args.tf_checkpoint_path, str(out_dir), "--to", "pytorch", "--from", "tf1",
                "--config", args.albert_config_file] + (["--force"] if args.force else [])
    try:
        cli_main(cli_args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
