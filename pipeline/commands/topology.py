"""`flowsleuth topology` (not built yet)."""

from __future__ import annotations

import argparse

from ..errors import FlowsleuthError

HELP = "topology (not built yet)"
EXAMPLE = "flowsleuth topology --help"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise FlowsleuthError("'flowsleuth topology' is not built yet")
