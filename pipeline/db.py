"""One DuckDB connection per run, with its settings pinned, and the lake's views on it."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import duckdb

from .errors import LakeError
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


def register_views(con: duckdb.DuckDBPyConnection, lake: str | Path) -> list[str]:
    """Create views ``vpc_flow``, ``alb_access``, ``alb_connection`` over the lake.

    A table with no files yet gets an empty view of the right schema, so detectors
    and notebooks work on a lake that has only some sources.
    """
    lake = Path(lake)
    if not lake.is_dir():
        raise LakeError(f"lake {str(lake)!r} does not exist; run 'flowsleuth ingest' first")
    from .lake.ledger import committed_files

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
            con.execute(
                f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM "
                f"read_parquet({source}, hive_partitioning=true, union_by_name=true)"
            )
        else:
            con.register(f"__empty_{table}", schema.empty_table())
            con.execute(
                f"CREATE OR REPLACE VIEW {table} AS SELECT *, NULL::DATE AS date, NULL::BIGINT AS hour FROM __empty_{table}"
            )
        made.append(table)
    return made


def _sql_str(value: str) -> str:
    """Quote a path as a SQL string literal (paths come from our own lake layout, not logs)."""
    return "'" + value.replace("'", "''") + "'"


def open_lake(lake: str | Path, *, threads: int | None = None, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """A connection with the lake's views registered: the analyst's entry point."""
    con = connect(threads=threads, memory_limit=memory_limit)
    register_views(con, lake)
    return con
