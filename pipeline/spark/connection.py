"""A Spark session behind the small DuckDB-connection surface the detect runner uses.

The runner (time span, topology inference, ``requires`` counts, each detector, the
finding builder) is engine-neutral apart from its connection: handing it this object
runs every one of those queries on Spark, transpiled from the same DuckDB SQL by
:mod:`pipeline.transpile`. Only what the runner calls is here: ``execute``/``sql`` with
named parameters, ``fetchall``/``description``/``to_arrow_table``, ``register`` of an
Arrow table, ``CREATE OR REPLACE [TEMP] TABLE name AS SELECT ...`` (a cached temp view,
materialised at once, as DuckDB's table is), ``CREATE OR REPLACE VIEW``, ``CREATE OR
REPLACE MACRO name(args) AS expr`` (kept here; every later query has its calls expanded
by :func:`pipeline.transpile.expand_macros`) and ``DESCRIBE view``. That is what the
run's preparation (``queries/_prep``) needs.

Errors are raised as :class:`SparkSQLError`, a ``duckdb.Error``, so the runner's
one-failing-detector-does-not-stop-the-others handling applies unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..detect.catalog import sql_parameters
from ..errors import LakeError
from ..lake.storage import LakeLocation
from ..schema import TABLES
from ..transpile import (
    CREATE_MACRO,
    CREATE_RELATION,
    LEADING_COMMENTS,
    Macro,
    TranspileError,
    parse_macro,
    split_shared_ctes,
    to_dialect,
)

log = logging.getLogger(__name__)

_JVM_EXCEPTION = re.compile(r"(?:Caused by: )?[\w.$]+(?:Exception|Error): ")
_DESCRIBE = re.compile(r"\s*DESCRIBE\s+(\w+)\s*\Z", re.IGNORECASE)


class SparkSQLError(duckdb.Error):
    """A query failed to transpile or failed on Spark."""


class SparkResult:
    """The rows of one query, as the runner reads them."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    @property
    def description(self) -> list[tuple[str, ...]]:
        return [(name,) for name in self._table.column_names]

    def to_arrow_table(self) -> pa.Table:
        return self._table

    def fetchall(self) -> list[tuple[Any, ...]]:
        cols = [self._table.column(i).to_pylist() for i in range(self._table.num_columns)]
        return list(zip(*cols, strict=True)) if cols else []


