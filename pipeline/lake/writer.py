"""Commit batches of parsed objects into the lake, atomically and replaceably.

Protocol for one batch (several objects → one file per table partition, so small
objects do not become many small files):

1. write every new file under ``<lake>/_tmp/`` (outside the readers' globs), fsync;
2. objects that already have rows (changed ETag, or a repair) have them removed:
   each file holding them is rewritten without them, also into ``_tmp/``;
3. rename the staged files into ``<table>/date=.../hour=.../part-<hash>.parquet``;
4. commit the ledger (objects, files added/removed, object→file rows) in one
   SQLite transaction: only now are the rows part of the lake;
5. delete the replaced files.

A crash anywhere leaves files the ledger does not list (steps 1-3) or replaced files
it no longer lists (step 5); ``recover`` deletes both at the next start, so a rerun
converges to the same rows, each object exactly once. ``pipeline.db`` reads the
ledger's file list, so DuckDB readers never see a batch half-published; tools that
glob the folders (polars, Athena, Spark) can see uncommitted files only between a
crash and the next run.

File names are ``part-<hash>.parquet`` where the hash covers the table, partition
and the (bucket, key, ETag) of every object in the file: never raw key text.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import LakeError
from ..schema import REJECTS_SCHEMA, TABLES, conform_to_schema
from .ledger import FileEntry, Ledger, ObjectEntry
from .partition import Span, event_span, fallback_column, split_objects
from .storage import LakeLocation

log = logging.getLogger(__name__)

TMP_DIR = "_tmp"
REJECTS_DIR = "_rejects"
QUARANTINE_DIR = "_quarantine"  # stray or damaged files moved out of the readers' way, never deleted
PARQUET_COMPRESSION = "zstd"
PARQUET_COMPRESSION_LEVEL = 1  # zstd's fastest: on log columns within a few % of level 3's size
_PART_NAME = re.compile(r"^part-[0-9a-f]{32}\.parquet$")
_DATE_DIR = re.compile(r"^date=\d{4}-\d{2}-\d{2}$")
_HOUR_DIR = re.compile(r"^hour=\d{2}$")


@dataclass
class BatchMember:
    """One fetched, parsed object waiting to be committed."""

    entry: ObjectEntry  # status done or empty; etag of the bytes actually parsed
    identity: str  # hash of (bucket, key, etag)
    data: pa.Table | None  # rows, conforming to TABLES[entry.table_name]
    rejects: pa.Table | None  # REJECTS_SCHEMA rows
    fallback_time: datetime  # partition time for rows without an event time


@dataclass
class BatchResult:
    files_added: int = 0
    files_removed: int = 0
    rows: int = 0
    min_event_time: datetime | None = None
    max_event_time: datetime | None = None
    replaced_objects: int = 0
    bytes_written: int = 0


@dataclass
class Holding:
    """Files holding earlier rows of a batch's objects (path -> uris), and every live file's table."""

    files: dict[str, set[str]]
    live: dict[str, str]


@dataclass
class StagedBatch:
    """A batch written under ``_tmp/`` and fsynced, not yet part of the lake."""

    members: list[BatchMember]
    staged: list[tuple[Path, FileEntry, dict[str, int]]]
    removed: list[str]
    result: BatchResult


@dataclass
class RecoveryReport:
    temp_removed: int = 0
    orphans_removed: int = 0
    missing_files: int = 0
    quarantined: list[str] = field(default_factory=list)  # stray or damaged files moved to _quarantine/
    reingest: list[str] = field(default_factory=list)


@contextmanager
def write_errors(lake: str | Path | LakeLocation) -> Iterator[None]:
    """Turn a failed lake write (full disk, permissions) into one ``LakeError`` line.

    Nothing committed is lost: a batch only counts once its ledger transaction commits,
    and the next run's ``recover`` removes whatever the failed write left behind.
    """
    try:
        yield
    except sqlite3.OperationalError as e:
        if "full" in str(e) or "disk" in str(e) or "readonly" in str(e):
            raise LakeError(f"cannot write the lake ledger in {str(lake)!r}: {e}; nothing committed was lost, "
                            "free space (or fix permissions) and rerun") from None
        raise
    except OSError as e:
        if isinstance(e, (FileNotFoundError, ConnectionError)) and e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        what = "the disk is full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "a write failed"
        raise LakeError(
            f"cannot write lake {str(lake)!r}: {what} ({e.strerror or e}); nothing committed was lost, "
            "free space (or fix permissions) and rerun"
        ) from None


def _hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:32]


def _stats_columns(schema: pa.Schema) -> list[str]:
    """Columns whose min/max go into the footer: numbers and times, which readers prune on.

    Min/max of log strings (addresses, ids, URLs) span nearly everything in every file
    and cost about a third of the encoding time.
    """
    return [f.name for f in schema if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]


#: Columns whose values are (nearly) all distinct: a dictionary page for them is built, fills
#: up and is abandoned in every column chunk. Measured without it for these: ALB rows
#: encode 10-25% faster into 7% smaller files, flow rows (``source_line``) 6% smaller.
_NO_DICTIONARY = frozenset({
    "source_line", "time", "event_time", "request", "request_url", "trace_id", "request_creation_time",
    "request_creation_ts", "conn_trace_id", "transformed_uri", "client_port", "received_bytes", "sent_bytes",
    "request_processing_time", "target_processing_time", "response_processing_time", "timestamp",
})  # fmt: skip


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if f.name not in _NO_DICTIONARY]


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """How every lake file is written (batches, rejects, rewrites, compaction), in one place.

    No Arrow schema is stored: readers take the types from the Parquet schema, which is
    the table's (``source_uri`` dictionary-encoded in the file, a string to every reader).
    """
    return {
        "compression": PARQUET_COMPRESSION, "compression_level": PARQUET_COMPRESSION_LEVEL,
        "write_statistics": _stats_columns(schema), "use_dictionary": _dictionary_columns(schema), "store_schema": False,
    }  # fmt: skip


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LakeWriter:
    """Writes one lake; the caller holds the lake lock."""

    def __init__(self, lake: str | Path, ledger: Ledger, *, fsync: bool = True) -> None:
        self.lake = Path(lake)
        self.ledger = ledger
        self.fsync = fsync
        self.tmp = self.lake / TMP_DIR
        self._seq = 0
        self._seq_lock = threading.Lock()

    # --- recovery -----------------------------------------------------------
    def recover(self) -> RecoveryReport:
        """Repair the lake at the start of a run (under the lock).

        Staged leftovers and unlisted ``part-*`` files (an interrupted commit) are deleted;
        other Parquet files in the table folders (copied in by hand, half-written by
        another tool) and listed files whose size differs from the ledger's (damaged) are
        moved to ``_quarantine/`` with a warning; listed files that vanished or were
        quarantined send their objects back for re-ingest, so nothing committed is lost.
        """
        report = RecoveryReport()
        if self.tmp.exists():
            report.temp_removed = sum(1 for p in self.tmp.rglob("*") if p.is_file())
            shutil.rmtree(self.tmp)
        live = self.ledger.live_files()
        sizes = self.ledger.file_sizes()
        on_disk: set[str] = set()
        for folder in [*TABLES, REJECTS_DIR]:
            base = self.lake / folder
            if not base.is_dir():
                continue
            for path in base.rglob("*.parquet"):
                rel = path.relative_to(self.lake).as_posix()
                if not _PART_NAME.match(path.name):
                    self._quarantine(path, rel, "not written by flowsleuth", report)
                elif rel not in live:
                    log.info("removing uncommitted lake file %s", rel)
                    path.unlink()
                    report.orphans_removed += 1
                elif sizes.get(rel) and path.stat().st_size != sizes[rel]:
                    self._quarantine(path, rel, f"size {path.stat().st_size} differs from the committed {sizes[rel]}", report)
                else:
                    on_disk.add(rel)
            self._prune_empty_dirs(base)
        missing = [p for p in live if p not in on_disk]
        if missing:
            log.warning("%d lake files listed in the ledger are missing; their objects will be re-ingested", len(missing))
            report.missing_files = len(missing)
            report.reingest = self.ledger.forget_files(missing)
        return report

    def _quarantine(self, path: Path, rel: str, why: str, report: RecoveryReport) -> None:
        dest = self.lake / QUARANTINE_DIR / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
        log.warning("moved %s to %s/ (%s); readers ignore it", rel, QUARANTINE_DIR, why)
        report.quarantined.append(rel)

    def close(self) -> None:
        """Remove the (now empty) staging folder at the end of a run."""
        try:
            self.tmp.rmdir()
        except OSError:
            pass

    @staticmethod
    def _prune_empty_dirs(base: Path) -> None:
        for d in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass

    # --- staging ------------------------------------------------------------
    def _tmp_path(self) -> Path:
        with self._seq_lock:
            self._seq += 1
            seq = self._seq
        return self.tmp / f"{os.getpid()}-{seq}.parquet"

    def _stage(self, data: pa.Table, rel: str, table_name: str) -> tuple[Path, FileEntry, dict[str, int]]:
        self.tmp.mkdir(parents=True, exist_ok=True)
        tmp_path = self._tmp_path()
        pq.write_table(data, tmp_path, **parquet_options(data.schema))
        counts = pc.value_counts(data.column("source_uri"))
        per_uri = {v["values"].as_py(): v["counts"].as_py() for v in counts}
        entry = FileEntry(path=rel, table_name=table_name, rows=data.num_rows, bytes=tmp_path.stat().st_size)
        return tmp_path, entry, per_uri

    @staticmethod
    def _conform(data: pa.Table, schema: pa.Schema) -> pa.Table:
        """Exactly ``schema``: columns in order, missing ones (dropped while all-null) restored as nulls."""
        if data.schema.equals(schema):
            return data
        unknown = set(data.column_names) - set(schema.names)
        if unknown:
            raise LakeError(f"parsed rows have columns the lake schema lacks: {sorted(unknown)}")
        try:
            return conform_to_schema(data, schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise LakeError(f"parsed rows do not match the lake schema: {e}") from None

    # --- where files go (an S3 lake overrides these three) ----------------------
    def _publish_files(self, staged: list[tuple[Path, str]]) -> None:
        """Move staged files to their lake paths (before the ledger commit names them)."""
        for tmp_path, rel in staged:
            final = self.lake / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_path, final)

    def _remove_files(self, rels: list[str]) -> None:
        """Delete files the ledger no longer lists."""
        for rel in rels:
            (self.lake / rel).unlink(missing_ok=True)

    def _read_columns(self, rel: str) -> list[str] | None:
        """A lake file's column names, from its footer (None: the file is gone)."""
        path = self.lake / rel
        return pq.read_schema(path).names if path.exists() else None

    def _read_file(self, rel: str) -> pa.Table | None:
        """A committed file's rows, or None when it is gone."""
        path = self.lake / rel
        return pq.read_table(path, partitioning=None) if path.exists() else None

    # --- commit -------------------------------------------------------------
    def commit(self, members: list[BatchMember]) -> BatchResult:
        """Publish a batch of objects (see the module docstring for the protocol)."""
        return self.publish(self.stage(members, self.holding(members)))

    def holding(self, members: list[BatchMember]) -> Holding:
        """Ledger facts ``stage`` needs: files holding earlier rows of these objects.

        Read on the ledger's thread, after every earlier batch is published, so a file
        an earlier batch replaced is never read.
        """
        held = self.ledger.files_holding({m.entry.uri for m in members})
        return Holding(held, self.ledger.live_files() if held else {})

    def stage(self, members: list[BatchMember], holding: Holding) -> StagedBatch:
        """Steps 1-2: encode and write the batch's files under ``_tmp/``, fsynced (no ledger access).

        Thread-safe against the ledger's thread. On error nothing staged is left behind.
        Ingest streams instead (``open_batch``: objects are added one by one while later
        ones parse); this is the same for a batch whose members are all at hand.
        """
        batch = self.open_batch()
        try:
            batch.add_many(members)
        except BaseException:
            batch.abort()
            raise
        return batch.finish(holding)

    def open_batch(self) -> OpenBatch:
        """A batch to which objects are added one at a time (``OpenBatch``)."""
        return OpenBatch(self)

    def discard(self, batch: StagedBatch) -> None:
        """Remove a staged batch that will not be published."""
        for tmp_path, _, _ in batch.staged:
            tmp_path.unlink(missing_ok=True)

    def publish(self, batch: StagedBatch) -> BatchResult:
        """Steps 3-5: rename into place, commit the ledger, delete replaced files."""
        result, staged, removed = batch.result, batch.staged, batch.removed
        if not batch.members:
            return result
        try:
            self._publish_files([(tmp_path, entry.path) for tmp_path, entry, _ in staged])
            mappings = [(uri, entry.path, n) for _, entry, per_uri in staged for uri, n in per_uri.items()]
            self.ledger.commit_batch([m.entry for m in batch.members], [e for _, e, _ in staged], removed, mappings)
        finally:
            self.discard(batch)
        self._remove_files(removed)
        result.files_added = len(staged)
        result.files_removed = len(removed)
        result.bytes_written = sum(e.bytes for _, e, _ in staged)
        return result

    def _stage_rewrites(
        self, members: list[BatchMember], held: Holding, staged: list[tuple[Path, FileEntry, dict[str, int]]], result: BatchResult
    ) -> list[str]:
        """Rewrite files that hold rows of objects in this batch without those rows; returns replaced paths."""
        uris = {m.entry.uri for m in members}
        holding, live = held.files, held.live
        if not holding:
            return []
        result.replaced_objects = len({u for us in holding.values() for u in us} & uris)
        removed: list[str] = []
        for rel, file_uris in sorted(holding.items()):
            removed.append(rel)
            keep = file_uris - uris
            data = self._read_file(rel) if keep else None
            if data is None:
                continue
            table_name = live.get(rel, "")
            data = data.filter(pc.invert(pc.is_in(data.column("source_uri"), value_set=pa.array(sorted(uris), pa.string()))))
            if data.num_rows == 0:
                continue
            new_name = f"part-{_hash(rel, *sorted(uris & file_uris))}.parquet"
            new_rel = rel.rsplit("/", 1)[0] + "/" + new_name if "/" in rel else new_name
            schema = REJECTS_SCHEMA if table_name == REJECTS_DIR else table_columns(table_name, data.column_names)
            staged.append(self._stage(self._conform(data, schema), new_rel, table_name))
        log.info("replacing rows of %d changed objects (%d files rewritten)", result.replaced_objects, len(removed))
        return removed


