"""One DuckDB connection per run, with its settings pinned, and the lake's views on it."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import duckdb
import pyarrow as pa

from .errors import LakeError
from .lake.storage import LakeLocation, is_remote, lake_location
from .schema import TABLES

log = logging.getLogger(__name__)

DEFAULT_MEMORY_LIMIT = "4GB"


def connect(*, threads: int | None = None, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with UTC, thread count and memory limit pinned."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone='UTC'")
    con.execute(f"SET threads={int(threads or os.cpu_count() or 1)}")
    con.execute(f"SET memory_limit='{_check_size(memory_limit)}'")
    return con


def _check_size(value: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", value.strip(), re.IGNORECASE):
        raise LakeError(f"memory limit {value!r} is not a size like '4GB'")
    return value.strip()


def register_views(con: duckdb.DuckDBPyConnection, lake: str | Path | LakeLocation) -> list[str]:
    """Create views ``vpc_flow``, ``alb_access``, ``alb_connection`` over the lake.

    A table with no files yet gets an empty view of the right schema, so detectors
    and notebooks work on a lake that has only some sources. An S3 lake is read through
    its fsspec filesystem registered on the connection (no DuckDB extension needed).
    """
    from .lake.ledger import committed_files

    if is_remote(lake):
        return _register_remote_views(con, lake_location(lake))
    lake = lake.local if isinstance(lake, LakeLocation) else Path(lake)
    if not lake.is_dir():
        raise LakeError(f"lake {str(lake)!r} does not exist; run 'flowsleuth ingest' first")

    # A lake written by ingest lists its committed files in the ledger: reading exactly
    # those means a batch is never seen half-published, and a stray or half-written file
    # dropped into a partition is never read (the next ingest moves it to _quarantine/).
    # Lakes without a ledger (test fixtures, copies) are globbed.
    committed = committed_files(lake)
    made = []
    for table, schema in TABLES.items():
        if committed is not None:
            files = [str(lake / p) for p in committed.get(table, [])]
        else:
            files = [str(p) for p in (lake / table).glob("date=*/hour=*/*.parquet")]
        if files:
            if committed is not None:
                source = "[" + ", ".join(_sql_str(f) for f in sorted(files)) + "]"
            else:
                source = _sql_str(str(lake / table / "date=*" / "hour=*" / "*.parquet"))
            _parquet_view(con, table, source, schema)
        else:
            _empty_view(con, table, schema)
        made.append(table)
    return made


def _parquet_view(con: duckdb.DuckDBPyConnection, table: str, source: str, schema: pa.Schema) -> None:
    """Every column of ``schema`` in its order, then ``date`` and ``hour``.

    Lake files leave out columns that are null on every row they hold (a default-format
    flow log fills 14 of the flow table's ~80 columns); the files are read by name, and
    a column no file has reads as nulls of its type. (A union with an empty table of the
    whole schema would do the same without the look at the footers here, but it made
    the detectors ~10 % slower.)
    """
    scan = f"read_parquet({source}, hive_partitioning=true, union_by_name=true)"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
    missing = [f.name for f in schema if f.name not in present]
    types = _duck_types(con, pa.schema([schema.field(n) for n in missing])) if missing else {}
    columns = [_sql_ident(n) if n in present else f"CAST(NULL AS {types[n]}) AS {_sql_ident(n)}" for n in schema.names]
    con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT {', '.join(columns)}, date, hour FROM {scan}")


def _empty_view(con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema) -> None:
    con.register(f"__empty_{table}", schema.empty_table())
    con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT *, NULL::DATE AS date, NULL::BIGINT AS hour FROM __empty_{table}")


def _duck_types(con: duckdb.DuckDBPyConnection, schema: pa.Schema) -> dict[str, str]:
    """DuckDB's own type for each Arrow field (what it reads from a file holding the column)."""
    con.register("__flowsleuth_types", schema.empty_table())
    try:
        return {row[0]: row[1] for row in con.execute("DESCRIBE __flowsleuth_types").fetchall()}
    finally:
        con.unregister("__flowsleuth_types")


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _register_remote_views(con: duckdb.DuckDBPyConnection, loc: LakeLocation) -> list[str]:
    """Views over an S3 lake: exactly the files its ledger lists (a lake without one is listed)."""
    from .lake.ledger import committed_files

    # DuckDB must never fetch httpfs for s3:// paths: the fsspec filesystem serves them.
    con.execute("SET autoinstall_known_extensions=false")
    con.execute("SET autoload_known_extensions=false")
    if "s3" in con.list_filesystems():
        con.unregister_filesystem("s3")  # one lake per connection: this lake's credentials
    con.register_filesystem(loc.fs)
    committed = committed_files(loc)
    if committed is None and not loc.fs.exists(loc.root):
        raise LakeError(f"lake {loc.url!r} does not exist; run 'flowsleuth ingest' first")
    made = []
    for table, schema in TABLES.items():
        if committed is not None:
            files = [loc.uri(p) for p in committed.get(table, [])]
        else:
            files = [f"s3://{p}" for p in loc.fs.glob(loc.path(f"{table}/date=*/hour=*/*.parquet"))]
        if files:
            _parquet_view(con, table, "[" + ", ".join(_sql_str(f) for f in sorted(files)) + "]", schema)
        else:
            _empty_view(con, table, schema)
        made.append(table)
    return made


def _sql_str(value: str) -> str:
    """Quote a path as a SQL string literal (paths come from our own lake layout, not logs)."""
    return "'" + value.replace("'", "''") + "'"


def open_lake(lake: str | Path | LakeLocation, *, threads: int | None = None, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """A connection with the lake's views registered: the analyst's entry point."""
    con = connect(threads=threads, memory_limit=memory_limit)
    register_views(con, lake)
    return con