class SparkConnection:
    """Lake and topology views on a SparkSession, queried with DuckDB SQL."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self._schemas: dict[str, dict[str, str]] = {}
        self._cached: dict[str, Any] = {}  # tables (CREATE TABLE): cached DataFrames, unpersisted on replace/close
        self.macros: dict[str, Macro] = {}
        self._queries = 0
        self.transpiled: dict[str, str] = {}  # DuckDB SQL -> the Spark SQL that ran (for errors and docs)

    # --- the DuckDB surface -------------------------------------------------------------
    def execute(self, sql: str, params: dict[str, Any] | None = None) -> SparkResult:
        return self.sql(sql, params=params)

    def sql(self, sql: str, params: dict[str, Any] | None = None) -> SparkResult:
        statement = LEADING_COMMENTS.sub("", sql, count=1)  # prep statements open with comments
        m = _DESCRIBE.match(statement)
        if m:
            return self._describe(m.group(1))
        if CREATE_MACRO.match(statement):
            try:
                macro = parse_macro(sql)
            except TranspileError as e:
                raise SparkSQLError(f"cannot carry the macro to Spark SQL: {e}") from e
            self.macros[macro.name] = macro
            return SparkResult(pa.table({}))
        m = CREATE_RELATION.match(statement)
        if m:
            kind, name, query = m.groups()
            if kind.upper() == "VIEW":
                df = self._dataframe(query, params)
            else:
                with self._shared_ctes(query, params) as final:
                    df = self._materialise(final, self._dataframe(final, params))
            self._create_view(name, df)
            self._replace_cached(name, df if kind.upper() == "TABLE" else None)
            return SparkResult(pa.table({}))
        with self._shared_ctes(sql, params) as final:
            df = self._dataframe(final, params)
            try:
                return SparkResult(_utc_times(df.toArrow()))
            except Exception as e:  # noqa: BLE001 - any Spark failure becomes the runner's error type
                raise SparkSQLError(f"{_short(e)}\n-- Spark SQL:\n{self.transpiled.get(final, '')}") from e

    def register(self, name: str, table: pa.Table) -> None:
        self._create_view(name, self.spark.createDataFrame(table) if table.num_rows else _empty_df(self.spark, table))

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self._schemas.pop(name, None)
        self._replace_cached(name, None)

    def close(self) -> None:
        """The session outlives the connection (one per process); views are dropped, tables unpersisted."""
        for name in list(self._schemas):
            self.spark.catalog.dropTempView(name)
        self._schemas.clear()
        for name in list(self._cached):
            self._replace_cached(name, None)
        self.macros.clear()

    # --- lake ---------------------------------------------------------------------------
    def register_lake(self, lake: str | Path | LakeLocation, spark_url: str | None = None) -> list[str]:
        """Views ``vpc_flow``, ``alb_access``, ``alb_connection`` over the lake's committed files.

        The driver reads the ledger (local or S3, as DuckDB does); the executors read the
        files at ``spark_url`` + the file's path in the lake: by default the lake folder, or
        ``s3a://bucket/prefix`` for an S3 lake (Hadoop's S3A connector; on EMR give
        ``s3://bucket/prefix``, EMRFS). A copy of the lake elsewhere (``file:///mnt/lake``,
        ``hdfs://...``) works the same way.
        """
        from ..lake.ledger import committed_files
        from ..lake.storage import lake_location

        loc = lake_location(lake)
        committed = committed_files(loc)
        if committed is None and not loc.fs.exists(loc.root):
            raise LakeError(f"lake {loc.url!r} does not exist; run 'flowsleuth ingest' first")
        base = (spark_url or (f"s3a://{loc.root}" if loc.remote else loc.root)).rstrip("/")
        for table, schema in TABLES.items():
            if committed is not None:
                files = sorted(f"{base}/{p}" for p in committed.get(table, []))
            else:  # a folder of Parquet files without a ledger (written by another tool)
                found = loc.fs.glob(loc.path(f"{table}/date=*/hour=*/*.parquet"))
                files = sorted(f"{base}/{str(f)[len(loc.root) + 1 :]}" for f in found)
            if files:
                try:
                    df = (
                        self.spark.read.option("basePath", f"{base}/{table}").option("mergeSchema", "true")
                        .parquet(*files)
                    )  # fmt: skip
                except Exception as e:  # noqa: BLE001 - a JVM error: say what to do in one line
                    raise LakeError(
                        f"Spark cannot read the lake's files at {base}/ ({_short(e)}); an S3 lake needs the cluster's "
                        "S3 connector (EMR: --spark-lake-url s3://bucket/prefix; elsewhere hadoop-aws for s3a://), "
                        "or give --spark-lake-url where the executors see the lake"
                    ) from e
                df = _with_every_column(df, schema)
            else:
                empty = schema.empty_table()
                empty = empty.append_column("date", pa.array([], pa.date32())).append_column("hour", pa.array([], pa.int64()))
                df = _empty_df(self.spark, empty)
            self._create_view(table, df)
        return list(TABLES)

    # --- internals ----------------------------------------------------------------------
    def _dataframe(self, sql: str, params: dict[str, Any] | None) -> Any:
        try:
            spark_sql = to_dialect(sql, "spark", schema=self._schemas, macros=self.macros)
        except TranspileError as e:
            raise SparkSQLError(f"cannot transpile to Spark SQL: {e}") from e
        self.transpiled[sql] = spark_sql
        used = sql_parameters(sql)
        args = {k: _arg(v) for k, v in (params or {}).items() if k in used}
        try:
            return self.spark.sql(spark_sql, args=args or None)
        except Exception as e:  # noqa: BLE001
            raise SparkSQLError(f"{_short(e)}\n-- Spark SQL:\n{spark_sql}") from e

    @contextmanager
    def _shared_ctes(self, sql: str, params: dict[str, Any] | None) -> Iterator[str]:
        """CTEs the query reads more than once computed first and cached (as DuckDB does), for the query's time."""
        self._queries += 1
        pieces, final = split_shared_ctes(sql, prefix=f"__flowsleuth_q{self._queries}_")
        made: list[str] = []
        try:
            for view, piece in pieces:
                df = self._materialise(piece, self._dataframe(piece, params))
                self._create_view(view, df)
                self._replace_cached(view, df)
                made.append(view)
            yield final
        finally:
            for view in made:
                self.unregister(view)

    def _materialise(self, sql: str, df: Any) -> Any:
        """A table: the query's rows computed now and kept (as DuckDB's CREATE TABLE), not re-run per reader.

        ``localCheckpoint`` rather than ``cache``: the kept rows do not depend on the plan (and the
        views) they came from, and Spark 4's cache() fails on some plans with CTEs ("key not found").
        """
        try:
            return df.localCheckpoint(eager=True)
        except Exception as e:  # noqa: BLE001
            raise SparkSQLError(f"{_short(e)}\n-- Spark SQL:\n{self.transpiled.get(sql, '')}") from e

    def _replace_cached(self, name: str, df: Any) -> None:
        old = self._cached.pop(name, None)
        if old is not None:
            old.unpersist()
        if df is not None:
            self._cached[name] = df

    def _create_view(self, name: str, df: Any) -> None:
        df.createOrReplaceTempView(name)
        self._schemas[name] = {f.name: f.dataType.simpleString() for f in df.schema.fields}

    def _describe(self, name: str) -> SparkResult:
        if name not in self._schemas:
            raise SparkSQLError(f"no view {name!r}")
        cols = self._schemas[name]
        return SparkResult(pa.table({"column_name": list(cols), "column_type": list(cols.values())}))


def _with_every_column(df: Any, schema: pa.Schema) -> Any:
    """``df`` with the columns of ``schema`` no file holds added as typed nulls (lake files
    leave out columns null on all their rows; ``mergeSchema`` unites the ones they have)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_type

    for field in schema:
        if field.name not in df.columns:
            df = df.withColumn(field.name, F.lit(None).cast(from_arrow_type(field.type)))
    return df


def _empty_df(spark: Any, table: pa.Table) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return spark.createDataFrame([], from_arrow_schema(table.schema))


def _arg(value: Any) -> Any:
    """A bound value as Spark takes it: lists become array literals, aware times UTC."""
    from pyspark.sql import functions as F

    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (list, tuple)):
        return F.array(*[F.lit(v) for v in value]) if value else F.array().cast("array<string>")
    if value is None:
        return F.lit(None)
    return value


def _utc_times(table: pa.Table) -> pa.Table:
    """Spark hands timestamps in the session zone (UTC); label them so, as DuckDB's TIMESTAMPTZ."""
    cols = []
    for field, col in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            col = col.cast(pa.timestamp(field.type.unit, tz="UTC"))
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _short(e: BaseException) -> str:
    """The first line of an error, and the JVM exception's own line when that is elsewhere (py4j)."""
    text = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    if not text:
        return type(e).__name__
    cause = next((line for line in text[1:] if _JVM_EXCEPTION.match(line)), None)
    return f"{text[0]} ({cause[:500]})" if cause and cause not in text[0] else text[0]
