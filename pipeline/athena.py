"""Athena over an S3 lake: table DDL with partition projection, and detectors as Trino SQL.

``ddl(lake)`` prints one ``CREATE EXTERNAL TABLE`` per lake table, columns from
``schema.TABLES`` (the one schema definition), ``PARTITIONED BY (date, hour)`` with
partition projection, so Athena needs no crawler and no ``MSCK REPAIR``: it computes the
partitions from the query's ``date``/``hour`` predicates and reads only those prefixes.
Athena's DDL is Hive DDL (backticks, ``TBLPROPERTIES``); sqlglot's ``athena`` dialect
parses it (its DML side is Trino).

``detector_sql(detector)`` gives the detector's DuckDB SQL transpiled to Trino
(``pipeline.transpile``), with what the detector needs before it: the topology tables
(``topo_interfaces``, ``topo_subnets``, ``topo_routes``) as ``WITH`` relations from a
topology file (empty when none is given), and its parameters as ``?`` placeholders in
order, for Athena's ``EXECUTE ... USING`` or the API's ``ExecutionParameters``.

Known limits: Athena reads Parquet timestamps at millisecond precision; the files keep
microseconds (DuckDB and Spark see them).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from .errors import UsageError
from .schema import TABLES

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "flowsleuth"
DEFAULT_PROJECTION_START = "2020-01-01"


def hive_type(t: pa.DataType) -> str:
    """The Athena (Hive DDL) type of a lake column."""
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_int32(t) or pa.types.is_int16(t) or pa.types.is_int8(t):
        return "int"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    raise UsageError(f"lake column type {t} has no Athena mapping")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def table_ddl(table: str, lake_url: str, *, database: str = DEFAULT_DATABASE, start: str = DEFAULT_PROJECTION_START) -> str:
    """``CREATE EXTERNAL TABLE`` for one lake table at ``lake_url`` (``s3://bucket/prefix/``)."""
    if table not in TABLES:
        raise UsageError(f"unknown lake table {table!r} (valid: {', '.join(TABLES)})")
    if not lake_url.startswith("s3://"):
        raise UsageError(f"--lake {lake_url!r}: Athena reads S3; give s3://bucket/prefix/")
    location = lake_url.rstrip("/") + f"/{table}/"
    cols = ",\n".join(f"  `{f.name}` {hive_type(f.type)}" for f in TABLES[table])
    props = {
        "projection.enabled": "true",
        "projection.date.type": "date",
        "projection.date.format": "yyyy-MM-dd",
        "projection.date.range": f"{start},NOW",
        "projection.date.interval": "1",
        "projection.date.interval.unit": "DAYS",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": location + "date=${date}/hour=${hour}/",
        "parquet.compression": "ZSTD",
    }
    tbl = ",\n".join(f"  {_quote(k)}={_quote(v)}" for k, v in props.items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n{cols}\n)\n"
        f"PARTITIONED BY (`date` string, `hour` string)\n"
        f"STORED AS PARQUET\n"
        f"LOCATION {_quote(location)}\n"
        f"TBLPROPERTIES (\n{tbl}\n)"
    )


def ddl(lake_url: str, *, database: str = DEFAULT_DATABASE, start: str = DEFAULT_PROJECTION_START) -> str:
    """The three tables' DDL (and the database), ``;``-separated, ready for the Athena console."""
    statements = [f"CREATE DATABASE IF NOT EXISTS `{database}`"]
    statements += [table_ddl(t, lake_url, database=database, start=start) for t in TABLES]
    return ";\n\n".join(statements) + ";\n"


# --- detectors -----------------------------------------------------------------------


@dataclass
class TrinoQuery:
    """A detector as Trino SQL: ``sql`` has one ``?`` per entry of ``parameters`` (name, value)."""

    detector: str
    sql: str
    parameters: list[tuple[str, Any]]

    def script(self) -> str:
        """The query, after a comment saying what each ``?`` is and how to run it in Athena."""
        name = f"flowsleuth_{self.detector}"
        values = ", ".join(_literal(v) for _, v in self.parameters)
        lines = [
            f"-- flowsleuth detector {self.detector}: DuckDB SQL transpiled to Trino (Athena engine v3) by sqlglot.",
            f"-- Run it as a prepared statement: PREPARE {name} FROM <this query>; then",
            f"--   EXECUTE {name} USING {values}",
            "-- or pass the values as ExecutionParameters. The ?s, in order:",
        ]
        lines += [f"--   ?{i + 1} = {n} ({_literal(v)})" for i, (n, v) in enumerate(self.parameters)]
        return "\n".join(lines) + "\n" + self.sql + "\n"


