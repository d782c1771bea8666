"""`flowsleuth detect`: run the detectors in queries/ over a lake and write findings.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from ..findings import SEVERITIES, Finding, severity_rank
from ..spark import add_engine_arguments, open_spark_lake
from ..timeparse import parse_time
from .lake_args import add_lake_arguments, location

HELP = "run the detectors over a lake and write findings.json"
EXAMPLE = "flowsleuth detect --lake lake/ --out out/ --since 2026-01-05T00:00Z --fail-on high"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lake_arguments(parser)
    parser.add_argument("--out", type=Path, help="output directory for findings.json")
    parser.add_argument("--since", help="window start, ISO 8601 UTC (default: earliest event in the lake)")
    parser.add_argument("--until", help="window end, exclusive (default: just after the latest event)")
    parser.add_argument("--detector", action="append", metavar="ID", help="run only this detector (repeatable)")
    parser.add_argument("--param", action="append", default=[], metavar="ID.NAME=VALUE", help="override a detector parameter (repeatable)")
    parser.add_argument("--topology", type=Path, metavar="FILE", help="topology.json (subnets, AZs, interfaces)")
    parser.add_argument("--fail-on", choices=SEVERITIES, help="exit 3 when a finding at or above this severity exists")
    parser.add_argument("--no-infer-topology", action="store_true", help="do not infer subnets/interfaces from the logs")
    add_engine_arguments(parser)
    parser.add_argument("--list", action="store_true", help="list the detectors and their parameters, then exit")


def _list_detectors() -> int:
    from ..detect import load_detectors

    for det in load_detectors():
        print(f"{det.id:24} {det.severity:8} {','.join(det.sources):20} {det.title}")
        for p in det.params.values():
            print(f"    {det.id}.{p.name}={p.default!r} ({p.type}) {p.doc}")
    return 0


def _print_findings(findings: list[Finding]) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(show_lines=False)
        for col in ("severity", "detector", "window (UTC)", "entity", "summary"):
            table.add_column(col)
        for f in findings:
            table.add_row(
                f.severity,
                f.detector,
                f"{f.window_start} .. {f.window_end[11:]}",
                " ".join(f"{k}={v}" for k, v in f.entity.items()),
                f.summary,
            )
        Console().print(table, markup=False)
        return
    for f in findings:
        entity = " ".join(f"{k}={v}" for k, v in f.entity.items())
        print(f"{f.severity:8} {f.detector:22} {f.window_start} {entity}  {f.summary}")


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list_detectors()
    if args.lake is None or args.out is None:
        raise UsageError("flowsleuth detect needs --lake DIR and --out DIR (or --list)")

    from ..db import open_lake
    from ..detect import parse_param_args, run_detectors, write_findings, write_lake_findings
    from ..topology.model import Topology

    since = parse_time(args.since, name="--since") if args.since else None
    until = parse_time(args.until, name="--until") if args.until else None
    topology = Topology.load(args.topology) if args.topology else None
    params = parse_param_args(args.param)
    lake = location(args)
    con = open_spark_lake(lake, args.spark_master, args.spark_lake_url) if args.engine == "spark" else open_lake(lake)
    try:
        result = run_detectors(
            con,
            since=since,
            until=until,
            detectors=args.detector,
            params=params,
            topology=topology,
            infer_topology=not args.no_infer_topology,
        )
    finally:
        con.close()
    path = write_findings(result.findings, args.out)
    write_lake_findings(result.findings, lake)

    _print_findings(result.findings)
    for note in result.notes:
        print(f"note: {note}")
    for err in result.errors:
        print(f"error: {err}", file=sys.stderr)
    span = f"{result.since:%Y-%m-%dT%H:%M:%SZ} .. {result.until:%Y-%m-%dT%H:%M:%SZ}" if result.since and result.until else "empty lake"
    print(f"flowsleuth detect: {len(result.findings)} findings from {len(result.ran)} detectors over {span}; findings: {path}")
    if result.errors:
        return 1
    if args.fail_on and any(severity_rank(f.severity) >= severity_rank(args.fail_on) for f in result.findings):
        return 3
    return 0
