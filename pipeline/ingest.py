"""Ingest: sources → parsers → lake, each object exactly once, crash-safe.

``ingest(sources, lake, ...)`` lists the sources (pruned by ``since``/``until``),
skips objects the ledger has as done with the same ETag, fetches and parses the rest
on a thread pool (GETs overlap; isal and polars release the GIL so parsing uses both
cores), and commits them to the lake in batches (``lake.writer``). Objects are
consumed in listing order, so batches do not depend on thread timing. Memory is
bounded by ``workers`` objects in flight plus one batch (``batch_rows``).

Per-object failures are recorded in the ledger with a reason and the run goes on.
They come in two kinds (as dlt's load jobs do):

- *transient* (throttling, 5xx, connection resets, a body shorter than its
  Content-Length, a local read error): retried within the run (botocore, plus body
  re-reads with capped backoff) and, if they persist, on later runs, each further
  attempt waiting twice as long (``TRANSIENT_BACKOFF_BASE``, capped at
  ``TRANSIENT_BACKOFF_CAP``). They never turn terminal on their own.
- *terminal* (a complete transfer whose gzip is corrupt or ends early, a
  decompression bomb, AccessDenied, an unknown header, any parse error): recorded once
  and not fetched again until the object's ETag changes or ``retry_failed`` is given.

The summary lists every failing object (new ones first, with when it first failed);
``ok`` is false only when this run saw a *new* failure, so a scheduler alerts once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from .errors import FormatError, SourceError, UsageError
from .formats.result import ParsedObject
from .lake import (
    DEFAULT_LOCK_WAIT,
    DONE_STATUSES,
    BatchMember,
    FailedObject,
    LakeLocation,
    LakeWriter,
    Ledger,
    ObjectEntry,
    OpenBatch,
    Prior,
    StagedBatch,
    lake_location,
    lake_lock,
    open_ledger,
    open_writer,
)  # fmt: skip
from .lake.writer import write_errors
from .schema import REJECT_RAW_MAX, REJECTS_SCHEMA
from .sources import (
    DEFAULT_LATE_MARGIN,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_DECOMPRESSED,
    KeyInfo,
    ObjectAccessError,
    ObjectGoneError,
    ObjectRef,
    RetryMode,
    Skip,
    Source,
    TimeWindow,
    classify_key,
    decode_object,
    discover,
    open_sources,
    parse_time,
)  # fmt: skip

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8  # for S3 sources (GETs wait on the network); local folders default to one per core
#: Rows per committed batch: objects are staged as they arrive (memory holds only row-group
#: buffers, ``lake.writer.BUFFER_BYTES``), so a batch can be large and a bulk ingest writes
#: about one file per table partition and batch; a crash loses at most the batch in progress.
DEFAULT_BATCH_ROWS = 4_000_000
DEFAULT_BATCH_OBJECTS = 512
MAX_FAILURES_KEPT = 100
TRANSIENT_BACKOFF_BASE = timedelta(minutes=1)  # wait before the 3rd attempt (the 2nd is the next run)
TRANSIENT_BACKOFF_CAP = timedelta(hours=1)
#: (sources, candidates in listing order, max object size) -> outcomes in the same order.
Fetcher = Callable[[list[Source], Iterator[tuple[Source, ObjectRef, KeyInfo, "Prior | None"]], int], Iterator["_Outcome"]]


@dataclass
class IngestSummary:
    """What one ingest run did. ``min/max_event_time`` span the rows it added (UTC)."""

    objects_listed: int = 0
    objects_done: int = 0  # fetched and committed with rows (or rejects)
    objects_empty: int = 0  # fetched, no lines
    objects_skipped: int = 0  # not a log we read (test file, stray file, NLB/classic)
    objects_failed: int = 0  # fetched this run and failed (new or again)
    objects_failed_new: int = 0  # of those, failing for the first time (this ETag): the exit-1 condition
    objects_failed_known: int = 0  # terminal failures from earlier runs, same ETag: not fetched
    objects_deferred: int = 0  # transient failures waiting for their backoff: not fetched this run
    objects_gone: int = 0  # deleted between list and get
    objects_unchanged: int = 0  # done in an earlier run with the same ETag: not fetched
    objects_pruned: int = 0  # outside --since/--until by file-name time: not fetched
    objects_expired: int = 0  # stamped before the retention cutoff: not fetched
    objects_replaced: int = 0  # changed ETag (or repair): earlier rows replaced
    lines_read: int = 0
    rows: int = 0
    rejects: int = 0
    bytes_downloaded: int = 0
    bytes_decompressed: int = 0
    retries: int = 0
    list_requests: int = 0
    get_requests: int = 0
    files_written: int = 0
    files_removed: int = 0
    bytes_written: int = 0
    recovered_files: int = 0  # leftovers of an interrupted run cleaned at start
    partitions_compacted: int = 0  # closed partitions rewritten into one file each
    files_compacted: int = 0  # files they had before
    partitions_expired: int = 0  # dropped by retention
    rows_by_table: dict[str, int] = field(default_factory=dict)
    min_event_time: datetime | None = None
    max_event_time: datetime | None = None
    elapsed_s: float = 0.0
    failing_total: int = 0  # objects failing in the ledger after this run (all kinds)
    objects_with_drift: int = 0  # flow-log objects whose header names fields AWS does not document (kept)
    schema_drift: dict[str, list[str]] = field(default_factory=dict)  # uri -> those fields (first 100 objects)
    objects_with_rejects: int = 0
    rejects_by_object: dict[str, int] = field(default_factory=dict)  # uri -> rejected lines (first 100 objects)
    failures: list[FailedObject] = field(default_factory=list)  # the first 100 of them, new first

    @property
    def ok(self) -> bool:
        """No new failure this run (known failures are listed, not alerted on again)."""
        return self.objects_failed_new == 0

    def failure_lines(self, limit: int = 20) -> list[str]:
        """One line per failing object: new or known, kind, since when, why (CLI summary, run notes)."""
        lines = [
            f"failed ({'new' if f.new else 'known'}, {f.kind}, since {f.first_seen[:19]}Z): {f.uri}: {f.reason}"
            for f in self.failures[:limit]
        ]
        if self.failing_total > limit:
            lines.append(f"... and {self.failing_total - limit} more failing objects (see flowsleuth lake status)")
        return lines

    @property
    def mb_per_s(self) -> float:
        return self.bytes_downloaded / 1e6 / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.elapsed_s if self.elapsed_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["min_event_time"] = self.min_event_time.isoformat() if self.min_event_time else None
        d["max_event_time"] = self.max_event_time.isoformat() if self.max_event_time else None
        d["mb_per_s"] = round(self.mb_per_s, 2)
        d["rows_per_s"] = round(self.rows_per_s)
        return d


class ProgressSink(Protocol):
    """Receives progress from ``ingest`` (on its calling thread); e.g. a terminal progress bar."""

    def listed(self, size: int) -> None:
        """One more object to fetch, ``size`` bytes as listed."""

    def taken(self, lines: int, size: int) -> None:
        """One object fetched and parsed (or failed): its lines and bytes."""


@dataclass
class _Outcome:
    ref: ObjectRef
    info: KeyInfo
    status: str  # done | empty | failed | gone
    prior: Prior | None
    etag: str
    last_modified: datetime | None
    data: pa.Table | None = None
    rejects: pa.Table | None = None
    lines: int = 0
    unknown_fields: tuple[str, ...] = ()
    reason: str | None = None
    failure: str | None = None  # transient | terminal, when failed
    bytes_in: int = 0
    bytes_out: int = 0


_MAX_LISTED = 100


def _note_drift_and_rejects(summary: IngestSummary, uri: str, unknown: tuple[str, ...], rejects: int) -> None:
    """Count schema drift and rejects per object, listing the first objects by URI."""
    if unknown:
        summary.objects_with_drift += 1
        if len(summary.schema_drift) < _MAX_LISTED:
            summary.schema_drift[uri] = list(unknown)
    if rejects:
        summary.objects_with_rejects += 1
        if len(summary.rejects_by_object) < _MAX_LISTED:
            summary.rejects_by_object[uri] = rejects


def _drop_null_columns(data: pa.Table) -> pa.Table:
    """Drop all-null columns and ``source_uri`` while an object waits to be staged (the writer restores them).

    Flow-log tables carry ~90 columns of which a v2 log fills 14; an all-null string
    column still costs 4 bytes a row, about half the table's memory. ``source_uri`` is
    the object's URI on every row (~200 bytes a row on a local path: half of what is
    left): the text parsers leave it out (``uri_column=False``), Parquet flow logs drop
    it here; the writer puts it back from the ledger entry, row group by row group.
    """
    from .formats.grouped import without_null_columns

    return without_null_columns(data)


def _rejects_table(table: str, uri: str, rejects: list[Any]) -> pa.Table | None:
    if not rejects:
        return None
    return pa.table(
        {
            "table": [table] * len(rejects),
            "source_uri": [uri] * len(rejects),
            "source_line": [r.line for r in rejects],
            "reason": [r.reason for r in rejects],
            "raw": [r.raw[:REJECT_RAW_MAX] for r in rejects],
        },
        schema=REJECTS_SCHEMA,
    )


#: Decompress+parse at most this many objects at once: GETs may wait on the network in
#: many threads, but parsing is CPU and memory bound (peak about 8-10x the decompressed
#: object) and polars' reader already uses several cores. Two at least, so both cores of a
#: small machine stay busy through the single-threaded parts of a parse (measured on 2
#: cores, mixed bucket: 13% less wall time than one slot, peak RSS +60-90 MB).
_CPUS = os.cpu_count() or 1
_PARSE_SLOTS_N = min(_CPUS, max(2, _CPUS // 2))
_PARSE_SLOTS = threading.BoundedSemaphore(_PARSE_SLOTS_N)
#: Parsed groups of objects waiting for the stage thread, at most.
_STAGE_QUEUE = 2


#: Small text objects are parsed several at a time: ALB ones (AWS writes one per
#: load-balancer node every 5 minutes, often a few thousand lines) by
#: ``formats.alb.parse_alb_many``, flow-log ones with the same header line (quiet accounts
#: deliver thousands of a few hundred lines) by ``formats.vpcflow.parse_vpcflow_many``: a
#: parse has a fixed cost of dozens of polars calls. Objects up to this size (as listed, compressed) ...
GROUP_OBJECT_BYTES = 2 << 20
#: ... grouped up to this total and count.
GROUP_BYTES = 5 << 19  # 2.5 MB
GROUP_OBJECTS = 64
#: Flow-log objects up to this size are grouped: the fixed cost matters below ~20k lines
#: (a 1 MB object, ~40k lines, parsed alone or in pairs took the same CPU, and pairs more memory).
GROUP_FLOW_OBJECT_BYTES = 256 << 10

Candidate = tuple[Source, ObjectRef, KeyInfo, "Prior | None"]


def _fetch_and_parse(source: Source, ref: ObjectRef, info: KeyInfo, max_size: int, prior: Prior | None = None) -> _Outcome:
    """Worker: GET, validate/decompress the whole object, parse. Never raises."""
    return _fetch_and_parse_group([(source, ref, info, prior)], max_size)[0]


_GROUPED_TABLES = ("alb_access", "vpc_flow")


def _groupable(info: KeyInfo, ref: ObjectRef) -> bool:
    limit = GROUP_FLOW_OBJECT_BYTES if info.table == "vpc_flow" else GROUP_OBJECT_BYTES
    return info.table in _GROUPED_TABLES and info.fmt != "parquet" and ref.size <= limit


def _fetch_and_parse_group(items: list[Candidate], max_size: int) -> list[_Outcome]:
    """Worker: ``_fetch_and_parse`` for consecutive objects of one table, small ones parsed together. Never raises."""

    outs: list[_Outcome] = []
    fetched: list[tuple[_Outcome, bytes]] = []
    for _source, ref, info, prior in items:
        out = _Outcome(ref=ref, info=info, status="failed", prior=prior, etag=ref.etag, last_modified=ref.last_modified)
        out.failure = "terminal"  # unless a transient cause says otherwise below
        outs.append(out)
    for (source, ref, _info, _prior), out in zip(items, outs, strict=True):
        data = _guarded(out, partial(_fetch, out, source, ref))
        if data:
            fetched.append((out, data))
    if fetched:
        with _PARSE_SLOTS:
            texts: list[tuple[_Outcome, bytes]] = []
            for out, data in fetched:
                if len(fetched) > 1 and out.info.table in _GROUPED_TABLES and out.info.fmt != "parquet":
                    text = _guarded(out, partial(_decode, out, data, max_size))
                    if text is not None:
                        texts.append((out, text))
                else:
                    _guarded(out, partial(_parse, out, data, out.ref, out.info, max_size))
            del fetched
            for together in _parse_groups(texts):
                if _parse_together(together):
                    done = {id(o) for o, _ in together}
                    texts = [(o, t) for o, t in texts if id(o) not in done]
            for out, text in texts:
                _guarded(out, partial(_parse_text, out, text))
    for out in outs:
        if out.status != "failed":
            out.failure = None
    return outs


def _parse_groups(texts: list[tuple[_Outcome, bytes]]) -> list[list[tuple[_Outcome, bytes]]]:
    """The decoded objects that can be parsed together: ALB ones, flow-log ones by header line."""
    from .formats.alb import groupable
    from .formats.vpcflow import flow_group_key

    groups: dict[tuple[str, bytes], list[tuple[_Outcome, bytes]]] = {}
    for out, text in texts:
        head = flow_group_key(text) if out.info.table == "vpc_flow" else b"" if groupable(text) else None
        if head is not None:
            groups.setdefault((out.info.table, head), []).append((out, text))
    return [g for g in groups.values() if len(g) > 1]


def _parse_together(together: list[tuple[_Outcome, bytes]]) -> bool:
    """Parse one group in one call; False: it failed, and its objects are parsed one by one (which reports per object)."""
    from .formats.alb import parse_alb_many
    from .formats.vpcflow import parse_vpcflow_many

    try:
        if together[0][0].info.table == "vpc_flow":
            parsed = parse_vpcflow_many([(t, o.ref.uri) for o, t in together], for_lake=True)
        else:
            parsed = parse_alb_many([(t, o.ref.uri, o.info.node_ip, o.info.load_balancer) for o, t in together], for_lake=True)
    except Exception:  # noqa: BLE001 - see the docstring
        log.debug("grouped parse failed; parsing one by one", exc_info=True)
        return False
    for (o, _), p in zip(together, parsed, strict=True):
        _take_parsed(o, p, trimmed=True)
    return True


def _guarded(out: _Outcome, step: Callable[[], Any]) -> Any:
    """Run one step for ``out``; an error becomes its failure (status, kind, reason), never an exception."""
    try:
        return step()
    except ObjectGoneError as e:
        out.status, out.reason = "gone", str(e)
    except ObjectAccessError as e:
        out.reason = f"access denied: {e}"
    except SourceError as e:
        if e.transient:
            out.failure = "transient"
        out.reason = f"{'transient (retried on later runs)' if e.transient else 'read error'}: {e}"
    except FormatError as e:
        out.reason = f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - one bad object must not stop the run
        log.exception("unexpected error processing %s", out.ref.uri)
        out.failure = "transient"  # our bug, not the object's: a fixed version should pick it up
        out.reason = f"internal error: {type(e).__name__}: {e}"
    return None


def _fetch(out: _Outcome, source: Source, ref: ObjectRef) -> bytes | None:
    fetched = source.get(ref)
    out.etag, out.last_modified, out.bytes_in = fetched.etag, fetched.last_modified, len(fetched.data)
    if not fetched.data:
        out.status = "empty"
        return None
    return fetched.data


def _decode(out: _Outcome, data: bytes, max_size: int) -> bytes | None:
    text = decode_object(data, out.info.fmt, max_size=max_size, source_uri=out.ref.uri)
    out.bytes_out = len(text)
    if not text:
        out.status = "empty"
        return None
    return text


def transient_delay(attempts: int) -> timedelta:
    """How long a transient failure waits after its ``attempts``-th failing fetch (0 after the first)."""
    if attempts <= 1:
        return timedelta(0)
    return min(TRANSIENT_BACKOFF_CAP, TRANSIENT_BACKOFF_BASE * 2 ** min(attempts - 2, 30))


def _failure_state(out: _Outcome, now: datetime) -> tuple[str, int, str | None]:
    """(first_failed_at, attempts, retry_after) for a failed outcome, continuing its prior failure."""
    prior = out.prior
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if prior is not None and prior.status == "failed" and prior.etag == out.etag:
        first, attempts = prior.first_failed_at or stamp, prior.attempts + 1
    else:
        first, attempts = stamp, 1
    retry = None
    if out.failure == "transient":
        retry = (now + transient_delay(attempts)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return first, attempts, retry


def _wanted(prior: Prior | None, etag: str, retry_failed: bool, now_stamp: str) -> str | None:
    """Why an object is not fetched (``unchanged``, ``known``, ``deferred``), or None to fetch it."""
    if prior is None or prior.etag != etag:
        return None
    if prior.status in DONE_STATUSES:
        return "unchanged"
    if prior.status != "failed" or retry_failed:
        return None
    if prior.failure == "terminal":
        return "known"
    if prior.retry_after and prior.retry_after > now_stamp:
        return "deferred"
    return None


def _parse(out: _Outcome, data: bytes, ref: ObjectRef, info: KeyInfo, max_size: int) -> None:
    from .formats import parse_flow_parquet

    if info.fmt == "parquet":
        _take_parsed(out, parse_flow_parquet(data, source_uri=ref.uri))
        return
    text = _decode(out, data, max_size)
    del data
    if text is not None:
        _parse_text(out, text)


def _parse_text(out: _Outcome, text: bytes) -> None:
    from .formats import parse_bytes_for_lake

    info = out.info
    parsed = parse_bytes_for_lake(text, info.table, source_uri=out.ref.uri, node_ip=info.node_ip, load_balancer=info.load_balancer)
    _take_parsed(out, parsed)


def _take_parsed(out: _Outcome, parsed: ParsedObject, *, trimmed: bool = False) -> None:
    """``trimmed``: ``parsed.data`` already left out ``source_uri`` and all-null columns (a grouped parse ``for_lake``)."""
    out.lines = parsed.lines_read
    out.unknown_fields = parsed.unknown_fields
    out.data = parsed.data if trimmed else _drop_null_columns(parsed.data)
    out.rejects = _rejects_table(out.info.table, out.ref.uri, parsed.rejects)
    out.status = "done" if parsed.data.num_rows or parsed.rejects else "empty"


def _candidates(
    sources: list[Source], window: TimeWindow, ledger: Ledger, summary: IngestSummary, skipped: list[ObjectEntry],
    retry_failed: bool = False,
    expire_before: datetime | None = None,
) -> Iterator[tuple[Source, ObjectRef, KeyInfo, Prior | None]]:
    seen: set[str] = set()
    now_stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for source in sources:
        for ref in discover(source, source.prefix, window):
            if ref.uri in seen:
                continue
            seen.add(ref.uri)
            summary.objects_listed += 1
            info = classify_key(ref.key)
            if isinstance(info, Skip):
                summary.objects_skipped += 1
                prior = ledger.lookup(ref.uri)
                if prior is None or prior.etag != ref.etag:
                    skipped.append(
                        ObjectEntry(
                            uri=ref.uri, bucket=ref.bucket, key=ref.key, etag=ref.etag, size=ref.size,
                            last_modified=ref.last_modified, status="skipped", reason=info.reason,
                        )  # fmt: skip
                    )
                continue
            if window.bounded and not window.keeps_delivery(info.file_time):
                summary.objects_pruned += 1
                continue
            if expire_before is not None and info.file_time < expire_before:
                summary.objects_expired += 1
                continue
            prior = ledger.lookup(ref.uri)
            why = _wanted(prior, ref.etag, retry_failed, now_stamp)
            if why == "unchanged":
                summary.objects_unchanged += 1
            elif why == "known":
                summary.objects_failed_known += 1
            elif why == "deferred":
                summary.objects_deferred += 1
            else:
                yield source, ref, info, prior


def ingest(
    sources: list[str] | list[Path] | str | Path,
    lake: str | Path | LakeLocation,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    workers: int | None = None,
    progress: bool = False,
    retry_mode: RetryMode = "standard",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_object_size: int = DEFAULT_MAX_DECOMPRESSED,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    batch_objects: int = DEFAULT_BATCH_OBJECTS,
    late_margin: timedelta = DEFAULT_LATE_MARGIN,
    lock_wait: float = DEFAULT_LOCK_WAIT,
    retry_failed: bool = False,
    compact: bool = True,
    retention_days: float | None = None,
    sink: ProgressSink | None = None,
    fetcher: Fetcher | None = None,
) -> IngestSummary:
    """Ingest every new or changed log object under ``sources`` into ``lake``; see the module docstring.

    ``fetcher`` replaces the thread pool (``pipeline.spark.ingest``: parse on Spark executors);
    listing, the ledger and the commits stay here, so the lake is the same either way.
    """
    started = time.monotonic()
    specs = [str(sources)] if isinstance(sources, (str, Path)) else [str(s) for s in sources]
    window = TimeWindow(parse_time(since, name="--since"), parse_time(until, name="--until"), late_margin)
    remote = any(s.startswith("s3://") for s in specs)
    # a local read does not wait: more workers than cores would only hold more parsed objects in memory
    n_workers = workers if workers is not None else DEFAULT_WORKERS if remote else (os.cpu_count() or 1)
    if n_workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {workers})")
    if batch_rows < 1 or batch_objects < 1 or max_object_size < 1:
        raise UsageError("batch sizes and --max-object-size must be positive")
    if retention_days is not None and retention_days <= 0:
        raise UsageError(f"--retention-days must be positive (got {retention_days})")
    expire_before = datetime.now(UTC) - timedelta(days=retention_days) if retention_days else None
    srcs = open_sources(
        specs, profile=profile, region=region, endpoint_url=endpoint_url, retry_mode=retry_mode,
        max_attempts=max_attempts, max_pool_connections=max(10, n_workers * 2),
    )  # fmt: skip
    loc = lake_location(lake, profile=profile, region=region, endpoint_url=endpoint_url)  # s3:// uses the same options
    summary = IngestSummary()
    with lake_lock(loc, wait=lock_wait):
        ledger = open_ledger(loc, run_id=f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}")
        try:
            writer = open_writer(loc, ledger)
            recovery = writer.recover()
            summary.recovered_files = recovery.temp_removed + recovery.orphans_removed
            ledger.start_run()
            with write_errors(loc):
                _run(
                    srcs, window, ledger, writer, summary, n_workers, max_object_size, batch_rows, batch_objects,
                    progress, retry_failed, expire_before, sink, fetcher,
                )  # fmt: skip
                _maintain(writer, summary, compact=compact, margin=late_margin, expire_before=expire_before)
            writer.close()
            summary.failing_total, summary.failures = ledger.failing(MAX_FAILURES_KEPT)
            for s in srcs:
                summary.retries += s.counters.retries
                summary.list_requests += s.counters.list_requests
                summary.get_requests += s.counters.get_requests
            summary.elapsed_s = time.monotonic() - started
            ledger.finish_run(summary.as_dict())
        finally:
            ledger.close()
    log.info(
        "ingest: %d listed, %d done, %d unchanged, %d failed (%d new), %d rows in %.1fs (%.1f MB/s)",
        summary.objects_listed, summary.objects_done, summary.objects_unchanged, summary.objects_failed,
        summary.objects_failed_new,
        summary.rows, summary.elapsed_s, summary.mb_per_s,
    )  # fmt: skip
    return summary


def _maintain(
    writer: LakeWriter, summary: IngestSummary, *, compact: bool, margin: timedelta, expire_before: datetime | None
) -> None:
    """After the run's commits: drop expired partitions, compact closed ones (``lake.compact``)."""
    from .lake.compact import AUTO_MIN_FILES, SMALL_FILE_BYTES, drop_expired
    from .lake.compact import compact as compact_lake

    if expire_before is not None:
        summary.partitions_expired = drop_expired(writer, expire_before).partitions
    if compact:  # only partitions with enough small files (a bulk ingest's large files are left alone)
        done = compact_lake(writer, margin=margin, min_files=AUTO_MIN_FILES, small_bytes=SMALL_FILE_BYTES)
        summary.partitions_compacted, summary.files_compacted = done.partitions, done.files_before


