"""Keep a lake scheduled every few minutes fast: compact closed partitions, drop expired ones.

A run every 5 minutes adds a small file to the current hour partitions; after a month
DuckDB opens thousands of files. ``compact`` rewrites every *closed* partition (its hour
ended more than the delivery margin ago, so late objects are unlikely) that has two or
more files into one (ingest's own end-of-run pass: only partitions with ``AUTO_MIN_FILES``
files under ``SMALL_FILE_BYTES``, and only those files), streaming file by file into row
groups as large as a batch writes (memory: one input file and one row group), with the
batch files' settings (``writer.parquet_options``), rows unchanged
(``source_uri``/``source_line`` included). Late objects that still arrive simply add a
file, and the next compaction folds it in; a changed object is replaced in the
compacted file like anywhere else (its ``object_files`` rows move with it).

Crash safety is the writer's protocol: the new file is staged in ``_tmp/``, fsynced,
renamed into the partition, then one ledger transaction swaps the old files for it;
the old files are deleted after. Before the commit the new file is an unlisted
leftover, after it the old ones are, and ``LakeWriter.recover`` deletes unlisted files
at the next start, so a ``kill -9`` anywhere leaves every row exactly once.

``drop_expired`` is retention: partitions whose hour ended before the cutoff go, with
their ledger rows (objects whose rows were all there, and row-less objects whose
file-name time is before the cutoff). Ingest does not fetch objects stamped before the
cutoff, so dropping their ledger rows never brings them back.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import LakeError
from ..schema import REJECTS_SCHEMA, TABLES
from .ledger import FileEntry, Ledger
from .writer import (
    REJECTS_DIR,
    ROW_GROUP_BYTES,
    ROW_GROUP_ROWS,
    LakeWriter,
    _fsync,
    _hash,
    file_schema,
    parquet_options,
)

log = logging.getLogger(__name__)

DEFAULT_MIN_FILES = 2  # ``flowsleuth lake compact``: every closed partition with more than one file
#: Ingest's own end-of-run compaction (as Iceberg's ``rewrite_data_files`` min-input-files and
#: Delta's auto-compaction ``minNumFiles``): a closed partition is rewritten only once it has
#: this many *small* files, so a bulk ingest, which writes one or two large files per
#: partition, is not written twice, while a lake fed every 5 minutes (12 files an hour)
#: still ends with one file per closed partition.
AUTO_MIN_FILES = 5
#: Files at least this large are left as they are by ingest's compaction (and do not count
#: towards ``AUTO_MIN_FILES``): rewriting them would not make the partition cheaper to read.
SMALL_FILE_BYTES = 64 << 20
_PARTITION = re.compile(r"^(?P<table>[a-z_]+)/date=(?P<date>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/[^/]+$")


@dataclass
class CompactResult:
    partitions: int = 0  # partitions rewritten
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    bytes_before: int = 0
    bytes_after: int = 0


@dataclass
class RetentionResult:
    partitions: int = 0
    files: int = 0
    rows: int = 0
    objects: int = 0  # ledger rows dropped


def partition_of(path: str) -> tuple[str, str, datetime] | None:
    """(table, partition folder, hour start) of a lake file path, or None (rejects, odd paths)."""
    m = _PARTITION.match(path)
    if not m:
        return None
    start = datetime.strptime(f"{m['date']} {m['hour']}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    return m["table"], path.rsplit("/", 1)[0], start


def _groups(ledger: Ledger) -> dict[str, list[tuple[str, int, int]]]:
    """partition folder → [(path, rows, bytes)] of its live files (rejects under ``_rejects``)."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    for path, _table, rows, size in ledger.con.execute("SELECT path, table_name, rows, coalesce(bytes, 0) FROM files"):
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        out.setdefault(folder, []).append((path, int(rows), int(size)))
    return out


def compact(
    writer: LakeWriter,
    *,
    now: datetime | None = None,
    margin: timedelta = timedelta(hours=2),
    min_files: int = DEFAULT_MIN_FILES,
    small_bytes: int | None = None,
    everything: bool = False,
) -> CompactResult:
    """Rewrite closed partitions with ``min_files`` or more files into one each (caller holds the lock).

    ``small_bytes``: only files smaller than this count and are rewritten (larger ones stay
    as they are); None: every file. ``everything``: also open partitions and the rejects
    folder (``flowsleuth lake compact --all``).
    """
    now = now or datetime.now(UTC)
    result = CompactResult()
    for folder, files in sorted(_groups(writer.ledger).items()):
        if small_bytes is not None:
            files = [f for f in files if f[2] < small_bytes]
        if len(files) < max(min_files, 2):
            continue
        if folder == REJECTS_DIR:
            if not everything:
                continue
            table_name = REJECTS_DIR
        else:
            part = partition_of(files[0][0])
            if part is None or part[0] not in TABLES:
                continue
            if not everything and part[2] + timedelta(hours=1) + margin > now:
                continue  # still open: late objects may add files
            table_name = part[0]
        _compact_one(writer, table_name, folder, files, result)
    if result.partitions:
        log.info(
            "compacted %d partitions: %d files -> %d (%d rows)",
            result.partitions, result.files_before, result.files_after, result.rows,
        )  # fmt: skip
    return result


