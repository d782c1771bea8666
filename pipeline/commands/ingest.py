"""`flowsleuth ingest`: S3 prefixes or local folders → the Parquet lake, each object exactly once."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from ..spark import add_engine_arguments

HELP = "ingest VPC flow logs and ALB logs from S3 or local folders into a Parquet lake"
EXAMPLE = "flowsleuth ingest --source s3://my-logs/AWSLogs/ --lake ./lake --since 2024-05-01T00:00Z --until 2024-05-02"


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    t = text.strip().lower().rstrip("b").rstrip("i")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 512M or 2G") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..ingest import DEFAULT_BATCH_OBJECTS, DEFAULT_BATCH_ROWS, DEFAULT_WORKERS

    parser.add_argument("--source", nargs="+", required=True, metavar="SRC",
                        help="s3://bucket/prefix/ or a local folder in AWS's delivery layout (several allowed)")
    parser.add_argument("--lake", required=True, help="lake folder (created if missing)")
    parser.add_argument("--since", help="only objects that can hold events at or after this time (ISO 8601, UTC if no zone)")
    parser.add_argument("--until", help="only objects that can hold events up to this time (ISO 8601, UTC if no zone)")
    parser.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    parser.add_argument("--region", help="AWS region for the S3 client")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (also AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"fetch+parse threads (default {DEFAULT_WORKERS} for S3, one per core for folders)")
    parser.add_argument("--retry-mode", choices=("standard", "adaptive"), default="standard", help="botocore retry mode")
    parser.add_argument("--max-attempts", type=int, default=5, help="attempts per request (default 5)")
    parser.add_argument("--max-object-size", type=_size, default="2G",
                        help="cap on one object's decompressed size; bigger objects fail as a decompression bomb (default 2G)")
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS, help=argparse.SUPPRESS)
    parser.add_argument("--batch-objects", type=int, default=DEFAULT_BATCH_OBJECTS,
                        help=f"objects per committed batch/file (default {DEFAULT_BATCH_OBJECTS})")
    parser.add_argument("--retry-failed", action="store_true",
                        help="fetch objects that failed permanently (corrupt, access denied) again, as well as deferred transient ones")
    parser.add_argument("--no-compact", action="store_true",
                        help="do not compact closed partitions at the end of the run (see flowsleuth lake compact)")
    parser.add_argument("--retention-days", type=float, metavar="N",
                        help="drop partitions (and their ledger rows) older than N days; objects stamped before are not fetched")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_engine_arguments(parser, lake_url=False)


class TerminalProgress:
    """Objects, lines, MB/s and ETA on stderr while an ingest runs (rich, only on a terminal).

    The total grows while the sources are listed. MB/s and the ETA are over the whole run
    so far (bytes taken / seconds since the start), not rich's estimate from its last
    1,000 updates: with thousands of small objects a second that window is a fraction of a
    second, and the figures jumped between "?" and a hundredth of the real rate.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        self.objects = self.listed_n = self.lines = self.listed_bytes = self.taken_bytes = 0
        self.clock = clock
        self.started = clock()
        self.progress = Progress(
            TextColumn("ingest"), BarColumn(), TextColumn("{task.fields[objects]} objects, {task.fields[lines]} lines"),
            TextColumn("{task.fields[rate]}"), TextColumn("ETA {task.fields[eta]}"),
            console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self.task = self.progress.add_task("ingest", total=0, objects="0/0", lines="0", rate="- MB/s", eta="-:--:--")

    def rate_and_eta(self) -> tuple[str, str]:
        """(MB/s so far, time left at that rate for what is listed) as shown."""
        elapsed = self.clock() - self.started
        if elapsed <= 0 or not self.taken_bytes:
            return "- MB/s", "-:--:--"
        speed = self.taken_bytes / elapsed
        left = max(0, self.listed_bytes - self.taken_bytes) / speed
        return f"{speed / 1e6:.1f} MB/s", f"{int(left) // 3600}:{int(left) % 3600 // 60:02d}:{int(left) % 60:02d}"

    def __enter__(self) -> TerminalProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def listed(self, size: int) -> None:
        self.listed_n += 1
        self.listed_bytes += size
        self.progress.update(self.task, total=self.listed_bytes, objects=f"{self.objects:,}/{self.listed_n:,}")

    def taken(self, lines: int, size: int) -> None:
        self.objects += 1
        self.lines += lines
        self.taken_bytes += size
        rate, eta = self.rate_and_eta()
        self.progress.update(
            self.task, completed=self.taken_bytes, objects=f"{self.objects:,}/{self.listed_n:,}", lines=f"{self.lines:,}",
            rate=rate, eta=eta,
        )  # fmt: skip


def one_line(s: object) -> str:
    """The run in one line: what landed, how fast (lines/s over the whole run)."""
    from ..ingest import IngestSummary

    assert isinstance(s, IngestSummary)
    rate = s.lines_read / s.elapsed_s if s.elapsed_s else 0.0
    return (
        f"ingested {s.objects_done:,} objects ({s.objects_unchanged:,} unchanged, {s.objects_replaced:,} replaced, "
        f"{s.objects_failed:,} failed{f', {s.objects_skipped:,} skipped' if s.objects_skipped else ''}): "
        f"{s.lines_read:,} lines read -> {s.rows:,} rows + {s.rejects:,} rejects in {s.elapsed_s:.1f} s, "
        f"{rate:,.0f} lines/s, {s.mb_per_s:.1f} MB/s"
    )


def format_summary(s: object) -> str:
    from ..ingest import IngestSummary

    assert isinstance(s, IngestSummary)
    span = (
        f"{s.min_event_time:%Y-%m-%dT%H:%M:%SZ} .. {s.max_event_time:%Y-%m-%dT%H:%M:%SZ}"
        if s.min_event_time and s.max_event_time else "none"
    )  # fmt: skip
    lines = [
        f"objects: {s.objects_listed} listed, {s.objects_done} done, {s.objects_unchanged} unchanged, "
        f"{s.objects_empty} empty, {s.objects_skipped} skipped, {s.objects_pruned} out of window, "
        f"{s.objects_failed} failed ({s.objects_failed_new} new), {s.objects_failed_known} known failures not refetched, "
        f"{s.objects_deferred} deferred, {s.objects_gone} gone, {s.objects_replaced} replaced",
        f"lines: {s.lines_read} read, {s.rows} rows, {s.rejects} rejects; event time {span}",
        f"bytes: {s.bytes_downloaded / 1e6:.1f} MB read, {s.bytes_decompressed / 1e6:.1f} MB decompressed, "
        f"{s.files_written} files written ({s.bytes_written / 1e6:.1f} MB), {s.retries} retries",
        f"lake: {s.partitions_compacted} partitions compacted ({s.files_compacted} files), "
        f"{s.partitions_expired} expired, {s.objects_expired} objects before the retention cutoff",
        f"time: {s.elapsed_s:.1f}s, {s.mb_per_s:.1f} MB/s, {s.rows_per_s:,.0f} rows/s",
    ]
    lines += s.failure_lines()
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import json
    from contextlib import nullcontext

    from ..ingest import ingest

    run_ingest: Any = ingest
    if args.engine == "spark":
        from ..spark.ingest import spark_ingest

        run_ingest = partial(spark_ingest, master=args.spark_master)
    bar = TerminalProgress() if sys.stderr.isatty() and not args.json else None
    with bar if bar is not None else nullcontext():
        summary = run_ingest(
            args.source, args.lake, since=args.since, until=args.until, profile=args.profile, region=args.region,
            endpoint_url=args.endpoint_url, workers=args.workers, progress=args.verbose, retry_mode=args.retry_mode,
            max_attempts=args.max_attempts, max_object_size=args.max_object_size, batch_rows=args.batch_rows,
            batch_objects=args.batch_objects, retry_failed=args.retry_failed, compact=not args.no_compact,
            retention_days=args.retention_days, sink=bar,
        )  # fmt: skip
    if args.json:
        print(json.dumps(summary.as_dict(), default=str))
    else:
        if args.verbose:
            print(format_summary(summary))
        print(one_line(summary))
        for line in [] if args.verbose else summary.failure_lines():
            print(line)
    if summary.objects_listed and summary.objects_skipped == summary.objects_listed:
        print(f"flowsleuth: none of the {summary.objects_listed:,} objects found is a log in AWS's delivery layout "
              "(AWSLogs/<account>/vpcflowlogs|elasticloadbalancing/<region>/YYYY/MM/DD/...); check --source",
              file=sys.stderr)  # fmt: skip
    if not summary.ok:
        print(f"flowsleuth: {summary.objects_failed_new} objects failed for the first time; the rest was ingested "
              "(transient failures are retried on later runs, permanent ones with --retry-failed)", file=sys.stderr)
        return 1
    return 0
