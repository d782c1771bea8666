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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import LakeError
from ..schema import REJECTS_SCHEMA, TABLES
from .ledger import FileEntry, Ledger, ObjectEntry
from .partition import event_span, fallback_column, split_partitions
from .storage import LakeLocation

log = logging.getLogger(__name__)

TMP_DIR = "_tmp"
REJECTS_DIR = "_rejects"
QUARANTINE_DIR = "_quarantine"  # stray or damaged files moved out of the readers' way, never deleted
PARQUET_COMPRESSION = "zstd"
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
    def _stage(self, data: pa.Table, rel: str, table_name: str) -> tuple[Path, FileEntry, dict[str, int]]:
        self.tmp.mkdir(parents=True, exist_ok=True)
        with self._seq_lock:
            self._seq += 1
            seq = self._seq
        tmp_path = self.tmp / f"{os.getpid()}-{seq}.parquet"
        pq.write_table(data, tmp_path, compression=PARQUET_COMPRESSION, write_statistics=_stats_columns(data.schema))
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
        n = data.num_rows
        try:
            cols = [
                data.column(f.name).cast(f.type) if f.name in data.column_names else pa.nulls(n, f.type)
                for f in schema
            ]
            return pa.Table.from_arrays(cols, schema=schema)
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

        Thread-safe against the ledger's thread: ingest runs it on a writer thread while
        the next batch is parsed. On error nothing staged is left behind.
        """
        result = BatchResult()
        batch = StagedBatch(members=members, staged=[], removed=[], result=result)
        if not members:
            return batch
        batch_id = _hash(*sorted(m.identity for m in members))
        try:
            self._stage_new_rows(members, batch_id, batch.staged, result)
            removed = self._stage_rewrites(members, holding, batch.staged, result)
            added_paths = {e.path for _, e, _ in batch.staged}
            batch.removed = [p for p in removed if p not in added_paths]  # same name rewritten in place
            if self.fsync:  # once per file, after all are written: the kernel has flushed most by now
                for tmp_path, _, _ in batch.staged:
                    _fsync(tmp_path)
        except BaseException:
            self.discard(batch)
            raise
        for m in members:  # written: publishing needs only the ledger entries, so the rows can go now
            m.data = m.rejects = None
        return batch

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

    def _stage_new_rows(
        self, members: list[BatchMember], batch_id: str, staged: list[tuple[Path, FileEntry, dict[str, int]]], result: BatchResult
    ) -> None:
        for table_name, schema in TABLES.items():
            mine = [m for m in members if m.entry.table_name == table_name and m.data is not None and m.data.num_rows]
            if not mine:
                continue
            data = pa.concat_tables([m.data for m in mine], promote_options="permissive")
            fallback = fallback_column([(m.data.num_rows, m.fallback_time) for m in mine])  # type: ignore[union-attr]
            lo, hi = event_span(table_name, data)
            result.rows += data.num_rows
            if lo is not None:
                result.min_event_time = lo if result.min_event_time is None else min(result.min_event_time, lo)
            if hi is not None:
                result.max_event_time = hi if result.max_event_time is None else max(result.max_event_time, hi)
            for date, hour, part in split_partitions(table_name, data, fallback):
                rel = f"{table_name}/date={date}/hour={hour}/part-{_hash(table_name, date, hour, batch_id)}.parquet"
                staged.append(self._stage(self._conform(part, schema), rel, table_name))
        rejects = [m.rejects for m in members if m.rejects is not None and m.rejects.num_rows]
        if rejects:
            data = pa.concat_tables([self._conform(r, REJECTS_SCHEMA) for r in rejects])
            staged.append(self._stage(data, f"{REJECTS_DIR}/part-{_hash(REJECTS_DIR, batch_id)}.parquet", REJECTS_DIR))

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
            schema = REJECTS_SCHEMA if table_name == REJECTS_DIR else TABLES[table_name]
            staged.append(self._stage(self._conform(data, schema), new_rel, table_name))
        log.info("replacing rows of %d changed objects (%d files rewritten)", result.replaced_objects, len(removed))
        return removed


def open_writer(lake: LakeLocation, ledger: Ledger) -> LakeWriter:
    """The writer for a lake: local folders as above, S3 through ``lake.s3``."""
    if lake.remote:
        from .s3 import S3LakeWriter

        return S3LakeWriter(lake, ledger)
    return LakeWriter(lake.local, ledger)
