"""`flowsleuth athena`: DDL for an S3 lake (partition projection) and detectors as Trino SQL."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError

HELP = "print Athena DDL for an S3 lake, or a detector as Trino SQL"
EXAMPLE = (
    "flowsleuth athena ddl --lake s3://my-lake/flowsleuth/ --database flowsleuth\n"
    "  flowsleuth athena sql reject_burst --since 2026-01-05T00:00Z --until 2026-01-06T00:00Z"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..athena import DEFAULT_DATABASE, DEFAULT_PROJECTION_START

    sub = parser.add_subparsers(dest="athena_command", metavar="ddl|sql")
    ddl = sub.add_parser("ddl", help="CREATE EXTERNAL TABLE statements (partition projection) for the three lake tables")
    ddl.add_argument("--lake", required=True, help="the lake: s3://bucket/prefix/")
    ddl.add_argument("--database", default=DEFAULT_DATABASE, help=f"Glue/Athena database (default {DEFAULT_DATABASE})")
    ddl.add_argument("--projection-start", default=DEFAULT_PROJECTION_START, metavar="YYYY-MM-DD",
                     help=f"first date partition projection considers (default {DEFAULT_PROJECTION_START})")  # fmt: skip
    sql = sub.add_parser("sql", help="a detector transpiled to Trino SQL (with its topology tables and ? parameters)")
    sql.add_argument("detector", help="detector id (see 'flowsleuth detect --list')")
    sql.add_argument("--topology", type=Path, metavar="FILE", help="topology.json whose tables go into the query")
    sql.add_argument("--param", action="append", default=[], metavar="ID.NAME=VALUE", help="override a parameter (repeatable)")
    sql.add_argument("--since", help="window start for the EXECUTE line (ISO 8601 UTC)")
    sql.add_argument("--until", help="window end, exclusive")


def run(args: argparse.Namespace) -> int:
    from ..athena import ddl, detector_sql

    if args.athena_command == "ddl":
        print(ddl(args.lake, database=args.database, start=args.projection_start), end="")
        return 0
    if args.athena_command != "sql":
        raise UsageError("flowsleuth athena needs a subcommand: ddl or sql (see 'flowsleuth athena --help')")
    from ..detect import load_detectors, parse_param_args, resolve_params
    from ..sources import parse_time
    from ..topology.model import Topology

    detectors = load_detectors()
    chosen = [d for d in detectors if d.id == args.detector]
    if not chosen:
        raise UsageError(f"unknown detector {args.detector!r} (valid: {', '.join(sorted(d.id for d in detectors))})")
    values = resolve_params(detectors, parse_param_args(args.param))[args.detector]
    query = detector_sql(
        chosen[0], topology=Topology.load(args.topology) if args.topology else None, params=values,
        since=parse_time(args.since, name="--since"), until=parse_time(args.until, name="--until"),
    )  # fmt: skip
    print(query.script(), end="")
    return 0
