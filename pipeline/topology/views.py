"""The topology as DuckDB tables for detectors, and as Parquet in the lake for analysts.

``topo_interfaces`` and ``topo_subnets`` always exist after ``register_topology_views``
(empty, with the same columns, when nothing is known), so detector SQL can LEFT JOIN
them unconditionally. ``write_topology_to_lake`` keeps ``<lake>/_topology/`` with the
latest snapshot JSON and one Parquet file per table; ``register_lake_topology_views``
reads them back and adds a joined ``topology`` view (one row per interface).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .model import Topology
from .snapshots import write_atomic

log = logging.getLogger(__name__)

TOPOLOGY_DIR = "_topology"

INTERFACE_COLUMNS = ("interface_id", "private_ip", "kind", "subnet_id", "vpc_id", "az", "az_id", "resource_id", "confidence")
SUBNET_COLUMNS = ("subnet_id", "cidr", "az", "az_id", "vpc_id", "role", "route_table_id", "nacl_id")

TOPO_INTERFACES_SCHEMA = pa.schema(
    [pa.field(c, pa.float64() if c == "confidence" else pa.string()) for c in INTERFACE_COLUMNS]
    + [pa.field("source", pa.string()), pa.field("public_ip", pa.string())]
)
TOPO_SUBNETS_SCHEMA = pa.schema([pa.field(c, pa.string()) for c in SUBNET_COLUMNS] + [pa.field("source", pa.string())])
TOPO_ROUTES_SCHEMA = pa.schema(
    [pa.field(c, pa.string()) for c in ("route_table_id", "vpc_id", "subnet_id", "destination", "target")]
    + [pa.field("main", pa.bool_())]
)


def _blank(v: object) -> object:
    """Unknown is NULL in SQL ("" in the JSON model, e.g. a subnet CIDR the logs cannot tell)."""
    return None if v == "" else v


def interfaces_table(topology: Topology | None) -> pa.Table:
    rows = [
        {**{c: _blank(getattr(i, c)) for c in INTERFACE_COLUMNS}, "source": i.source, "public_ip": i.public_ip}
        for i in (topology.interfaces if topology else [])
    ]
    return pa.Table.from_pylist(rows, schema=TOPO_INTERFACES_SCHEMA)


def subnets_table(topology: Topology | None) -> pa.Table:
    rows = [
        {**{c: _blank(getattr(s, c)) for c in SUBNET_COLUMNS}, "source": s.source}
        for s in (topology.subnets if topology else [])
    ]
    return pa.Table.from_pylist(rows, schema=TOPO_SUBNETS_SCHEMA)


def routes_table(topology: Topology | None) -> pa.Table:
    """One row per (route table, associated subnet or NULL, route)."""
    rows = []
    for rt in topology.route_tables if topology else []:
        subnet_ids: list[str | None] = list(rt.subnet_ids) or [None]
        for subnet in subnet_ids:
            for r in rt.routes:
                rows.append(
                    {"route_table_id": rt.route_table_id, "vpc_id": rt.vpc_id, "subnet_id": subnet,
                     "destination": r.destination, "target": r.target, "main": rt.main}
                )  # fmt: skip
    return pa.Table.from_pylist(rows, schema=TOPO_ROUTES_SCHEMA)


def _replace_table(con: duckdb.DuckDBPyConnection, name: str, data: pa.Table) -> None:
    tmp = f"__arrow_{name}"
    con.register(tmp, data)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {tmp}")
    finally:
        con.unregister(tmp)


def register_topology_views(con: duckdb.DuckDBPyConnection, topology: Topology | None) -> None:
    """Create tables ``topo_interfaces``, ``topo_subnets``, ``topo_routes`` on ``con``.

    Columns: topo_interfaces(interface_id, private_ip, kind, subnet_id, vpc_id, az, az_id,
    resource_id, confidence DOUBLE, source, public_ip); topo_subnets(subnet_id, cidr, az,
    az_id, vpc_id, role, route_table_id, nacl_id, source); topo_routes(route_table_id,
    vpc_id, subnet_id, destination, target, main BOOLEAN). Unknown values are NULL.
    """
    _replace_table(con, "topo_interfaces", interfaces_table(topology))
    _replace_table(con, "topo_subnets", subnets_table(topology))
    _replace_table(con, "topo_routes", routes_table(topology))


def _write_parquet(data: pa.Table, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".parquet", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(data, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_topology_to_lake(topology: Topology, lake: str | Path) -> Path:
    """Write ``<lake>/_topology/{topology.json,interfaces,subnets,routes.parquet}``; returns the dir."""
    d = Path(lake) / TOPOLOGY_DIR
    d.mkdir(parents=True, exist_ok=True)
    write_atomic(topology, d / "topology.json")
    _write_parquet(interfaces_table(topology), d / "interfaces.parquet")
    _write_parquet(subnets_table(topology), d / "subnets.parquet")
    _write_parquet(routes_table(topology), d / "routes.parquet")
    log.info("topology written to %s", d)
    return d


def load_lake_topology(lake: str | Path) -> Topology | None:
    """The topology last written into the lake, or None if there is none."""
    p = Path(lake) / TOPOLOGY_DIR / "topology.json"
    return Topology.load(p) if p.is_file() else None


def register_lake_topology_views(con: duckdb.DuckDBPyConnection, lake: str | Path) -> bool:
    """Register the lake's topology tables plus a ``topology`` view; False if the lake has none.

    ``topology`` is one row per interface with its subnet's CIDR, role, route table and NACL
    (``s_*`` columns), for joins like ``vpc_flow JOIN topology ON srcaddr = private_ip``.
    """
    topo = load_lake_topology(lake)
    register_topology_views(con, topo)
    con.execute(
        """
        CREATE OR REPLACE VIEW topology AS
        SELECT i.*, s.cidr AS subnet_cidr, s.role AS subnet_role, s.route_table_id, s.nacl_id,
               coalesce(i.az, s.az) AS subnet_az, coalesce(i.az_id, s.az_id) AS subnet_az_id
        FROM topo_interfaces i LEFT JOIN topo_subnets s USING (subnet_id)
        """
    )
    return topo is not None
