"""`flowsleuth athena`: DDL for an S3 lake (partition projection) and detectors as Trino SQL."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError

HELP = "print Athena DDL for an S3 lake, or a detector as Trino SQL"
EXAMPLE = (
    "flowsleuth athena ddl --lake s3://my-lake/flowsleuth/ --database flowsleuth\n"
    "  flowsleuth athena sql DETECTOR --since 2026-01-05T00:00Z --until 2026-01-06T00:00Z --inline"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..athena import DEFAULT_DATABASE, DEFAULT_PROJECTION_START

    sub = parser.add_subparsers(dest="athena_command", metavar="ddl|sql", parser_class=type(parser))
    ddl = sub.add_parser("ddl", help="CREATE EXTERNAL TABLE statements (partition projection) for the three lake tables")
    ddl.add_argument("--lake", required=True, help="the lake: s3://bucket/prefix/")
    ddl.add_argument("--database", default=DEFAULT_DATABASE, help=f"Glue/Athena database (default {DEFAULT_DATABASE})")
    ddl.add_argument("--projection-start", default=DEFAULT_PROJECTION_START, metavar="YYYY-MM-DD",
                     help=f"first date partition projection considers (default {DEFAULT_PROJECTION_START})")  # fmt: skip
    sql = sub.add_parser("sql", help="a detector as one Trino statement (prep, topology, partition filter; ? parameters)")
    sql.add_argument("detector", help="detector id (see 'flowsleuth detect --list')")
    sql.add_argument("--database", default=DEFAULT_DATABASE, help=f"database of the tables 'athena ddl' made (default {DEFAULT_DATABASE})")
    sql.add_argument("--topology", type=Path, metavar="FILE", help="topology.json whose tables go into the query as VALUES")
    sql.add_argument("--param", action="append", default=[], metavar="ID.NAME=VALUE",
                     help="override a parameter (repeatable; run.NAME for run settings)")  # fmt: skip
    sql.add_argument("--since", required=True, help="window start (ISO 8601 UTC): the EXECUTE line's value and the first partitions read")
    sql.add_argument("--until", required=True, help="window end, exclusive (ISO 8601 UTC)")
    sql.add_argument("--inline", action="store_true", help="write the values into the query (runs as is in the console) instead of ? parameters")


def run(args: argparse.Namespace) -> int:
    from ..athena import ddl, detector_sql

    if args.athena_command == "ddl":
        print(ddl(args.lake, database=args.database, start=args.projection_start), end="")
        return 0
    if args.athena_command != "sql":
        raise UsageError("flowsleuth athena needs a subcommand: ddl or sql (see 'flowsleuth athena --help')")
    from ..detect import load_detectors, load_prep, parse_param_args
    from ..detect.catalog import default_queries_dir
    from ..detect.params import resolve_params
    from ..detect.prep import RUN_ID
    from ..timeparse import parse_time
    from ..topology.model import Topology

    detectors = load_detectors()
    chosen = [d for d in detectors if d.id == args.detector]
    if not chosen:
        raise UsageError(f"unknown detector {args.detector!r} (valid: {', '.join(sorted(d.id for d in detectors))})")
    prep = load_prep(default_queries_dir())
    bound = resolve_params([*detectors, prep], parse_param_args(args.param))
    topology = Topology.load(args.topology) if args.topology else None
    query = detector_sql(
        chosen[0], prep, topology=topology, params=bound[args.detector], settings=bound.get(RUN_ID),
        since=parse_time(args.since, name="--since"), until=parse_time(args.until, name="--until"), database=args.database,
        inline=args.inline,
    )  # fmt: skip
    print(query.script(), end="")
    return 0
