"""`flowsleuth report` (not built yet)."""

from __future__ import annotations

import argparse

from ..errors import FlowsleuthError

HELP = "report (not built yet)"
EXAMPLE = "flowsleuth report --help"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise FlowsleuthError("'flowsleuth report' is not built yet")
