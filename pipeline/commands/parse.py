"""`flowsleuth parse` (not built yet)."""

from __future__ import annotations

import argparse

from ..errors import FlowsleuthError

HELP = "parse (not built yet)"
EXAMPLE = "flowsleuth parse --help"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise FlowsleuthError("'flowsleuth parse' is not built yet")
