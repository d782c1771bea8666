"""`flowsleuth ingest` (not built yet)."""

from __future__ import annotations

import argparse

from ..errors import FlowsleuthError

HELP = "ingest (not built yet)"
EXAMPLE = "flowsleuth ingest --help"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise FlowsleuthError("'flowsleuth ingest' is not built yet")
