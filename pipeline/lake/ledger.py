"""The per-object ledger: ``<lake>/_ledger/ledger.sqlite``.

Tables (readable from a notebook with ``sqlite3`` or ``read_ledger``):

- ``objects``: one row per source object: uri, bucket, key, etag, size,
  last_modified, status (done|empty|failed|gone|skipped), table_name, lines, rows,
  rejects, reason, updated_at, run_id; for ``failed`` objects also ``failure``
  (``transient``: fetched again on a later run, after ``retry_after``; ``terminal``:
  not fetched again until the ETag changes or ``--retry-failed``), ``first_failed_at``
  and ``attempts`` (consecutive failing fetches of this ETag).
- ``files``: every live lake file (path relative to the lake), its table and rows.
  Only files listed here are part of the lake; anything else under the table folders
  is an uncommitted leftover and is removed at the next run's start.
- ``object_files``: which object has how many rows in which file, so a changed
  object's rows can be found and replaced.
- ``runs``: one row per ingest run with its summary (JSON).

A batch of objects commits in one SQLite transaction, after its files are in place.
The schema version is SQLite's ``user_version``; a ledger written by a newer
flowsleuth is refused with a one-line error rather than misread, an older one is
upgraded in place.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import LakeError
from .storage import LakeLocation, is_remote, lake_location

log = logging.getLogger(__name__)

LEDGER_DIR = "_ledger"
LEDGER_FILE = "ledger.sqlite"

DONE_STATUSES = ("done", "empty")  # an unchanged object in one of these is not fetched again
SCHEMA_VERSION = 2  # 1: no version stamp, no failure columns
FailureKind = str  # "transient" | "terminal"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    uri TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL,
    size INTEGER, last_modified TEXT, status TEXT NOT NULL, table_name TEXT,
    lines INTEGER DEFAULT 0, rows INTEGER DEFAULT 0, rejects INTEGER DEFAULT 0,
    reason TEXT, updated_at TEXT NOT NULL, run_id TEXT,
    failure TEXT, first_failed_at TEXT, attempts INTEGER DEFAULT 0, retry_after TEXT
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, table_name TEXT NOT NULL, rows INTEGER NOT NULL, bytes INTEGER,
    created_at TEXT NOT NULL, run_id TEXT
);
CREATE TABLE IF NOT EXISTS object_files (
    uri TEXT NOT NULL, path TEXT NOT NULL, rows INTEGER NOT NULL, PRIMARY KEY (uri, path)
);
CREATE INDEX IF NOT EXISTS object_files_by_path ON object_files(path);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, summary TEXT
);
"""


_V2_COLUMNS = ("failure TEXT", "first_failed_at TEXT", "attempts INTEGER DEFAULT 0", "retry_after TEXT")


def ledger_path(lake: str | Path) -> Path:
    return Path(lake) / LEDGER_DIR / LEDGER_FILE


