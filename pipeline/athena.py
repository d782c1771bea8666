"""Athena over an S3 lake: table DDL with partition projection, and detectors as Trino SQL.

``ddl(lake)`` gives one ``CREATE EXTERNAL TABLE`` per lake table, columns from
``schema.TABLES`` (the one schema definition), ``PARTITIONED BY (date, hour)`` with
partition projection: Athena needs no crawler and no ``MSCK REPAIR``; it computes the
partitions from a query's ``date``/``hour`` predicates and lists only those prefixes.
Athena's DDL is Hive DDL (backticks, ``TBLPROPERTIES``); its DML is Trino.

``detector_sql(detector, prep)`` gives one self-contained Trino statement: the run's
preparation (``queries/_prep``: its tables become ``WITH`` relations, its macros are
expanded), the topology tables as ``VALUES`` from a topology file (empty without one),
each lake table narrowed to the partitions the detector reads (``date`` between
``since`` minus its look-back and ``until``: what Athena bills for), then the detector,
all transpiled from DuckDB SQL by :mod:`pipeline.transpile`. Parameters are ``?``
placeholders in text order, for ``EXECUTE ... USING`` or the API's ``ExecutionParameters``
(or, ``inline=True``, the values written into the query as escaped literals).

Known limits: Athena reads Parquet timestamps at millisecond precision (the files keep
microseconds); ``median`` becomes ``approx_percentile``; nothing here runs on Athena in
the tests (the SQL is parsed by sqlglot's Trino dialect).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from .errors import UsageError
from .schema import TABLES
from .transpile import (
    CREATE_MACRO,
    CREATE_RELATION,
    LEADING_COMMENTS,
    Macro,
    TranspileError,
    expand_macros,
    parse_macro,
    to_dialect,
)

if TYPE_CHECKING:
    from .detect.catalog import Detector
    from .detect.prep import Prep
    from .topology.model import Topology

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "flowsleuth"
DEFAULT_PROJECTION_START = "2020-01-01"
#: partitions are by the record's own time (flow start, ALB request end): one hour of margin
#: either side keeps records whose other timestamps fall inside the window
_PARTITION_MARGIN = timedelta(hours=1)
_TOPO_TABLES = ("topo_interfaces", "topo_subnets", "topo_routes")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


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


def _check_database(database: str) -> str:
    if not _IDENTIFIER.match(database):
        raise UsageError(f"--database {database!r}: letters, digits and '_' only")
    return database


def _check_lake(lake_url: str) -> str:
    if not lake_url.startswith("s3://") or len(lake_url.rstrip("/")) <= len("s3://"):
        raise UsageError(f"--lake {lake_url!r}: Athena reads S3; give s3://bucket/prefix/")
    if any(c in lake_url for c in "'\\\n\r\t") or "${" in lake_url:
        raise UsageError(f"--lake {lake_url!r}: quotes, backslashes, control characters and '${{' are not allowed")
    return lake_url.rstrip("/")


def _check_start(start: str) -> str:
    try:
        datetime.strptime(start, "%Y-%m-%d")
    except ValueError:
        raise UsageError(f"--projection-start {start!r}: give a date as YYYY-MM-DD") from None
    return start


def table_ddl(table: str, lake_url: str, *, database: str = DEFAULT_DATABASE, start: str = DEFAULT_PROJECTION_START) -> str:
    """``CREATE EXTERNAL TABLE`` for one lake table at ``lake_url`` (``s3://bucket/prefix/``)."""
    if table not in TABLES:
        raise UsageError(f"unknown lake table {table!r} (valid: {', '.join(TABLES)})")
    location = f"{_check_lake(lake_url)}/{table}/"
    database, start = _check_database(database), _check_start(start)
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
    """The database and the three tables, ``;``-separated, ready for the Athena console."""
    statements = [f"CREATE DATABASE IF NOT EXISTS `{_check_database(database)}`"]
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
        """The query, after comments saying what each ``?`` is and how to run it in Athena."""
        if not self.parameters:
            head = f"-- flowsleuth detector {self.detector}: DuckDB SQL transpiled to Trino (Athena engine v3) by sqlglot; values inlined."
            return f"{head}\n{self.sql}\n"
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


_ARROW_SQL = {"string": "VARCHAR", "double": "DOUBLE", "bool": "BOOLEAN", "int64": "BIGINT"}


def _relation(table: pa.Table) -> exp.Expr:
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


def _topology_relations(topology: Topology | None) -> dict[str, exp.Expr]:
    from .topology.views import interfaces_table, routes_table, subnets_table

    tables = (interfaces_table(topology), subnets_table(topology), routes_table(topology))
    return {name: _relation(t) for name, t in zip(_TOPO_TABLES, tables, strict=True)}


def _lake_relation(table: str, database: str) -> exp.Expr:
    """The lake table, only the ``date`` partitions between two ``?`` (what Athena lists and reads)."""
    sql = f'SELECT * FROM "{database}"."{table}" WHERE "date" BETWEEN $partition_from AND $partition_to'
    return sqlglot.parse_one(sql, read="duckdb")


def _schemas() -> dict[str, dict[str, str]]:
    """Every relation a detector reads, column -> SQL type (for star expansion and typed rows)."""
    from .topology.views import TOPO_INTERFACES_SCHEMA, TOPO_ROUTES_SCHEMA, TOPO_SUBNETS_SCHEMA

    out = {t: {f.name: hive_type(f.type).upper() for f in s} for t, s in TABLES.items()}
    for cols in out.values():
        cols.update({"date": "VARCHAR", "hour": "VARCHAR"})
        cols.update({c: "VARCHAR" for c, t in list(cols.items()) if t == "STRING"})
    for name, schema in zip(_TOPO_TABLES, (TOPO_INTERFACES_SCHEMA, TOPO_SUBNETS_SCHEMA, TOPO_ROUTES_SCHEMA), strict=True):
        out[name] = {f.name: _ARROW_SQL[str(f.type)] for f in schema}
    return out


def prep_parts(prep: Prep) -> tuple[dict[str, str], dict[str, Macro]]:
    """The preparation's tables (name -> DuckDB SELECT, in order) and macros."""
    tables: dict[str, str] = {}
    macros: dict[str, Macro] = {}
    for name, sql in prep.statements:
        statement = LEADING_COMMENTS.sub("", sql, count=1)
        if CREATE_MACRO.match(statement):
            macro = parse_macro(statement)
            macros[macro.name.lower()] = macro
            continue
        m = CREATE_RELATION.match(statement)
        if not m:
            raise TranspileError(f"_prep/{name}: only CREATE OR REPLACE TEMP TABLE|VIEW ... AS and CREATE MACRO carry to Athena")
        tables[m.group(2).lower()] = m.group(3)
    return tables, macros


def _tables_read(tree: exp.Expr) -> set[str]:
    ctes = {c.alias.lower() for c in tree.find_all(exp.CTE)}
    return {t.name.lower() for t in tree.find_all(exp.Table) if not t.args.get("db")} - ctes


_MARK = "flowsleuth_param_{}_"


def detector_sql(
    detector: Detector,
    prep: Prep,
    *,
    topology: Topology | None = None,
    params: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    since: datetime,
    until: datetime,
    database: str = DEFAULT_DATABASE,
    inline: bool = False,
) -> TrinoQuery:
    """``detector`` as one Trino statement with what it reads before it; see the module docstring."""
    database = _check_database(database)
    values: dict[str, Any] = {**detector.defaults(), **(params or {})}
    lookback = detector.lookback_minutes(values)
    if since >= until:
        raise UsageError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    values.update({**prep.defaults(), **(settings or {})})
    values.update({
        "since": since, "until": until, "lookback_minutes": lookback,
        "partition_from": f"{since - timedelta(minutes=lookback) - _PARTITION_MARGIN:%Y-%m-%d}",
        "partition_to": f"{until + _PARTITION_MARGIN:%Y-%m-%d}",
    })  # fmt: skip

    prep_tables, macros = prep_parts(prep)
    try:
        tree = expand_macros(sqlglot.parse_one(detector.sql, read="duckdb"), macros)
        prep_trees = {n: expand_macros(sqlglot.parse_one(q, read="duckdb"), macros) for n, q in prep_tables.items()}
    except (SqlglotError, TranspileError) as e:
        raise TranspileError(f"detector {detector.id}: {e}") from e
    # what it reads, transitively: prep tables read lake and topology tables too
    needed: set[str] = set()
    frontier = _tables_read(tree)
    while frontier - needed:
        name = (frontier - needed).pop()
        needed.add(name)
        if name in prep_trees:
            frontier |= _tables_read(prep_trees[name])
    relations: dict[str, exp.Expr] = {t: _lake_relation(t, database) for t in TABLES if t in needed}
    relations.update({k: v for k, v in _topology_relations(topology).items() if k in needed})
    relations.update({k: v for k, v in prep_trees.items() if k in needed})  # in prep order, after what they read
    ctes = [exp.CTE(this=rel, alias=exp.TableAlias(this=exp.to_identifier(n))) for n, rel in relations.items()]
    if ctes:
        with_ = tree.args.get("with_")
        if isinstance(with_, exp.With):
            with_.set("expressions", ctes + list(with_.expressions))
        else:
            tree.set("with_", exp.With(expressions=ctes))
    sql = to_dialect(tree.sql(dialect="duckdb"), "trino", schema=_schemas())
    # named placeholders -> '?' in text order, remembering which parameter each one is
    out = sqlglot.parse_one(sql, read="trino")
    names: list[str] = []
    for node in list(out.find_all(exp.Placeholder)):
        names.append(node.name)
        node.replace(exp.column(_MARK.format(len(names) - 1)))
    text = out.sql(dialect="trino", pretty=True)
    order = [names[int(m.group(1))] for m in re.finditer(_MARK.format(r"(\d+)"), text)]
    missing = sorted({n for n in order if n not in values})
    if missing:
        raise TranspileError(f"detector {detector.id}: no value for parameter(s) {', '.join(missing)}")
    if inline:  # the user's own values (not log data), each written as an escaped Trino literal
        text = re.sub(_MARK.format(r"(\d+)"), lambda m: _literal(values[names[int(m.group(1))]]), text)
        return TrinoQuery(detector.id, text, [])
    text = re.sub(_MARK.format(r"\d+"), "?", text)
    return TrinoQuery(detector.id, text, [(n, values[n]) for n in order])