#: An open partition file's buffered rows are written as one row group once they hold this
#: many bytes (Arrow, without ``source_uri``) ...
ROW_GROUP_BYTES = 48 << 20
#: ... and the largest buffer is written early once all of a batch's buffers hold this many.
BUFFER_BYTES = 128 << 20
ROW_GROUP_ROWS = 1 << 20  # and at most this many rows per row group


#: ``source_uri`` as the open batch files take it: a dictionary of the row group's object URIs
#: and one index a row. The Parquet column is the same (dictionary-encoded UTF8, required);
#: the writer no longer builds and hashes a ~200-byte string per row (flow-only bucket:
#: 10M of them). The files keep no Arrow schema of their own (``store_schema=False``), so
#: every reader takes the column types from the Parquet schema: exactly ``TABLES[table]``
#: (pyarrow, polars and DuckDB alike; tested).
_URI_FIELD = pa.field("source_uri", pa.dictionary(pa.int32(), pa.string()), nullable=False)


def file_schema(table_name: str, columns: Iterable[str]) -> pa.Schema:
    """The table's columns that ``columns`` names, in the table's order, ``source_uri`` always.

    A lake file leaves out the columns null on every row it holds: a default-format flow
    log fills 14 of the flow table's ~80 columns, and encoding the others (a definition
    level per row each) cost more than a third of writing the file. Readers take columns
    by name and read a missing one as nulls (``db.register_views``, Spark, Athena).
    """
    schema = table_columns(table_name, columns)
    return schema.set(schema.get_field_index("source_uri"), _URI_FIELD)


