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
from dataclasses import dataclass
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
    """A detector as Trino SQL: ``sql`` has one ``?`` per entry of ``parameters`` (name, default)."""

    detector: str
    sql: str
    parameters: list[tuple[str, Any]]

    def script(self) -> str:
        """The SQL with a header saying what each ``?`` is and an EXECUTE line with the defaults."""
        lines = [f"-- flowsleuth detector {self.detector}, transpiled from DuckDB to Trino (Athena engine v3)"]
        lines.append("-- parameters, in order (Athena: EXECUTE stmt USING ..., or ExecutionParameters):")
        lines += [f"--   ?{i + 1} {name} (default {value!r})" for i, (name, value) in enumerate(self.parameters)]
        return "\n".join(lines) + "\n" + self.sql + "\n"


_TOPO_TABLES = ("topo_interfaces", "topo_subnets", "topo_routes")


def _topology_relations(topology: Any) -> dict[str, exp.Expression]:
    """The topology tables as Trino relations: VALUES from the topology, or typed and empty."""
    from .topology.views import interfaces_table, routes_table, subnets_table

    out: dict[str, exp.Expression] = {}
    for name, table in zip(_TOPO_TABLES, (interfaces_table(topology), subnets_table(topology), routes_table(topology)), strict=True):
        out[name] = _relation(table)
    return out


_SQL_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "bool": "BOOLEAN", "int64": "BIGINT"}


def _relation(table: pa.Table) -> exp.Expression:
    """``SELECT CAST(c AS type) ... FROM (VALUES ...)``; no rows -> the same columns, WHERE FALSE."""
    types = {f.name: _SQL_TYPES[str(f.type)] for f in table.schema}
    names = list(types)
    if table.num_rows:
        rows = [
            exp.Tuple(expressions=[exp.Literal.string(str(v)) if v is not None else exp.null() for v in row.values()])
            for row in table.to_pylist()
        ]
        values = exp.Values(expressions=rows, alias=exp.TableAlias(this=exp.to_identifier("t"), columns=[exp.to_identifier(n) for n in names]))
        cols = [exp.alias_(exp.cast(exp.column(n), _cast_type(types[n])), n) for n in names]
        return exp.select(*cols).from_(values)
    cols = [exp.alias_(exp.cast(exp.null(), types[n]), n) for n in names]
    return exp.select(*cols).where(exp.false())


def _cast_type(sql_type: str) -> str:
    # VALUES hold strings (or NULL); booleans and numbers are cast from their text
    return sql_type


def detector_sql(detector: Any, *, topology: Any = None) -> TrinoQuery:
    """``detector`` (a ``pipeline.detect.catalog.Detector``) as a Trino query (see the module docstring)."""
    from .transpile import to_dialect

    tree = sqlglot.parse_one(detector.sql, read="duckdb")
    used = {t.name for t in tree.find_all(exp.Table)}
    relations = {k: v for k, v in _topology_relations(topology).items() if k in used}
    if relations:
        with_ = tree.args.get("with_") or tree.args.get("with")
        ctes = [exp.CTE(this=rel, alias=exp.TableAlias(this=exp.to_identifier(name))) for name, rel in relations.items()]
        if with_ is None:
            tree = exp.With(expressions=ctes).__class__  # pragma: no cover - every detector has a WITH
        else:
            with_.set("expressions", ctes + list(with_.expressions))
    defaults = {**{name: p.default for name, p in detector.params.items()}, "since": None, "until": None}
    order: list[tuple[str, Any]] = []
    for node in list(tree.find_all(exp.Parameter, exp.Placeholder)):
        name = node.name
        order.append((name, defaults.get(name)))
    sql = to_dialect(tree.sql(dialect="duckdb"), "trino")
    tree_t = sqlglot.parse_one(sql, read="trino")
    names_t = [n.name for n in tree_t.find_all(exp.Parameter, exp.Placeholder)]
    for node in list(tree_t.find_all(exp.Parameter, exp.Placeholder)):
        node.replace(exp.Placeholder())
    del names_t
    return TrinoQuery(detector.id, tree_t.sql(dialect="trino", pretty=True), order)