def _write_row_group(out: pq.ParquetWriter, tables: list[pa.Table]) -> None:
    if tables:  # one dictionary per column for the row group, as a batch file has
        out.write_table(pa.concat_tables(tables).unify_dictionaries().combine_chunks(), row_group_size=ROW_GROUP_ROWS)


def _compact_one(writer: LakeWriter, table_name: str, folder: str, files: list[tuple[str, int, int]], result: CompactResult) -> None:
    ledger = writer.ledger
    paths = sorted(p for p, _, _ in files)
    if table_name == REJECTS_DIR:
        schema = REJECTS_SCHEMA
    else:  # the columns any of the files holds (files leave out all-null ones)
        present: set[str] = set()
        for p in paths:
            names = writer._read_columns(p)
            if names is None:
                raise LakeError(f"lake file {p!r} vanished during compaction; the next run repairs it")
            present.update(names)
        schema = file_schema(table_name, present)
    rel = f"{folder}/part-{_hash('compact', folder, *paths)}.parquet"
    writer.tmp.mkdir(parents=True, exist_ok=True)
    tmp_path = writer.tmp / f"{os.getpid()}-compact.parquet"
    rows = 0
    try:
        with pq.ParquetWriter(tmp_path, schema, **parquet_options(schema)) as out:
            # the small files' rows gathered into row groups as large as a batch's: one row
            # group per input file would keep the many small pieces compaction is for
            group: list[pa.Table] = []
            group_rows = group_bytes = 0
            for p in paths:
                data = writer._read_file(p)
                if data is None:
                    raise LakeError(f"lake file {p!r} vanished during compaction; the next run repairs it")
                group.append(writer._conform(data, schema))
                rows += data.num_rows
                group_rows += data.num_rows
                group_bytes += group[-1].nbytes
                if group_rows >= ROW_GROUP_ROWS or group_bytes >= ROW_GROUP_BYTES:
                    _write_row_group(out, group)
                    group, group_rows, group_bytes = [], 0, 0
            _write_row_group(out, group)
        if writer.fsync:
            _fsync(tmp_path)
        size = tmp_path.stat().st_size
        writer._publish_files([(tmp_path, rel)])
        mappings = ledger.con.execute(
            f"SELECT uri, ?, sum(rows) FROM object_files WHERE path IN ({','.join('?' * len(paths))}) GROUP BY uri",
            (rel, *paths),
        ).fetchall()
        ledger.commit_batch([], [FileEntry(path=rel, table_name=table_name, rows=rows, bytes=size)], paths, mappings)
    finally:
        tmp_path.unlink(missing_ok=True)
    writer._remove_files(paths)
    result.partitions += 1
    result.files_before += len(paths)
    result.files_after += 1
    result.rows += rows
    result.bytes_before += sum(b for _, _, b in files)
    result.bytes_after += size


def drop_expired(writer: LakeWriter, cutoff: datetime) -> RetentionResult:
    """Drop partitions whose hour ended at or before ``cutoff``, and their ledger rows (caller holds the lock)."""
    from ..sources import Skip, classify_key

    lake, ledger = writer.lake, writer.ledger
    result = RetentionResult()
    expired: list[str] = []
    folders: set[str] = set()
    for path, rows in ledger.con.execute("SELECT path, rows FROM files").fetchall():
        part = partition_of(path)
        if part is not None and part[2] + timedelta(hours=1) <= cutoff:
            expired.append(path)
            folders.add(part[1])
            result.rows += int(rows)
    gone = set(expired)
    holders: dict[str, set[str]] = {}
    for uri, path in ledger.con.execute("SELECT uri, path FROM object_files"):
        holders.setdefault(uri, set()).add(path)
    drop_objects = {u for u, ps in holders.items() if ps <= gone}
    for uri, key in ledger.con.execute(
        "SELECT uri, key FROM objects WHERE uri NOT IN (SELECT uri FROM object_files) AND status != 'skipped'"
    ):
        info = classify_key(key)
        if not isinstance(info, Skip) and info.file_time < cutoff:
            drop_objects.add(uri)
    # rejects files whose every object is dropped go too
    for path, uris in _files_by_uris(holders).items():
        if path.startswith(f"{REJECTS_DIR}/") and uris <= drop_objects:
            expired.append(path)
    if not expired and not drop_objects:
        return result
    ledger.con.execute("BEGIN IMMEDIATE")
    try:
        ledger.con.executemany("DELETE FROM object_files WHERE path = ?", [(p,) for p in expired])
        ledger.con.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in expired])
        ledger.con.executemany("DELETE FROM object_files WHERE uri = ?", [(u,) for u in drop_objects])
        ledger.con.executemany("DELETE FROM objects WHERE uri = ?", [(u,) for u in drop_objects])
        ledger.con.execute("COMMIT")
    except BaseException:
        ledger.con.execute("ROLLBACK")
        raise
    ledger.publish()
    writer._remove_files(expired)
    for folder in sorted(folders, reverse=True):
        for d in (lake / folder, (lake / folder).parent):
            try:
                d.rmdir()
            except OSError:
                pass
    result.partitions, result.files, result.objects = len(folders), len(expired), len(drop_objects)
    log.info("retention: dropped %d partitions (%d files, %d rows) and %d ledger objects before %s",
             result.partitions, result.files, result.rows, result.objects, cutoff.isoformat())  # fmt: skip
    return result


def _files_by_uris(holders: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for uri, paths in holders.items():
        for p in paths:
            out.setdefault(p, set()).add(uri)
    return out
