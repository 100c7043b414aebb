"""Print an `.esnn` model: header, buffers, and per op its shapes, bit widths, params and flash bytes.

The blob is fully validated first (export/FORMAT.md section 5); a malformed one is reported with the
field that is wrong.

edgesnn inspect out/model.esnn
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

from edgesnn.cli.errors import CliError
from edgesnn.format import BlobError, parse
from edgesnn.reference.describe import describe


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an .esnn blob written by `edgesnn export`")


def run(args: argparse.Namespace) -> int:
    path = Path(args.model)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        model = parse(blob)
    except BlobError as exc:
        raise CliError(f"{path}: {exc}") from exc
    print(describe(model, file_size=len(blob), crc=struct.unpack_from("<I", blob, len(blob) - 4)[0]))
    return 0