def table_columns(table_name: str, columns: Iterable[str]) -> pa.Schema:
    """``TABLES[table_name]`` cut to ``columns`` (and ``source_uri``), in the table's order."""
    keep = set(columns) | {"source_uri"}
    return pa.schema([f for f in TABLES[table_name] if f.name in keep])


#: Consecutive rows of one object each: (uri, rows), in row order.
Runs = list[tuple[str, int]]
#: Consecutive objects of at most ``MERGE_OBJECT_ROWS`` rows with the same columns are staged
#: as one table of at most ``MERGE_ROWS`` rows (a group parsed together: one split, one append
#: instead of one per object). Bigger objects go alone: for them the copy that joins the
#: tables costs more than the calls it saves.
MERGE_OBJECT_ROWS, MERGE_ROWS = 1 << 13, 1 << 16


def _uri_column(runs: Runs) -> pa.DictionaryArray:
    """``source_uri`` for consecutive runs of rows (uri, rows), dictionary-encoded."""
    index: dict[str, int] = {}
    for uri, _ in runs:
        index.setdefault(uri, len(index))
    indices = np.repeat(np.asarray([index[u] for u, _ in runs], dtype=np.int32), [n for _, n in runs])
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(list(index), pa.string()))


@dataclass
class _OpenFile:
    """One table partition of an open batch: a staged Parquet file being written row group by row group."""

    table_name: str
    date: str
    hour: str
    tmp_path: Path
    writer: pq.ParquetWriter
    schema: pa.Schema  # the file's columns (``file_schema``)
    pieces: list[tuple[Runs, pa.Table]] = field(default_factory=list)  # rows without source_uri, and whose they are
    buffered_bytes: int = 0
    buffered_rows: int = 0
    rows: int = 0
    per_uri: dict[str, int] = field(default_factory=dict)
    last_write: Future[None] | None = None  # this file's latest row group handed to the encoders


