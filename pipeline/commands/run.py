"""`flowsleuth run` (not built yet)."""

from __future__ import annotations

import argparse

from ..errors import FlowsleuthError

HELP = "run (not built yet)"
EXAMPLE = "flowsleuth run --help"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise FlowsleuthError("'flowsleuth run' is not built yet")
