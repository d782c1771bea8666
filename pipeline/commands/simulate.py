"""`flowsleuth simulate`: write a labelled dataset of a broken (or healthy) web app."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..timeparse import duration_arg, time_arg

HELP = "write simulated VPC flow logs and ALB access logs (AWS's S3 layout) with ground-truth labels"
EXAMPLE = "flowsleuth simulate --scenario nacl_ephemeral --out /tmp/sim --seed 3 --duration 2h"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..simulate import ALL, SCENARIOS

    parser.add_argument("--scenario", required=True, choices=(*SCENARIOS, ALL), metavar="NAME",
                        help=f"one of: {', '.join((*SCENARIOS, ALL))}")  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (empty, or an earlier simulator output)")
    parser.add_argument("--seed", type=int, default=0, help="varies region, account, CIDRs, ports, AZs and traffic (default 0)")
    parser.add_argument("--start", type=time_arg, default=None, metavar="T", help="ISO 8601 start (default 2025-06-10T06:00:00Z)")
    parser.add_argument("--duration", type=duration_arg, default=None, metavar="D",
                        help="e.g. 2h, 90m (default: clean 6h, mixed 8h, incidents 3h)")  # fmt: skip
    parser.add_argument("--scale", type=float, default=1.0, metavar="X", help="traffic volume multiplier (default 1.0)")
    parser.add_argument("--targets-per-az", type=int, choices=(1, 2, 3), default=None, metavar="N",
                        help="app instances per AZ (default: drawn from the seed)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from ..simulate import generate

    clock = time.perf_counter()
    overrides = {} if args.targets_per_az is None else {"targets_per_az": args.targets_per_az}
    out = generate(args.scenario, args.out, seed=args.seed, start=args.start, duration=args.duration, scale=args.scale, **overrides)
    dirs = [out] if (out / "labels.json").exists() else sorted(p for p in out.iterdir() if (p / "labels.json").exists())
    for d in dirs:
        truth = json.loads((d / "labels.json").read_text())
        names = ", ".join(sorted({i["scenario"] for i in truth["incidents"]})) or "no incidents"
        print(f"{d}: {truth['scenario']} {truth['start']} .. {truth['end']} ({names})")
    print(f"done in {time.perf_counter() - clock:.1f} s")
    return 0