def check_version(con: sqlite3.Connection, path: Path) -> int:
    """The ledger's schema version; a newer one than this code knows is a ``LakeError``."""
    version = int(con.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise LakeError(
            f"ledger {str(path)!r} has schema version {version}, written by a newer flowsleuth "
            f"(this one reads up to {SCHEMA_VERSION}); upgrade flowsleuth to use this lake"
        )
    return version


def unreadable(path: Path, e: Exception) -> LakeError:
    """The one error for a ledger SQLite cannot read (corrupt, truncated, not a database)."""
    return LakeError(f"ledger {str(path)!r} is unreadable ({e}); restore it from a backup or move the lake aside")


def _upgrade(con: sqlite3.Connection) -> None:
    """Bring a version-1 ledger (or a new file) to ``SCHEMA_VERSION`` in one transaction."""
    con.execute("BEGIN IMMEDIATE")
    try:
        for stmt in _SCHEMA.split(";"):  # idempotent (IF NOT EXISTS); executescript would COMMIT
            if stmt.strip():
                con.execute(stmt)
        have = {r[1] for r in con.execute("PRAGMA table_info(objects)")}
        for col in _V2_COLUMNS:
            if col.split()[0] not in have:
                con.execute(f"ALTER TABLE objects ADD COLUMN {col}")
        # version 1 retried every failure on every run: start them all as transient
        con.execute("UPDATE objects SET failure = 'transient' WHERE status = 'failed' AND failure IS NULL")
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ObjectEntry:
    """A ledger row for one object."""

    uri: str
    bucket: str
    key: str
    etag: str
    size: int
    last_modified: datetime | None
    status: str
    table_name: str | None = None
    lines: int = 0
    rows: int = 0
    rejects: int = 0
    reason: str | None = None
    failure: FailureKind | None = None  # set when status is failed


@dataclass(frozen=True)
class Prior:
    """What the ledger knows about an object before this run looks at it."""

    etag: str
    status: str
    failure: FailureKind | None
    first_failed_at: str | None
    attempts: int
    retry_after: str | None


@dataclass(frozen=True)
class FailedObject:
    """A failing object as the run summary and report list it."""

    uri: str
    reason: str
    kind: FailureKind
    first_seen: str  # ISO 8601 UTC, when this ETag first failed
    attempts: int
    new: bool  # first failed in this run


@dataclass
class FileEntry:
    path: str  # relative to the lake, '/'-separated
    table_name: str
    rows: int
    bytes: int


class Ledger:
    """The lake's ledger; used by one writer (under the lake lock) at a time."""

    def __init__(self, lake: str | Path, run_id: str) -> None:
        path = ledger_path(lake)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        try:
            self.con = sqlite3.connect(path, isolation_level=None)
            self.con.execute("PRAGMA synchronous=FULL")
            self.con.execute("PRAGMA busy_timeout=5000")
            if check_version(self.con, path) < SCHEMA_VERSION:
                _upgrade(self.con)
        except sqlite3.DatabaseError as e:
            raise unreadable(path, e) from None

    def close(self) -> None:
        self.con.close()

    # --- reads --------------------------------------------------------------
    def lookup(self, uri: str) -> Prior | None:
        """What is recorded for ``uri``."""
        row = self.con.execute(
            "SELECT etag, status, failure, first_failed_at, attempts, retry_after FROM objects WHERE uri = ?", (uri,)
        ).fetchone()
        return Prior(row[0], row[1], row[2], row[3], int(row[4] or 0), row[5]) if row else None

    def failing(self, limit: int = 100) -> tuple[int, list[FailedObject]]:
        """(how many objects are failing, the first ``limit`` of them: this run's first, then oldest)."""
        n = int(self.con.execute("SELECT count(*) FROM objects WHERE status = 'failed'").fetchone()[0])
        rows = self.con.execute(
            "SELECT uri, coalesce(reason, ''), coalesce(failure, 'transient'), coalesce(first_failed_at, updated_at), "
            "attempts, run_id FROM objects WHERE status = 'failed' "
            "ORDER BY (run_id = ? AND attempts = 1) DESC, first_failed_at, uri LIMIT ?",
            (self.run_id, limit),
        ).fetchall()
        return n, [FailedObject(u, r, k, f, int(a or 0), rid == self.run_id and int(a or 0) == 1) for u, r, k, f, a, rid in rows]

    def live_files(self) -> dict[str, str]:
        """path → table for every committed file."""
        return dict(self.con.execute("SELECT path, table_name FROM files").fetchall())

    def file_sizes(self) -> dict[str, int]:
        """path → committed size in bytes (0 when unknown)."""
        return {p: int(b or 0) for p, b in self.con.execute("SELECT path, bytes FROM files")}

    def files_holding(self, uris: Iterable[str]) -> dict[str, set[str]]:
        """For files that hold rows of any of ``uris``: path → every uri with rows in that file."""
        uris = list(uris)
        out: dict[str, set[str]] = {}
        for i in range(0, len(uris), 500):
            chunk = uris[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.con.execute(
                f"SELECT path, uri FROM object_files WHERE path IN "
                f"(SELECT path FROM object_files WHERE uri IN ({marks}))",
                chunk,
            ).fetchall()
            for path, uri in rows:
                out.setdefault(path, set()).add(uri)
        return out

    # --- writes -------------------------------------------------------------
    def _upsert_objects(self, entries: Iterable[ObjectEntry], failures: dict[str, tuple[str, int, str | None]] | None = None) -> None:
        """Upsert objects; ``failures`` gives failed ones (first_failed_at, attempts, retry_after)."""
        now = _now()
        failures = failures or {}
        self.con.executemany(
            "INSERT INTO objects (uri, bucket, key, etag, size, last_modified, status, table_name, lines, rows, "
            "rejects, reason, updated_at, run_id, failure, first_failed_at, attempts, retry_after) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(uri) DO UPDATE SET bucket=excluded.bucket, key=excluded.key, etag=excluded.etag, "
            "size=excluded.size, last_modified=excluded.last_modified, status=excluded.status, "
            "table_name=excluded.table_name, lines=excluded.lines, rows=excluded.rows, rejects=excluded.rejects, "
            "reason=excluded.reason, updated_at=excluded.updated_at, run_id=excluded.run_id, "
            "failure=excluded.failure, first_failed_at=excluded.first_failed_at, attempts=excluded.attempts, "
            "retry_after=excluded.retry_after",
            [
                (
                    e.uri, e.bucket, e.key, e.etag, e.size,
                    e.last_modified.isoformat() if e.last_modified else None, e.status, e.table_name,
                    e.lines, e.rows, e.rejects, e.reason, now, self.run_id,
                    e.failure if e.status == "failed" else None,
                    *(failures.get(e.uri, (now, 1, None)) if e.status == "failed" else (None, 0, None)),
                )  # fmt: skip
                for e in entries
            ],
        )

    def record(self, entries: list[ObjectEntry], failures: dict[str, tuple[str, int, str | None]] | None = None) -> None:
        """Record objects that add no rows (skipped, failed, gone); their old rows, if any, stay.

        ``failures``: uri → (first_failed_at, attempts, retry_after) for failed entries.
        """
        if not entries:
            return
        self.con.execute("BEGIN IMMEDIATE")
        try:
            self._upsert_objects(entries, failures)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def commit_batch(
        self,
        entries: list[ObjectEntry],
        added: list[FileEntry],
        removed: list[str],
        mappings: list[tuple[str, str, int]],
    ) -> None:
        """One transaction: objects' new state, files added and removed, object→file row counts.

        Mappings of ``entries`` and of removed files are replaced by ``mappings``.
        """
        now = _now()
        self.con.execute("BEGIN IMMEDIATE")
        try:
            self._upsert_objects(entries)
            self.con.executemany("DELETE FROM object_files WHERE uri = ?", [(e.uri,) for e in entries])
            self.con.executemany("DELETE FROM object_files WHERE path = ?", [(p,) for p in removed])
            self.con.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in removed])
            self.con.executemany(
                "INSERT OR REPLACE INTO files (path, table_name, rows, bytes, created_at, run_id) VALUES (?,?,?,?,?,?)",
                [(f.path, f.table_name, f.rows, f.bytes, now, self.run_id) for f in added],
            )
            self.con.executemany(
                "INSERT OR REPLACE INTO object_files (uri, path, rows) VALUES (?,?,?)",
                mappings,
            )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def forget_files(self, paths: list[str]) -> list[str]:
        """Drop files missing from disk; their objects are marked for re-ingest. Returns those uris."""
        if not paths:
            return []
        uris: set[str] = set()
        self.con.execute("BEGIN IMMEDIATE")
        try:
            for p in paths:
                uris.update(u for (u,) in self.con.execute("SELECT uri FROM object_files WHERE path = ?", (p,)))
                self.con.execute("DELETE FROM files WHERE path = ?", (p,))
            self.con.executemany(
                "UPDATE objects SET status = 'failed', failure = 'transient', attempts = 0, retry_after = NULL, "
                "first_failed_at = coalesce(first_failed_at, updated_at), reason = 'lake file missing; re-ingesting' "
                "WHERE uri = ?",
                [(u,) for u in uris],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return sorted(uris)

    def publish(self) -> None:
        """Make what is committed visible to readers: a no-op here (SQLite commits are); an S3 lake PUTs its ledger."""

    def start_run(self) -> None:
        self.con.execute("INSERT OR REPLACE INTO runs (run_id, started_at) VALUES (?, ?)", (self.run_id, _now()))

    def finish_run(self, summary: dict[str, Any]) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, summary = ? WHERE run_id = ?",
            (_now(), json.dumps(summary, default=str), self.run_id),
        )


