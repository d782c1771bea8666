"""Check that the columns a detector ``requires`` carry data before running it.

A detector over v2-only flow logs (no tcp_flags, no subnet_id) would otherwise find
nothing and look like a clean bill of health; the runner says once that it cannot run.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Iterable

import duckdb

from ..schema import EVENT_TIME_COLUMN, FLOW_BY_COLUMN, TABLES
from .catalog import Detector

log = logging.getLogger(__name__)

_TABLE_WORDS = {"vpc_flow": "flow logs", "alb_access": "ALB access logs", "alb_connection": "ALB connection logs"}


def column_counts(
    con: duckdb.DuckDBPyConnection, detectors: Iterable[Detector], since: datetime, until: datetime
) -> dict[str, dict[str, int]]:
    """Per lake table the detectors read: rows in the window and non-null count per required column.

    One scan per table for all detectors. Column names come from the schema, not from files.
    """
    wanted: dict[str, set[str]] = {}
    for det in detectors:
        for table in det.sources:
            if table in TABLES:
                wanted.setdefault(table, set())
        for col in det.requires:
            table = _table_for(det, col)
            if table:
                wanted[table].add(col)
    counts: dict[str, dict[str, int]] = {}
    for table, cols in wanted.items():
        ordered = sorted(c for c in cols if c in TABLES[table].names)
        tcol = EVENT_TIME_COLUMN[table]
        exprs = ", ".join(["count(*)"] + [f'count("{c}")' for c in ordered])
        rows = con.execute(
            f"SELECT {exprs} FROM {table} WHERE {tcol} >= $since AND {tcol} < $until",
            {"since": since, "until": until},
        ).fetchall()
        values = list(rows[0]) if rows else [0] * (len(ordered) + 1)
        counts[table] = {"*": int(values[0]), **{c: int(v) for c, v in zip(ordered, values[1:])}}
    return counts


def _table_for(det: Detector, column: str) -> str | None:
    for table in det.sources:
        if table in TABLES and column in TABLES[table].names:
            return table
    return None


def missing_reason(det: Detector, counts: dict[str, dict[str, int]]) -> str | None:
    """Why ``det`` cannot run in this window, or None when its required data is there."""
    for table in det.sources:
        if table in TABLES and counts.get(table, {}).get("*", 0) == 0 and any(
            _table_for(det, c) == table for c in det.requires
        ):
            return f"detector {det.id} cannot run: no {_TABLE_WORDS[table]} in the time window"
    lacking: list[str] = []
    for col in det.requires:
        table = _table_for(det, col)
        if table and counts.get(table, {}).get(col, 0) == 0:
            lacking.append(col)
    if not lacking:
        return None
    table = _table_for(det, lacking[0]) or ""
    described = []
    for col in lacking:
        f = FLOW_BY_COLUMN.get(col) if table == "vpc_flow" else None
        described.append(f"{col} (v{f.version}+ field)" if f and f.version > 2 else col)
    return f"detector {det.id} cannot run: {_TABLE_WORDS.get(table, table)} lack {', '.join(described)}"
