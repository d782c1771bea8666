"""`flowsleuth lake status|compact`: what a lake holds; compact closed partitions, apply retention."""

from __future__ import annotations

import argparse
import json

HELP = "inspect a lake (status) or compact it and drop expired partitions (compact)"
EXAMPLE = "flowsleuth lake status --lake ./lake\n  flowsleuth lake compact --lake ./lake --retention-days 90"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lake_action", metavar="ACTION", required=True, parser_class=type(parser))
    status = sub.add_parser("status", help="tables, partitions, files, rows, bytes, event-time span, rejects, failures")
    status.add_argument("--lake", required=True, help="lake folder")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    compact = sub.add_parser("compact", help="rewrite closed partitions with several files into one file each")
    compact.add_argument("--lake", required=True, help="lake folder")
    compact.add_argument("--all", action="store_true", help="also partitions still open for late objects, and the rejects")
    compact.add_argument("--retention-days", type=float, metavar="N", help="first drop partitions (and their ledger rows) older than N days")
    compact.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from ..errors import LakeError, UsageError
    from ..lake import lake_location, lake_lock, ledger_path, open_ledger, open_writer
    from ..lake.compact import compact, drop_expired
    from ..lake.status import lake_status
    from ..lake.writer import write_errors

    loc = lake_location(args.lake)  # an S3 lake takes its endpoint and credentials from the environment
    if args.lake_action == "status":
        if loc.remote:
            raise UsageError("flowsleuth lake status reads a local lake; for an S3 lake use read_ledger(lake) in a notebook")
        lake = Path(args.lake)
        status = lake_status(lake)
        print(json.dumps(status.as_dict()) if args.json else "\n".join(status.lines()))
        return 0
    if not loc.remote and not ledger_path(loc.local).exists():
        raise LakeError(f"{str(lake)!r} has no ledger; it is not a lake written by flowsleuth ingest")
    if args.retention_days is not None and args.retention_days <= 0:
        raise UsageError(f"--retention-days must be positive (got {args.retention_days})")
    with lake_lock(loc):
        ledger = open_ledger(loc, run_id=f"compact-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        try:
            writer = open_writer(loc, ledger)
            with write_errors(loc):
                writer.recover()
                cutoff = datetime.now(UTC) - timedelta(days=args.retention_days) if args.retention_days else None
                kept = drop_expired(writer, cutoff) if cutoff else None
                done = compact(writer, everything=args.all)
            writer.close()
        finally:
            ledger.close()
    if args.json:
        print(json.dumps({"compaction": asdict(done), "retention": asdict(kept) if kept else None}))
        return 0
    line = f"compacted {done.partitions} partitions: {done.files_before} files -> {done.files_after} ({done.rows} rows)"
    if kept:
        line += f"; retention dropped {kept.partitions} partitions ({kept.files} files, {kept.rows} rows, {kept.objects} ledger objects)"
    print(line)
    return 0