@contextmanager
def _ledger_file(lake: str | Path | LakeLocation) -> Iterator[Path | None]:
    """The ledger database to read: in place for a local lake, a downloaded copy for S3."""
    if is_remote(lake):
        from .s3 import ledger_copy

        with ledger_copy(lake_location(lake)) as copy:
            yield copy
        return
    path = ledger_path(lake.local if isinstance(lake, LakeLocation) else lake)
    yield path if path.exists() else None


def connect_read(path: Path) -> sqlite3.Connection:
    """A read-only connection to a ledger, past what a killed writer left behind.

    An ingest or compaction killed in mid-commit leaves a hot journal; SQLite rolls it back
    on the next open that may write, but a read-only connection refuses to read at all
    ("attempt to write a readonly database"). Roll it back first, as the next writer would,
    so a reader sees the last committed state, never a half-committed one.
    """
    uri = f"{path.resolve().as_uri()}?mode=ro"
    con = sqlite3.connect(uri, uri=True)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return con
    except sqlite3.DatabaseError as e:
        con.close()
        if not path.with_name(path.name + "-journal").exists():
            raise unreadable(path, e) from None
    try:
        rw = sqlite3.connect(path)
        try:
            rw.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the open rolls the journal back
        finally:
            rw.close()
    except sqlite3.Error as e:
        raise LakeError(
            f"ledger {str(path)!r} holds a commit that a killed ingest or compaction left unfinished, and rolling "
            f"it back needs write access ({e}); run 'flowsleuth ingest' on this lake where it is writable"
        ) from None
    log.info("ledger %s: rolled back a commit a killed writer left unfinished", path)
    return sqlite3.connect(uri, uri=True)


