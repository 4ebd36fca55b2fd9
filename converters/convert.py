#!/usr/bin/env python3
"""Generic converter, mirroring `albert-bridge convert` (same arguments and options):

    python converters/convert.py SRC DST --to safetensors,pytorch [--head ...] [--dtype ...] [--force]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from albert_bridge.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["convert", *sys.argv[1:]])
