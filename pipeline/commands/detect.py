"""`flowsleuth detect` (not built yet)."""

from __future__ import annotations

import argparse

from ..errors import FlowsleuthError

HELP = "detect (not built yet)"
EXAMPLE = "flowsleuth detect --help"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise FlowsleuthError("'flowsleuth detect' is not built yet")
