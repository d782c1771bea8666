"""`flowsleuth parse`: show how each raw log line parses, one JSON object per line.

The tool for "why does this line not parse?": every input line (after a flow-log
header line) gives its fields under AWS's documented names, or
``{"error": reason, "line": n}``. Same parser code as ingest (``parse_lines_to_records``).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from ..errors import FlowsleuthError, UsageError
from ..formats import FORMATS, parse_lines_to_records

HELP = "parse raw log lines and print each as JSON (or the reason it is rejected)"
EXAMPLE = "flowsleuth parse --format vpcflow data-samples/unit/vpcflow-v2-default.log"

_GZIP_MAGIC = b"\x1f\x8b"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=tuple(FORMATS), help="log format of the input")
    parser.add_argument(
        "--header",
        metavar='"FIELD FIELD ..."',
        help="flow logs: field names when the input has no header line (default: the input's first line)",
    )
    parser.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="plain or gzip file; '-' or nothing reads stdin")


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    p = Path(path)
    if not p.is_file():
        raise FlowsleuthError(f"cannot read {path!r}: no such file (pass a log file, or '-' for stdin)")
    return p.open("rb")


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    """Raw lines, un-gzipped when the input starts with the gzip magic bytes."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, stream))
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        try:
            from isal import igzip

            yield from igzip.open(buffered, "rb")
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise FlowsleuthError(f"input is not a valid gzip stream ({e})") from e
        return
    yield from buffered


def run(args: argparse.Namespace) -> int:
    if args.header is not None and args.format != "vpcflow":
        raise UsageError("--header applies to --format vpcflow only")
    stream = _open(args.file)
    out = sys.stdout
    try:
        for record in parse_lines_to_records(_lines(stream), args.format, header=args.header):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    out.flush()
    return 0