def _literal(value: Any) -> str:
    """A parameter value as a Trino literal (for the EXECUTE line; the query itself takes ``?``)."""
    from datetime import datetime

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f} UTC'"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]"
    return exp.Literal.string(str(value)).sql("trino")


_TOPO_TABLES = ("topo_interfaces", "topo_subnets", "topo_routes")
_ARROW_SQL = {"string": "VARCHAR", "double": "DOUBLE", "bool": "BOOLEAN", "int64": "BIGINT"}


def _topology_relations(topology: Any) -> dict[str, exp.Expression]:
    """The topology tables (as ``pipeline.topology.views`` builds them) as Trino relations."""
    from .topology.views import interfaces_table, routes_table, subnets_table

    tables = (interfaces_table(topology), subnets_table(topology), routes_table(topology))
    return {name: _relation(table) for name, table in zip(_TOPO_TABLES, tables, strict=True)}


def _relation(table: pa.Table) -> exp.Expression:
    """``SELECT CAST(c AS type) .. FROM (VALUES ..) AS t(c, ..)``; without rows the same columns, WHERE FALSE."""
    types = {f.name: _ARROW_SQL[str(f.type)] for f in table.schema}
    if not table.num_rows:
        return exp.select(*[exp.alias_(exp.cast(exp.null(), t), n) for n, t in types.items()]).where(exp.false())
    rows = [
        exp.Tuple(expressions=[exp.null() if v is None else exp.Literal.string(str(v)) for v in row.values()])
        for row in table.to_pylist()
    ]
    alias = exp.TableAlias(this=exp.to_identifier("t"), columns=[exp.to_identifier(n) for n in types])
    values = exp.Values(expressions=rows, alias=alias)
    return exp.select(*[exp.alias_(exp.cast(exp.column(n), t), n) for n, t in types.items()]).from_(values)


def _schemas() -> dict[str, dict[str, str]]:
    """Every relation a detector reads, column -> SQL type (for star expansion and typed rows)."""
    from .topology.views import TOPO_INTERFACES_SCHEMA, TOPO_ROUTES_SCHEMA, TOPO_SUBNETS_SCHEMA

    out = {t: {f.name: hive_type(f.type).upper() for f in s} for t, s in TABLES.items()}
    for t in out.values():
        t.update({"date": "DATE", "hour": "VARCHAR"})
    for name, schema in zip(_TOPO_TABLES, (TOPO_INTERFACES_SCHEMA, TOPO_SUBNETS_SCHEMA, TOPO_ROUTES_SCHEMA), strict=True):
        out[name] = {f.name: _ARROW_SQL[str(f.type)] for f in schema}
    return out


_MARK = "flowsleuth_param_{}_"


def detector_sql(
    detector: Any, *, topology: Any = None, params: dict[str, Any] | None = None, since: Any = None, until: Any = None
) -> TrinoQuery:
    """``detector`` (``pipeline.detect.catalog.Detector``) as Trino SQL with its prep; see the module docstring."""
    from .transpile import to_dialect

    tree = sqlglot.parse_one(detector.sql, read="duckdb")
    used = {t.name for t in tree.find_all(exp.Table)}
    relations = {k: v for k, v in _topology_relations(topology).items() if k in used}
    if relations:
        ctes = [exp.CTE(this=rel, alias=exp.TableAlias(this=exp.to_identifier(n))) for n, rel in relations.items()]
        with_ = tree.args.get("with_") or tree.args.get("with")
        if with_ is None:
            raise UsageError(f"detector {detector.id}: expected a WITH query to carry the topology tables")
        with_.set("expressions", ctes + list(with_.expressions))
    schemas = _schemas()
    sql = to_dialect(tree.sql(dialect="duckdb"), "trino", schema=schemas)
    # Named placeholders -> '?' in text order, remembering which parameter each one is.
    out = sqlglot.parse_one(sql, read="trino")
    names: list[str] = []
    for node in list(out.find_all(exp.Placeholder)):
        names.append(node.name)
        node.replace(exp.column(_MARK.format(len(names) - 1)))
    text = out.sql(dialect="trino", pretty=True)
    order = [names[int(m.group(1))] for m in re.finditer(_MARK.format(r"(\d+)"), text)]
    text = re.sub(_MARK.format(r"\d+"), "?", text)
    values = {**{n: p.default for n, p in detector.params.items()}, **(params or {}), "since": since, "until": until}
    return TrinoQuery(detector.id, text, [(n, values.get(n)) for n in order])
