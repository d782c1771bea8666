"""Check that the columns a detector ``requires`` carry data before running it.

A detector over v2-only flow logs (no tcp_flags, no subnet_id) would otherwise find
nothing and look like a clean bill of health; the runner says once that it cannot run.

``requires`` lists what must all hold; ``requires_any`` lists alternatives of which at
least one must hold in full (e.g. "v3+ ``pkt_dstaddr`` or a topology naming a NAT
gateway"). An entry is a lake column (it must carry data in the window) or
``topology:<kind>`` (the topology views name at least one interface of that kind, whether
from a file or inferred from the logs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

import duckdb

from ..schema import EVENT_TIME_COLUMN, FLOW_BY_COLUMN, TABLES
from .catalog import TOPOLOGY_PREFIX, Detector

log = logging.getLogger(__name__)

_TABLE_WORDS = {"vpc_flow": "flow logs", "alb_access": "ALB access logs", "alb_connection": "ALB connection logs"}


def column_counts(
    con: duckdb.DuckDBPyConnection, detectors: Iterable[Detector], since: datetime, until: datetime
) -> dict[str, dict[str, int]]:
    """Per lake table the detectors read: rows in the window and non-null count per required column.

    One scan per table for all detectors. Column names come from the schema, not from files.
    """
    wanted: dict[str, set[str]] = {}
    kinds: set[str] = set()
    for det in detectors:
        for table in det.sources:
            if table in TABLES:
                wanted.setdefault(table, set())
        for col in _entries(det):
            if col.startswith(TOPOLOGY_PREFIX):
                kinds.add(col[len(TOPOLOGY_PREFIX):])
                continue
            found = _table_for(det, col)
            if found:
                wanted[found].add(col)
    counts: dict[str, dict[str, int]] = {}
    if kinds:
        counts[TOPOLOGY] = _topology_kinds(con)
    for table, cols in wanted.items():
        ordered = sorted(c for c in cols if c in TABLES[table].names)
        tcol = EVENT_TIME_COLUMN[table]
        exprs = ", ".join(["count(*)"] + [f'count("{c}")' for c in ordered])
        rows = con.execute(
            f"SELECT {exprs} FROM {table} WHERE {tcol} >= $since AND {tcol} < $until",
            {"since": since, "until": until},
        ).fetchall()
        values = list(rows[0]) if rows else [0] * (len(ordered) + 1)
        counts[table] = {"*": int(values[0]), **{c: int(v) for c, v in zip(ordered, values[1:], strict=False)}}
    return counts


#: Key of ``column_counts``' result holding the number of topology interfaces per kind.
TOPOLOGY = "topology"


def _entries(det: Detector) -> list[str]:
    return [*det.requires, *(e for alt in det.requires_any for e in alt)]


def _topology_kinds(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Interfaces per kind in the registered topology views (none when they are not registered)."""
    try:
        rows = con.execute("SELECT kind, count(*) FROM topo_interfaces WHERE kind IS NOT NULL GROUP BY kind").fetchall()
    except duckdb.Error as e:  # views not registered: nothing is known
        log.debug("no topology views to check requirements against: %s", e)
        return {}
    return {str(k): int(n) for k, n in rows}


def _table_for(det: Detector, column: str) -> str | None:
    for table in det.sources:
        if table in TABLES and column in TABLES[table].names:
            return table
    return None


def _lacking(det: Detector, entries: list[str], counts: dict[str, dict[str, int]]) -> list[str]:
    """The entries that do not hold: columns without data, topology kinds nobody has."""
    out = []
    for entry in entries:
        if entry.startswith(TOPOLOGY_PREFIX):
            if counts.get(TOPOLOGY, {}).get(entry[len(TOPOLOGY_PREFIX):], 0) == 0:
                out.append(entry)
            continue
        table = _table_for(det, entry)
        if table and counts.get(table, {}).get(entry, 0) == 0:
            out.append(entry)
    return out


def _describe(det: Detector, entries: list[str]) -> str:
    """'flow logs lack tcp_flags (v3+ field)', 'no topology names a nat interface', joined."""
    columns = [e for e in entries if not e.startswith(TOPOLOGY_PREFIX)]
    kinds = [e[len(TOPOLOGY_PREFIX):] for e in entries if e.startswith(TOPOLOGY_PREFIX)]
    parts = []
    if columns:
        table = _table_for(det, columns[0]) or ""
        described = []
        for col in columns:
            f = FLOW_BY_COLUMN.get(col) if table == "vpc_flow" else None
            described.append(f"{col} (v{f.version}+ field)" if f and f.version > 2 else col)
        parts.append(f"{_TABLE_WORDS.get(table, table)} lack {', '.join(described)}")
    if kinds:
        parts.append(f"no topology names a {' or '.join(kinds)} interface")
    return " and ".join(parts)


def missing_reason(det: Detector, counts: dict[str, dict[str, int]]) -> str | None:
    """Why ``det`` cannot run in this window, or None when its required data is there."""
    for table in det.sources:
        if table in TABLES and counts.get(table, {}).get("*", 0) == 0 and any(
            _table_for(det, c) == table for c in det.requires
        ):
            return f"detector {det.id} cannot run: no {_TABLE_WORDS[table]} in the time window"
    lacking = _lacking(det, det.requires, counts)
    if lacking:
        return f"detector {det.id} cannot run: {_describe(det, lacking)}"
    if det.requires_any:
        unmet = [_lacking(det, alt, counts) for alt in det.requires_any]
        if all(unmet):
            # name what each alternative lacks (deduplicated), e.g. "lack pkt_dstaddr and no topology names a nat interface"
            flat = list(dict.fromkeys(e for alt in unmet for e in alt))
            return f"detector {det.id} cannot run: {_describe(det, flat)}"
    return None
