"""The report's reads from the lake: small aggregates behind each chart.

Every value (time bounds, bucket size, entity values) is a bound DuckDB parameter;
the only identifiers put into SQL text are lake column names checked against
``pipeline.schema.TABLES``. Locations are the AZ id when the logs or the topology
know it, else the subnet, else the interface (flow) or ALB node (access logs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from ..schema import EVENT_TIME_COLUMN, TABLES
from ..timeparse import parse_time
from ..topology.model import Topology

log = logging.getLogger(__name__)

LOC_TABLE = "__flowsleuth_report_loc"
_NICE_BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Span:
    """A half-open UTC time range [since, until)."""

    since: datetime
    until: datetime

    @property
    def seconds(self) -> float:
        return max((self.until - self.since).total_seconds(), 1.0)


def parse_iso(value: str) -> datetime:
    """ISO 8601 (``Z`` or offset) to an aware UTC datetime."""
    return parse_time(value, name="finding time")


def bucket_seconds(span: Span, *, max_buckets: int = 120) -> int:
    """A round bucket size giving at most ``max_buckets`` points over the span."""
    for b in _NICE_BUCKETS:
        if span.seconds / b <= max_buckets:
            return b
    return _NICE_BUCKETS[-1]


def register_locations(con: duckdb.DuckDBPyConnection, topology: Topology | None) -> None:
    """A (key -> AZ) table from the topology: subnet ids, interface ids and private IPs."""
    keys: dict[str, str] = {}
    subnet_az: dict[str, str] = {}
    if topology is not None:
        for s in topology.subnets:
            az = s.az_id or s.az
            if az:
                subnet_az[s.subnet_id] = az
                keys[s.subnet_id] = az
        for i in topology.interfaces:
            az = i.az_id or i.az or subnet_az.get(i.subnet_id or "")
            if az:
                keys[i.interface_id] = az
                keys[i.private_ip] = az
    tbl = pa.table({"key": pa.array(list(keys), pa.string()), "az": pa.array(list(keys.values()), pa.string())})
    con.register(LOC_TABLE, tbl)


def lake_span(con: duckdb.DuckDBPyConnection) -> Span | None:
    """Earliest and latest event time over all lake tables, or None for an empty lake."""
    lo: datetime | None = None
    hi: datetime | None = None
    for table, col in EVENT_TIME_COLUMN.items():
        rows = con.execute(f'SELECT min("{col}"), max("{col}") FROM {table}').fetchall()  # fetchall: leave no open result
        row = rows[0] if rows else None
        if row and row[0] is not None:
            lo = row[0] if lo is None else min(lo, row[0])
            hi = row[1] if hi is None else max(hi, row[1])
    if lo is None or hi is None:
        return None
    return Span(lo.astimezone(UTC), (hi + timedelta(seconds=1)).astimezone(UTC))


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per lake table."""
    return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]) for t in TABLES}