def read_ledger(lake: str | Path | LakeLocation, table: str = "objects") -> Any:
    """A ledger table as a polars DataFrame (for notebooks and tests)."""
    import polars as pl

    if table not in ("objects", "files", "object_files", "runs"):
        raise ValueError(f"unknown ledger table {table!r}")
    with _ledger_file(lake) as path:
        if path is None:
            raise FileNotFoundError(f"lake {str(lake)!r} has no ledger")
        con = connect_read(path)
        try:
            cur = con.execute(f"SELECT * FROM {table}")
            cols = [d[0] for d in cur.description]
            return pl.DataFrame(cur.fetchall(), schema=cols, orient="row")
        finally:
            con.close()


def committed_files(lake: str | Path | LakeLocation) -> dict[str, list[str]] | None:
    """table → committed file paths (relative), or None when the lake has no ledger."""
    with _ledger_file(lake) as path:
        if path is None:
            return None
        con = connect_read(path)
        try:
            check_version(con, path)
            if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files'").fetchone():
                return None  # a ledger no ingest has written to yet
            out: dict[str, list[str]] = {}
            for p, t in con.execute("SELECT path, table_name FROM files ORDER BY path"):
                out.setdefault(t, []).append(p)
            return out
        except sqlite3.Error as e:
            # never fall back to reading every file: that would show a half-done commit's rows twice
            raise unreadable(path, e) from None
        finally:
            con.close()


def open_ledger(lake: LakeLocation, run_id: str) -> Ledger:
    """The writer's ledger for a lake (an S3 lake's is published per commit; see ``lake.s3``)."""
    if lake.remote:
        from .s3 import S3Ledger

        return S3Ledger(lake, run_id)
    return Ledger(lake.local, run_id)