def _run(
    sources: list[Source],
    window: TimeWindow,
    ledger: Ledger,
    writer: LakeWriter,
    summary: IngestSummary,
    workers: int,
    max_object_size: int,
    batch_rows: int,
    batch_objects: int,
    progress: bool,
    retry_failed: bool = False,
    expire_before: datetime | None = None,
    sink: ProgressSink | None = None,
    fetcher: Fetcher | None = None,
) -> None:
    skipped: list[ObjectEntry] = []
    batch: OpenBatch | None = None
    batch_rows_now = batch_objects_now = 0
    # Objects are staged on the stage thread as they arrive (split by partition, encoded
    # into the batch's open Parquet files: pyarrow releases the GIL) while later ones parse;
    # the ledger stays on this thread, and a batch is published only after the one before
    # it, so commits happen in listing order. The stage thread runs its tasks in order.
    stager = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-stage")
    adding: deque[Future[None]] = deque()  # objects handed to the stage thread, not yet staged
    pending: list[tuple[Future[StagedBatch], int]] = []
    opened: list[OpenBatch] = []  # every batch not yet published (cleaned up on error)

    def settle() -> None:
        """Publish the batch being finished (waits for it)."""
        if not pending:
            return
        future, rows = pending.pop()
        staged = future.result()
        opened.pop(0)
        result = writer.publish(staged)
        summary.files_written += result.files_added
        summary.files_removed += result.files_removed
        summary.bytes_written += result.bytes_written
        summary.objects_replaced += result.replaced_objects
        if result.min_event_time is not None:
            lo = result.min_event_time
            summary.min_event_time = lo if summary.min_event_time is None else min(summary.min_event_time, lo)
        if result.max_event_time is not None:
            hi = result.max_event_time
            summary.max_event_time = hi if summary.max_event_time is None else max(summary.max_event_time, hi)
        (log.info if progress else log.debug)(
            "committed %d objects (%d rows); %d objects, %d rows so far",
            len(staged.members), rows, summary.objects_done + summary.objects_empty, summary.rows,
        )  # fmt: skip

    def flush() -> None:
        nonlocal batch, batch_rows_now, batch_objects_now
        if skipped:
            ledger.record(skipped)
            skipped.clear()
        if batch is None:
            return
        settle()  # the batch before: published first, so ``holding`` sees its files
        while adding:
            adding.popleft().result()  # every member staged (staging errors surface here)
        open_, rows = batch, batch_rows_now
        batch, batch_rows_now, batch_objects_now = None, 0, 0
        pending.append((stager.submit(open_.finish, writer.holding(open_.members)), rows))

    def take(outs: list[_Outcome]) -> None:
        """Account for a group's outcomes in order; its parsed objects go to the stage thread together
        (one task per batch they fall in: batch limits are kept as if they came one by one)."""
        nonlocal batch, batch_rows_now, batch_objects_now
        chunk: list[BatchMember] = []
        for member in filter(None, map(member_of, outs)):
            chunk.append(member)
            batch_rows_now += member.entry.rows
            batch_objects_now += 1
            if batch_rows_now >= batch_rows or batch_objects_now >= batch_objects:
                stage(chunk)
                chunk = []
                flush()
        if chunk:
            stage(chunk)

    def stage(members: list[BatchMember]) -> None:
        nonlocal batch
        if batch is None:
            batch = writer.open_batch()
            opened.append(batch)
        adding.append(stager.submit(batch.add_many, members))
        while len(adding) > _STAGE_QUEUE:  # memory: at most this many parsed groups wait for the stage thread
            adding.popleft().result()

    def member_of(out: _Outcome) -> BatchMember | None:
        """The ledger entry and summary counts of one outcome; its batch member unless it failed or is gone."""
        summary.bytes_downloaded += out.bytes_in
        summary.bytes_decompressed += out.bytes_out
        ref = out.ref
        if sink is not None:
            sink.taken(out.lines, out.bytes_in or ref.size)
        entry = ObjectEntry(
            uri=ref.uri, bucket=ref.bucket, key=ref.key, etag=out.etag, size=out.bytes_in or ref.size,
            last_modified=out.last_modified, status=out.status, table_name=out.info.table, lines=out.lines,
            rows=out.data.num_rows if out.data is not None else 0,
            rejects=out.rejects.num_rows if out.rejects is not None else 0, reason=out.reason,
        )  # fmt: skip
        if out.status in ("failed", "gone"):
            failures = None
            if out.status == "failed":
                entry.failure = out.failure
                state = _failure_state(out, datetime.now(UTC))
                failures = {ref.uri: state}
                summary.objects_failed += 1
                if state[1] == 1:
                    summary.objects_failed_new += 1
                log.warning("failed (%s, attempt %d): %s: %s", out.failure, state[1], ref.uri, out.reason)
            else:
                summary.objects_gone += 1
            entry.size = ref.size
            ledger.record([entry], failures)
            return None
        if out.status == "empty":
            summary.objects_empty += 1
        else:
            summary.objects_done += 1
        summary.lines_read += out.lines
        summary.rows += entry.rows
        summary.rejects += entry.rejects
        _note_drift_and_rejects(summary, ref.uri, out.unknown_fields, entry.rejects)
        summary.rows_by_table[out.info.table] = summary.rows_by_table.get(out.info.table, 0) + entry.rows
        member = BatchMember(
            entry=entry, identity=ObjectRef(ref.uri, ref.bucket, ref.key, out.etag, 0, ref.last_modified).identity,
            data=out.data, rejects=out.rejects, fallback_time=out.info.file_time,
        )  # fmt: skip
        out.data = out.rejects = None
        return member

    in_flight: deque[Future[list[_Outcome]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
        try:
            if fetcher is not None:  # another engine fetches and parses; outcomes come back in listing order
                candidates = _candidates(sources, window, ledger, summary, skipped, retry_failed, expire_before)
                for out in fetcher(sources, candidates, max_object_size):
                    take([out])
            else:
                group: list[Candidate] = []
                group_bytes = 0

                def submit() -> None:
                    nonlocal group, group_bytes
                    if group:
                        in_flight.append(pool.submit(_fetch_and_parse_group, group, max_object_size))
                        group, group_bytes = [], 0
                    while len(in_flight) >= workers + _PARSE_SLOTS_N:
                        take(in_flight.popleft().result())

                for cand in _candidates(sources, window, ledger, summary, skipped, retry_failed, expire_before):
                    ref, info = cand[1], cand[2]
                    if sink is not None:
                        sink.listed(ref.size)
                    if group and not (
                        _groupable(info, ref) and _groupable(group[0][2], group[0][1]) and info.table == group[0][2].table
                        and group_bytes + ref.size <= GROUP_BYTES and len(group) < GROUP_OBJECTS
                    ):  # fmt: skip
                        submit()
                    group.append(cand)
                    group_bytes += ref.size
                    if not _groupable(info, ref):
                        submit()
                    if len(skipped) >= 1000:
                        ledger.record(skipped)
                        skipped.clear()
                submit()
                while in_flight:
                    take(in_flight.popleft().result())
            flush()
            settle()  # publish the batch still being finished on the stage thread
        finally:
            for f in in_flight:
                f.cancel()
            for a in adding:
                a.cancel()
            for future, _ in pending:  # an error above: the staged batch is not published
                try:
                    writer.discard(future.result())
                except Exception:  # noqa: BLE001 - staging failed too; it cleaned up after itself
                    pass
            stager.shutdown()
            for b in opened:  # batches never finished: their open files go
                if not b.closed:
                    b.abort()