def gap_records(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """NODATA / SKIPDATA flow records in the whole lake, by log_status."""
    rows = con.execute(
        "SELECT log_status, count(*) FROM vpc_flow WHERE log_status IN ('NODATA', 'SKIPDATA') GROUP BY ALL ORDER BY 1"
    ).fetchall()
    return {str(k): int(n) for k, n in rows}


def _params(span: Span, b: int, **extra: Any) -> dict[str, Any]:
    return {"since": span.since, "until": span.until, "b": b, **extra}


_FLOW_LOC = "COALESCE(f.az_id, ls.az, li.az, f.subnet_id, f.interface_id, 'unknown')"
_FLOW_JOIN = f"LEFT JOIN {LOC_TABLE} ls ON ls.key = f.subnet_id LEFT JOIN {LOC_TABLE} li ON li.key = f.interface_id"
_ALB_LOC = "COALESCE(ln.az, a.node_ip, a.load_balancer, 'unknown')"
_ALB_JOIN = f"LEFT JOIN {LOC_TABLE} ln ON ln.key = a.node_ip"
_BAD = {
    "vpc_flow": "action = 'REJECT'",
    "alb_access": "elb_status_code >= 500 OR elb_status_code IS NULL",
    "alb_connection": "tls_verify_status IS NOT NULL AND tls_verify_status <> 'Success'",
}
_BUCKET = "to_timestamp(floor(epoch({col}) / $b) * $b)"


def flow_by_location(con: duckdb.DuckDBPyConnection, span: Span, b: int) -> Rows:
    """(bucket, location, action, flows, packets) for OK flow records."""
    sql = f"""
        SELECT {_BUCKET.format(col="f.start_time")} AS t, {_FLOW_LOC} AS loc, f.action,
               count(*) AS flows, COALESCE(sum(f.packets), 0) AS packets
        FROM vpc_flow f {_FLOW_JOIN}
        WHERE f.start_time >= $since AND f.start_time < $until AND f.action IS NOT NULL
        GROUP BY ALL ORDER BY t"""
    return con.execute(sql, _params(span, b)).fetchall()


def alb_status_by_location(con: duckdb.DuckDBPyConnection, span: Span, b: int) -> Rows:
    """(bucket, location, status class like '5xx', requests)."""
    sql = f"""
        SELECT {_BUCKET.format(col="a.event_time")} AS t, {_ALB_LOC} AS loc,
               COALESCE(CAST(a.elb_status_code // 100 AS VARCHAR) || 'xx', 'none') AS cls, count(*) AS n
        FROM alb_access a {_ALB_JOIN}
        WHERE a.event_time >= $since AND a.event_time < $until
        GROUP BY ALL ORDER BY t"""
    return con.execute(sql, _params(span, b)).fetchall()


def target_latency(con: duckdb.DuckDBPyConnection, span: Span, b: int) -> Rows:
    """(bucket, p50, p90, p99) of target_processing_time in seconds (requests that reached a target)."""
    sql = f"""
        SELECT {_BUCKET.format(col="event_time")} AS t,
               quantile_cont(target_processing_time, 0.5), quantile_cont(target_processing_time, 0.9),
               quantile_cont(target_processing_time, 0.99)
        FROM alb_access
        WHERE event_time >= $since AND event_time < $until AND target_processing_time >= 0
        GROUP BY ALL ORDER BY t"""
    return con.execute(sql, _params(span, b)).fetchall()


def capture_gaps(con: duckdb.DuckDBPyConnection, span: Span, b: int) -> Rows:
    """(bucket, log_status, records) for NODATA / SKIPDATA flow records."""
    sql = f"""
        SELECT {_BUCKET.format(col="start_time")} AS t, log_status, count(*)
        FROM vpc_flow
        WHERE start_time >= $since AND start_time < $until AND log_status IN ('NODATA', 'SKIPDATA')
        GROUP BY ALL ORDER BY t"""
    return con.execute(sql, _params(span, b)).fetchall()


def alb_5xx_heatmap(con: duckdb.DuckDBPyConnection, span: Span, b: int, load_balancer: str | None) -> Rows:
    """(bucket, location, 5xx count) for one load balancer (or all when unknown)."""
    sql = f"""
        SELECT {_BUCKET.format(col="a.event_time")} AS t, {_ALB_LOC} AS loc,
               count(*) FILTER (WHERE a.elb_status_code >= 500) AS n5xx
        FROM alb_access a {_ALB_JOIN}
        WHERE a.event_time >= $since AND a.event_time < $until
          AND ($lb IS NULL OR a.load_balancer = $lb OR a.elb = $lb)
        GROUP BY ALL ORDER BY t"""
    return con.execute(sql, _params(span, b, lb=load_balancer)).fetchall()


def top_rejected(con: duckdb.DuckDBPyConnection, span: Span, limit: int = 15) -> Rows:
    """(dstaddr, dstport, rejects) most REJECTed destinations in the span."""
    sql = """
        SELECT dstaddr, dstport, count(*) AS n FROM vpc_flow
        WHERE start_time >= $since AND start_time < $until AND action = 'REJECT'
        GROUP BY ALL ORDER BY n DESC, dstaddr, dstport LIMIT $limit"""
    return con.execute(sql, {"since": span.since, "until": span.until, "limit": limit}).fetchall()


def flow_paths(con: duckdb.DuckDBPyConnection, span: Span, addresses: list[str], port: int | None = None, limit: int = 40) -> Rows:
    """(direction 'in'/'out', address, interface_id, bytes, peers) of flows to/from ``addresses``.

    ``in`` = towards the address (requests when it is a server), ``out`` = from it. With
    ``port``, only traffic to or from that port of the address counts.
    """
    sql = """
        WITH f AS (
            SELECT list_contains($addrs, dstaddr) AS inbound, * FROM vpc_flow
            WHERE start_time >= $since AND start_time < $until AND log_status = 'OK'
              AND (list_contains($addrs, srcaddr) OR list_contains($addrs, dstaddr))
        )
        SELECT CASE WHEN inbound THEN 'in' ELSE 'out' END AS direction,
               CASE WHEN inbound THEN dstaddr ELSE srcaddr END AS address,
               interface_id, COALESCE(sum(bytes), 0) AS bytes,
               count(DISTINCT CASE WHEN inbound THEN srcaddr ELSE dstaddr END) AS peers
        FROM f
        WHERE $port IS NULL OR (inbound AND dstport = $port) OR (NOT inbound AND srcport = $port)
        GROUP BY ALL ORDER BY bytes DESC, address, interface_id LIMIT $limit"""
    params = {"since": span.since, "until": span.until, "addrs": addresses, "port": port, "limit": limit}
    return con.execute(sql, params).fetchall()


def conversation_timeline(con: duckdb.DuckDBPyConnection, span: Span, b: int, address: str, port: int | None) -> Rows:
    """(bucket, bytes towards address[:port], bytes back from it) over the span."""
    sql = f"""
        SELECT {_BUCKET.format(col="start_time")} AS t,
               COALESCE(sum(bytes) FILTER (WHERE dstaddr = $addr AND ($port IS NULL OR dstport = $port)), 0) AS towards,
               COALESCE(sum(bytes) FILTER (WHERE srcaddr = $addr AND ($port IS NULL OR srcport = $port)), 0) AS answers
        FROM vpc_flow
        WHERE start_time >= $since AND start_time < $until AND log_status = 'OK' AND (dstaddr = $addr OR srcaddr = $addr)
        GROUP BY ALL ORDER BY t"""
    return con.execute(sql, _params(span, b, addr=address, port=port)).fetchall()


def entity_timeline(con: duckdb.DuckDBPyConnection, table: str, span: Span, b: int, entity: dict[str, str]) -> Rows:
    """(bucket, rows, bad rows) of ``table`` rows matching the entity's lake columns over the span.

    "Bad" is a REJECT for flow records and a 5XX (or no response) for ALB requests.

    Only entity keys that are real columns of ``table`` filter (names checked against
    the schema, values bound); other keys (e.g. ``az``) are ignored.
    """
    if table not in TABLES:
        raise ValueError(f"unknown lake table {table!r}")
    names = set(TABLES[table].names)
    where = []
    params = _params(span, b)
    for i, (key, value) in enumerate(sorted(entity.items())):
        if key in names:
            where.append(f'CAST("{key}" AS VARCHAR) = $e{i}')
            params[f"e{i}"] = value
    col = EVENT_TIME_COLUMN[table]
    cond = "".join(f" AND {w}" for w in where)
    sql = f"""
        SELECT {_BUCKET.format(col=f'"{col}"')} AS t, count(*) AS n, count(*) FILTER (WHERE {_BAD[table]}) AS bad
        FROM {table}
        WHERE "{col}" >= $since AND "{col}" < $until{cond}
        GROUP BY ALL ORDER BY t"""
    return con.execute(sql, params).fetchall()
