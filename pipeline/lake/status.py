"""What a lake holds, from its ledger (and event-time bounds from the files): ``flowsleuth lake status``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LakeError
from ..schema import EVENT_TIME_COLUMN, TABLES
from .compact import partition_of
from .ledger import check_version, connect_read, ledger_path
from .writer import _DATE_DIR, _HOUR_DIR, REJECTS_DIR


@dataclass
class TableStatus:
    table: str
    partitions: int = 0
    files: int = 0
    rows: int = 0
    bytes: int = 0
    oldest_event: str | None = None  # ISO 8601 UTC
    newest_event: str | None = None


@dataclass
class LakeStatus:
    lake: str
    schema_version: int
    tables: list[TableStatus] = field(default_factory=list)
    rejects: int = 0  # rows in _rejects
    objects: dict[str, int] = field(default_factory=dict)  # by ledger status
    failures: dict[str, int] = field(default_factory=dict)  # failing objects by kind
    failing: list[dict[str, Any]] = field(default_factory=list)  # the first 20: uri, kind, since, reason
    stray_files: list[str] = field(default_factory=list)  # Parquet files under the tables the ledger does not list
    runs: int = 0
    last_run: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"lake {self.lake} (ledger schema {self.schema_version}, {self.runs} runs, last {self.last_run or 'never'})"]
        for t in self.tables:
            span = f"{t.oldest_event} .. {t.newest_event}" if t.oldest_event else "no events"
            out.append(
                f"  {t.table:15} {t.partitions:6} partitions {t.files:7} files {t.rows:12,} rows "
                f"{t.bytes / 1e6:10.1f} MB  {span}"
            )
        out.append(f"  rejects: {self.rejects} lines")
        out.append("  objects: " + (", ".join(f"{n} {s}" for s, n in sorted(self.objects.items())) or "none"))
        if self.failures:
            out.append("  failing: " + ", ".join(f"{n} {k}" for k, n in sorted(self.failures.items())))
            out += [f"    {f['kind']} since {f['since']}: {f['uri']}: {f['reason']}" for f in self.failing]
        if self.stray_files:
            out.append(f"  stray files (not in the ledger, not read): {len(self.stray_files)}, e.g. {self.stray_files[0]}")
        return out


def lake_status(lake: str | Path) -> LakeStatus:
    """Tables, partitions, files, rows, bytes, event-time span, rejects, objects and failures."""
    lake = Path(lake)
    path = ledger_path(lake)
    if not path.exists():
        raise LakeError(f"{str(lake)!r} has no ledger ({path}); it is not a lake written by flowsleuth ingest")
    con = connect_read(path)
    try:
        status = LakeStatus(lake=str(lake), schema_version=check_version(con, path))
        per: dict[str, TableStatus] = {t: TableStatus(t) for t in TABLES}
        parts: dict[str, set[str]] = {t: set() for t in TABLES}
        by_table: dict[str, list[str]] = {t: [] for t in TABLES}
        live: set[str] = set()
        for p, table, rows, size in con.execute("SELECT path, table_name, rows, coalesce(bytes, 0) FROM files"):
            live.add(p)
            if table == REJECTS_DIR:
                status.rejects += int(rows)
                continue
            if table not in per:
                continue
            t = per[table]
            t.files, t.rows, t.bytes = t.files + 1, t.rows + int(rows), t.bytes + int(size)
            part = partition_of(p)
            if part:
                parts[table].add(part[1])
            by_table[table].append(p)
        for table, t in per.items():
            t.partitions = len(parts[table])
        status.tables = list(per.values())
        status.objects = dict(con.execute("SELECT status, count(*) FROM objects GROUP BY status").fetchall())
        status.failures = dict(
            con.execute("SELECT coalesce(failure, 'transient'), count(*) FROM objects WHERE status = 'failed' GROUP BY 1").fetchall()
        )
        status.failing = [
            {"uri": u, "kind": k or "transient", "since": f, "reason": r}
            for u, k, f, r in con.execute(
                "SELECT uri, failure, coalesce(first_failed_at, updated_at), reason FROM objects "
                "WHERE status = 'failed' ORDER BY first_failed_at, uri LIMIT 20"
            )
        ]
        status.runs, status.last_run = con.execute("SELECT count(*), max(finished_at) FROM runs").fetchone()
    finally:
        con.close()
    _event_spans(lake, status.tables, by_table)
    status.stray_files = stray_files(lake, live)
    return status


def _event_spans(lake: Path, tables: list[TableStatus], files: dict[str, list[str]]) -> None:
    """Oldest/newest event time per table from the files' Parquet statistics (no data scan)."""
    import pyarrow.parquet as pq

    for t in tables:
        col = EVENT_TIME_COLUMN[t.table]
        lo = hi = None
        for p in files[t.table]:
            try:
                meta = pq.ParquetFile(lake / p).metadata
            except (OSError, ValueError) as e:
                raise LakeError(f"lake file {p} is unreadable ({e}); run flowsleuth ingest to repair the lake") from None
            idx = meta.schema.names.index(col) if col in meta.schema.names else -1
            for g in range(meta.num_row_groups) if idx >= 0 else ():
                st = meta.row_group(g).column(idx).statistics
                if st is None or not st.has_min_max:
                    continue
                lo = st.min if lo is None or st.min < lo else lo
                hi = st.max if hi is None or st.max > hi else hi
        t.oldest_event = lo.strftime("%Y-%m-%dT%H:%M:%SZ") if lo else None
        t.newest_event = hi.strftime("%Y-%m-%dT%H:%M:%SZ") if hi else None


def stray_files(lake: Path, live: set[str]) -> list[str]:
    """Parquet files in the table folders that the ledger does not list (relative paths, sorted)."""
    out = []
    for table in TABLES:
        base = lake / table
        if not base.is_dir():
            continue
        for d in base.iterdir():
            if not (d.is_dir() and _DATE_DIR.match(d.name)):
                continue
            for h in d.iterdir():
                if h.is_dir() and _HOUR_DIR.match(h.name):
                    out += [p.relative_to(lake).as_posix() for p in h.glob("*.parquet")]
    return sorted(p for p in out if p not in live)
