"""Each DuckDB -> Spark rewrite of pipeline.transpile, checked by running both engines on the same data."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from pipeline.detect.catalog import load_detectors
from pipeline.schema import TABLES
from pipeline.topology.views import interfaces_table, subnets_table
from pipeline.transpile import TranspileError, to_dialect

DATA = """
    SELECT * FROM (VALUES
        (1, 'b', 3, TIMESTAMPTZ '2025-06-10 10:07:31+00'),
        (1, 'a', 2, TIMESTAMPTZ '2025-06-10 10:01:00+00'),
        (1, 'c', 2, TIMESTAMPTZ '2025-06-10 10:14:59+00'),
        (2, NULL, 1, TIMESTAMPTZ '2025-06-10 11:00:00+00'),
        (2, 'a', 5, TIMESTAMPTZ '2025-06-10 11:03:00+00')
    ) AS t(g, s, n, ts)
"""

CASES = {
    "ordered list, slice": "SELECT g, list(s ORDER BY n DESC, s)[1:2] AS x FROM t GROUP BY g ORDER BY g",
    "ordered list of structs, filter": (
        "SELECT g, list({'s': s, 'n': n} ORDER BY ts) FILTER (WHERE n > 1) AS x FROM t GROUP BY g ORDER BY g"
    ),
    "distinct ordered list": "SELECT g, list(DISTINCT n ORDER BY n) AS x FROM t GROUP BY g ORDER BY g",
    "mode ties to the smallest": "SELECT g, mode(n ORDER BY n) AS x FROM t GROUP BY g ORDER BY g",
    "time_bucket 7 minutes": "SELECT ts, time_bucket(INTERVAL '1 minute' * 7, ts) AS x FROM t ORDER BY ts",
    "to_timestamp, epoch": "SELECT to_timestamp(epoch(ts) // 300 * 300) AS x FROM t ORDER BY ts",
    "integer division": "SELECT n // 2 AS x, n / 2 AS y FROM t ORDER BY ts",
    "strftime": "SELECT strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS x FROM t ORDER BY ts",
    "arg_max with a tuple": "SELECT g, arg_max(s, (n, s)) AS x FROM t GROUP BY g ORDER BY g",
    "any_value skips NULLs": "SELECT g, any_value(s) FILTER (WHERE n < 2) AS x FROM t GROUP BY g ORDER BY g",
    "star exclude": "SELECT * EXCLUDE (ts) FROM t ORDER BY g, n",
    "star replace": "SELECT * REPLACE (n * 10 AS n) FROM t ORDER BY g, n",
    "row IN subquery": "SELECT g, n FROM t WHERE (g, n) IN (SELECT DISTINCT (g, max(n)) FROM t GROUP BY g) ORDER BY g",
    "named window in arithmetic": (
        "SELECT g, n, sum(n) OVER w - n AS x FROM t WINDOW w AS (PARTITION BY g) ORDER BY g, n, ts"
    ),
}


def _rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v is not None else v for v in r) for r in rows]


@pytest.fixture(scope="module")
def both(spark: Any) -> tuple[duckdb.DuckDBPyConnection, Any]:
    from pipeline.spark.connection import SparkConnection

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(f"CREATE TABLE t AS {DATA}")
    scon = SparkConnection(spark)
    scon.register("t", con.execute("SELECT * FROM t").to_arrow_table())
    return con, scon


@pytest.mark.parametrize("case", sorted(CASES))
def test_rewrite_matches_duckdb(case: str, both: tuple[duckdb.DuckDBPyConnection, Any]) -> None:
    con, scon = both
    sql = CASES[case]
    assert _rows(scon.execute(sql).fetchall()) == _rows(con.execute(sql).fetchall()), to_dialect(sql, "spark", scon._schemas)


def test_every_detector_transpiles() -> None:
    schema = {t: dict.fromkeys([*s.names, "date", "hour"], "VARCHAR") for t, s in TABLES.items()}
    for name, table in (("topo_interfaces", interfaces_table(None)), ("topo_subnets", subnets_table(None))):
        schema[name] = dict.fromkeys(table.column_names, "VARCHAR")
    for det in load_detectors():
        assert "SELECT" in to_dialect(det.sql, "spark", schema)


def test_unsupported_construct_is_an_error() -> None:
    with pytest.raises(TranspileError, match="mode"):
        to_dialect("SELECT mode(x ORDER BY y) FROM t", "spark")
    with pytest.raises(TranspileError, match="EXCLUDE"):
        to_dialect("SELECT * EXCLUDE (x) FROM t", "spark")
