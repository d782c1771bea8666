"""`flowsleuth run`: the scheduled job (ingest what is new, detect, keep finding state, report)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..findings import SEVERITIES
from ..spark import add_engine_arguments

HELP = "the scheduled job: ingest new logs, detect, track finding state, write the report"
EXAMPLE = (
    "flowsleuth run --source s3://my-logs/AWSLogs/ --lake /var/lib/flowsleuth/lake --out /var/lib/flowsleuth/out "
    "--lookback 2h --fail-on high\n  flowsleuth run --config flowsleuth.toml"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="flowsleuth.toml (flags given here override it)")
    parser.add_argument("--source", action="append", default=[], metavar="SRC", help="s3://bucket/prefix or a local folder (repeatable)")
    parser.add_argument("--lake", help="lake directory")
    parser.add_argument("--out", help="output directory: findings.json, report.html, report.md, findings.csv, state.json")
    parser.add_argument("--lookback", help="re-scan this far before the earliest new record (default 2h)")
    parser.add_argument("--since", help="detect from this time (ISO 8601 UTC) instead of the ingested span")
    parser.add_argument("--until", help="detect until this time (exclusive)")
    parser.add_argument("--detector", action="append", default=[], metavar="ID", help="run only this detector (repeatable)")
    parser.add_argument("--param", action="append", default=[], metavar="ID.NAME=VALUE", help="override a detector parameter (repeatable)")
    parser.add_argument("--topology", help="topology.json")
    parser.add_argument("--fail-on", choices=SEVERITIES, help="exit 3 when an open finding is at or above this severity")
    parser.add_argument("--title", help="report title")
    parser.add_argument("--profile", help="AWS profile for S3 sources")
    parser.add_argument("--region", help="AWS region for S3 sources")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint URL")
    parser.add_argument("--workers", type=int, help="ingest download/parse workers")
    parser.add_argument("--retention-days", type=float, metavar="N", help="drop lake partitions older than N days")
    add_engine_arguments(parser, defaults=False)


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line values in RunConfig's names (None = not given, so the config file applies)."""
    from ..detect import parse_param_args

    return {
        "sources": args.source, "lake": args.lake, "out": args.out, "lookback": args.lookback,
        "since": args.since, "until": args.until, "detectors": args.detector,
        "params": parse_param_args(args.param), "topology": args.topology, "fail_on": args.fail_on,
        "title": args.title, "profile": args.profile, "region": args.region,
        "endpoint_url": args.endpoint_url, "workers": args.workers, "retention_days": args.retention_days,
        "engine": args.engine, "spark_master": args.spark_master,
        "spark_lake_url": args.spark_lake_url,
    }  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from ..batch import build_config, load_config_file, run_batch

    file_values = load_config_file(args.config) if args.config else {}
    cfg = build_config(file_values, overrides_from_args(args))
    result = run_batch(cfg)
    print(result.summary_line())
    return result.exit_code