#: Row groups are encoded on this many threads (pyarrow releases the GIL while it encodes),
#: so the stage thread splits and buffers the next objects meanwhile and a batch's last
#: row groups (one per partition) are written side by side; a file's own row groups are
#: written in order.
ENCODE_THREADS = 2
#: Row groups handed to the encoders and not yet written, at most (memory: each holds up
#: to ``ROW_GROUP_BYTES`` of rows besides the buffers).
_ENCODE_QUEUE = 2


def _encode(f: _OpenFile, pieces: list[tuple[Runs, pa.Table]], before: Future[None] | None) -> None:
    """Write one row group of ``f`` (on an encoder thread), after its row groups handed over ``before``."""
    if before is not None:
        before.result()
    tables = [piece for _, piece in pieces]
    data = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    data = data.append_column(_URI_FIELD, _uri_column([run for runs, _ in pieces for run in runs]))
    f.writer.write_table(LakeWriter._conform(data, f.schema), row_group_size=ROW_GROUP_ROWS)


class OpenBatch:
    """A batch being staged: objects are added one at a time, in listing order.

    Each object's rows are split by ``date/hour`` partition and appended to one staged
    Parquet file per table partition (``_tmp/``), buffered into row groups of about
    ``ROW_GROUP_BYTES``; ``finish`` writes the rest, the rejects file and the rewrites
    of replaced objects, and fsyncs every file once. So a batch can span millions of
    rows (one file per partition, not one per few objects) while memory holds only the
    buffers. Not thread-safe: one thread adds and finishes (ingest's stage thread).
    """

    def __init__(self, writer: LakeWriter) -> None:
        self.writer = writer
        self.members: list[BatchMember] = []
        self.result = BatchResult()
        self.files: dict[tuple[str, str, str], _OpenFile] = {}
        self.set_aside: list[_OpenFile] = []  # files of a partition closed to new rows (``_append``)
        self.rejects: list[pa.Table] = []
        self.buffered_bytes = 0
        self.closed = False
        self._encoders: ThreadPoolExecutor | None = None
        self._encoding: deque[Future[None]] = deque()  # row groups handed over, oldest first

    def add(self, member: BatchMember) -> None:
        """Stage one object's rows and rejects; its tables are released afterwards."""
        self.add_many([member])

    def add_many(self, members: list[BatchMember]) -> None:
        """Stage objects in listing order; their tables are released afterwards.

        Consecutive objects of one table with the same columns (a group of small objects
        parsed together) are split and appended as one table, with each object's rows
        counted per file: for the thousands of small objects of a quiet bucket the calls
        per object cost more than their rows.
        """
        self.members.extend(members)
        run: list[BatchMember] = []  # consecutive objects staged as one table
        run_rows = 0
        for member in members:
            data = member.data
            if data is not None and data.num_rows:
                table_name = member.entry.table_name or ""
                if table_name not in TABLES:
                    raise LakeError(f"rows of {member.entry.uri!r} name no lake table ({table_name!r})")
                if "source_uri" in data.column_names:  # one object, one uri: put back per row group
                    member.data = data = data.drop_columns(["source_uri"])
                first = run[0].data if run else None
                joins = (
                    first is not None
                    and data.num_rows <= MERGE_OBJECT_ROWS
                    and first.num_rows <= MERGE_OBJECT_ROWS
                    and run_rows + data.num_rows <= MERGE_ROWS
                    and table_name == run[0].entry.table_name
                    and data.schema.equals(first.schema)
                )
                if run and not joins:
                    self._stage_rows(run)
                    run, run_rows = [], 0
                run.append(member)
                run_rows += data.num_rows
        if run:
            self._stage_rows(run)
        for member in members:
            if member.rejects is not None and member.rejects.num_rows:
                self.rejects.append(member.rejects)
            member.data = member.rejects = None

    def _stage_rows(self, run: list[BatchMember]) -> None:
        """Split the rows of consecutive objects (same table and columns) by partition and append them."""
        tables = [m.data for m in run if m.data is not None]
        # the objects of a group are slices of one parse: one contiguous copy costs less than
        # measuring and encoding dozens of slices
        data = tables[0] if len(tables) == 1 else pa.concat_tables(tables).combine_chunks()
        table_name = run[0].entry.table_name or ""
        counts = [t.num_rows for t in tables]
        uris = [m.entry.uri for m in run]
        span = self._note_span(table_name, data)

        def fallback() -> pa.Array:
            return fallback_column([(n, m.fallback_time) for n, m in zip(counts, run, strict=True)])

        for date, hour, part, share in split_objects(table_name, data, counts, fallback, span=span):
            self._append(table_name, date, hour, [(u, n) for u, n in zip(uris, share, strict=True) if n], part)

    def _note_span(self, table_name: str, data: pa.Table) -> Span:
        result = self.result
        result.rows += data.num_rows
        lo, hi = span = event_span(table_name, data)
        if lo is not None:
            result.min_event_time = lo if result.min_event_time is None else min(result.min_event_time, lo)
        if hi is not None:
            result.max_event_time = hi if result.max_event_time is None else max(result.max_event_time, hi)
        return span

    def _append(self, table_name: str, date: str, hour: str, runs: Runs, part: pa.Table) -> None:
        key = (table_name, date, hour)
        f = self.files.get(key)
        if f is not None and not set(part.column_names) <= set(f.schema.names):
            # rows with a column the open file left out: that file takes no more rows, and
            # the partition goes on in a file with both sets of columns (so a partition of a
            # batch has as many files as its column sets grow, usually one)
            self._write_group(f)
            self.set_aside.append(f)
            f = self.files[key] = self._open(table_name, date, hour, [*f.schema.names, *part.column_names])
        elif f is None:
            f = self.files[key] = self._open(table_name, date, hour, part.column_names)
        size = part.nbytes
        f.pieces.append((runs, part))
        f.buffered_bytes += size
        f.buffered_rows += part.num_rows
        for uri, n in runs:
            f.per_uri[uri] = f.per_uri.get(uri, 0) + n
        self.buffered_bytes += size
        if f.buffered_bytes >= ROW_GROUP_BYTES or f.buffered_rows >= ROW_GROUP_ROWS:
            self._write_group(f)
        while self.buffered_bytes >= BUFFER_BYTES:
            self._write_group(max(self.files.values(), key=lambda o: o.buffered_bytes))

    def _open(self, table_name: str, date: str, hour: str, columns: Iterable[str]) -> _OpenFile:
        w = self.writer
        w.tmp.mkdir(parents=True, exist_ok=True)
        tmp_path = w._tmp_path()
        schema = file_schema(table_name, columns)
        return _OpenFile(table_name, date, hour, tmp_path, pq.ParquetWriter(tmp_path, schema, **parquet_options(schema)), schema)

    def _write_group(self, f: _OpenFile) -> None:
        """Hand ``f``'s buffered rows to the encoders as one row group (an earlier write's error surfaces here)."""
        if not f.pieces:
            return
        while len(self._encoding) >= _ENCODE_QUEUE:
            self._encoding.popleft().result()
        if self._encoders is None:
            self._encoders = ThreadPoolExecutor(max_workers=ENCODE_THREADS, thread_name_prefix="lake-encode")
        # FIFO: ``f.last_write`` started before this one, so waiting on it cannot deadlock
        f.last_write = self._encoders.submit(_encode, f, f.pieces, f.last_write)
        self._encoding.append(f.last_write)
        f.rows += f.buffered_rows
        self.buffered_bytes -= f.buffered_bytes
        f.pieces, f.buffered_bytes, f.buffered_rows = [], 0, 0

    def _drain(self) -> None:
        """Wait for every row group handed to the encoders; the first error is raised."""
        while self._encoding:
            self._encoding.popleft().result()

    def _stop_encoders(self) -> None:
        """Wait for the encoders (errors ignored: the batch is being dropped) and end their threads."""
        for future in self._encoding:
            try:
                future.result()
            except BaseException:  # noqa: BLE001, S110 - aborting anyway
                pass
        self._encoding.clear()
        if self._encoders is not None:
            self._encoders.shutdown(wait=True)
            self._encoders = None

    def finish(self, holding: Holding) -> StagedBatch:
        """Write what is buffered, close the files, stage rejects and rewrites, fsync (no ledger access)."""
        w = self.writer
        batch = StagedBatch(members=self.members, staged=[], removed=[], result=self.result)
        self.closed = True
        if not self.members:
            return batch
        batch_id = _hash(*sorted(m.identity for m in self.members))
        try:
            for key in sorted(self.files):  # the last row group of every file, encoded side by side
                self._write_group(self.files[key])
            self._drain()
            self._stop_encoders()
            seq: dict[tuple[str, str, str], int] = {}
            for f in [*self.set_aside, *(self.files[key] for key in sorted(self.files))]:  # a partition's files in order
                key = (f.table_name, f.date, f.hour)
                f.writer.close()
                n = seq[key] = seq.get(key, -1) + 1
                name = _hash(f.table_name, f.date, f.hour, batch_id, *([str(n)] if n else []))
                rel = f"{f.table_name}/date={f.date}/hour={f.hour}/part-{name}.parquet"
                entry = FileEntry(path=rel, table_name=f.table_name, rows=f.rows, bytes=f.tmp_path.stat().st_size)
                batch.staged.append((f.tmp_path, entry, f.per_uri))
            self.files.clear()  # from now on ``discard`` removes them
            self.set_aside = []
            if self.rejects:
                data = pa.concat_tables([LakeWriter._conform(r, REJECTS_SCHEMA) for r in self.rejects])
                self.rejects = []
                batch.staged.append(w._stage(data, f"{REJECTS_DIR}/part-{_hash(REJECTS_DIR, batch_id)}.parquet", REJECTS_DIR))
            removed = w._stage_rewrites(self.members, holding, batch.staged, self.result)
            added_paths = {e.path for _, e, _ in batch.staged}
            batch.removed = [p for p in removed if p not in added_paths]  # same name rewritten in place
            if w.fsync:  # once per file, after all are written: the kernel has flushed most by now
                for tmp_path, _, _ in batch.staged:
                    _fsync(tmp_path)
        except BaseException:
            self.abort()
            w.discard(batch)
            raise
        return batch

    def abort(self) -> None:
        """Drop everything staged so far (the batch will not be published)."""
        self.closed = True
        self._stop_encoders()
        for f in [*self.set_aside, *self.files.values()]:
            try:
                f.writer.close()
            except Exception:  # noqa: BLE001 - the file goes anyway
                pass
            f.tmp_path.unlink(missing_ok=True)
        self.files.clear()
        self.set_aside = []
        self.rejects = []


def open_writer(lake: LakeLocation, ledger: Ledger) -> LakeWriter:
    """The writer for a lake: local folders as above, S3 through ``lake.s3``."""
    if lake.remote:
        from .s3 import S3LakeWriter

        return S3LakeWriter(lake, ledger)
    return LakeWriter(lake.local, ledger)
