"""Build tiny lakes from Python rows, for detector, report and notebook tests.

Rows are dicts keyed by lake column names; missing columns are null. Derived time
columns are filled from ``start``/``end`` (flow) or ``time`` (ALB) when absent, and
provenance defaults to a fake object URI with the row's position.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.schema import EVENT_TIME_COLUMN, TABLES


def _ts_from_epoch(v: int | None) -> datetime | None:
    return None if v is None else datetime.fromtimestamp(v, tz=UTC)


def _ts_from_iso(v: str | None) -> datetime | None:
    return None if v is None else datetime.fromisoformat(v.replace("Z", "+00:00"))


def _complete(table: str, row: dict[str, Any], i: int) -> dict[str, Any]:
    row = dict(row)
    unknown = set(row) - set(TABLES[table].names)
    if unknown:
        raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
    if table == "vpc_flow":
        row.setdefault("start_time", _ts_from_epoch(row.get("start")))
        row.setdefault("end_time", _ts_from_epoch(row.get("end")))
    elif table == "alb_access":
        row.setdefault("event_time", _ts_from_iso(row.get("time")))
        row.setdefault("request_creation_ts", _ts_from_iso(row.get("request_creation_time")))
    else:
        row.setdefault("event_time", _ts_from_iso(row.get("timestamp")))
    row.setdefault("source_uri", f"s3://fixture-bucket/{table}.log.gz")
    row.setdefault("source_line", i + 1)
    return row


def write_table(lake: Path, table: str, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows into ``lake/table/date=.../hour=.../fixture.parquet``; returns the row count."""
    schema = TABLES[table]
    by_part: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    n = 0
    for i, row in enumerate(rows):
        full = _complete(table, row, i)
        ts: datetime = full[EVENT_TIME_COLUMN[table]]
        by_part[(ts.strftime("%Y-%m-%d"), ts.strftime("%H"))].append(full)
        n += 1
    for (date, hour), part in by_part.items():
        d = lake / table / f"date={date}" / f"hour={hour}"
        d.mkdir(parents=True, exist_ok=True)
        existing = len(list(d.glob("*.parquet")))
        pq.write_table(pa.Table.from_pylist(part, schema=schema), d / f"fixture-{existing}.parquet")
    return n


def make_lake(
    lake: Path,
    *,
    vpc_flow: Iterable[dict[str, Any]] = (),
    alb_access: Iterable[dict[str, Any]] = (),
    alb_connection: Iterable[dict[str, Any]] = (),
) -> Path:
    lake.mkdir(parents=True, exist_ok=True)
    write_table(lake, "vpc_flow", vpc_flow)
    write_table(lake, "alb_access", alb_access)
    write_table(lake, "alb_connection", alb_connection)
    return lake
