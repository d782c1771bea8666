"""`flowsleuth simulate` (not built yet)."""

from __future__ import annotations

import argparse

from ..errors import FlowsleuthError

HELP = "simulate (not built yet)"
EXAMPLE = "flowsleuth simulate --help"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise FlowsleuthError("'flowsleuth simulate' is not built yet")
