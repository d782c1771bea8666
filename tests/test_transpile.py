"""Each DuckDB -> Spark rewrite of pipeline.transpile, checked by running both engines on the same data."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest
import sqlglot

from pipeline.detect.catalog import default_queries_dir, load_detectors
from pipeline.detect.prep import load_prep
from pipeline.schema import TABLES
from pipeline.topology.views import interfaces_table, subnets_table
from pipeline.transpile import TranspileError, expand_macros, parse_macro, split_shared_ctes, to_dialect

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
    "first/last ordered, filter, NULL first value": (
        "SELECT g, first(s ORDER BY n DESC, s) AS x, last(s ORDER BY n, s) FILTER (WHERE n > 1) AS y,"
        " first(s ORDER BY n) AS z FROM t GROUP BY g ORDER BY g"
    ),
    "regexp_replace groups, global": (
        "SELECT regexp_replace(coalesce(s, '-') || '00x' || coalesce(s, '-') || '0x', '(0+)(x)', '<\\2\\1$>', 'g') AS x"
        " FROM t ORDER BY ts"
    ),
    "regexp_replace anchored, first match": "SELECT regexp_replace(s || s, '^(a)', 'z\\1') AS x FROM t ORDER BY ts",
    "CTE read twice (computed once, cached)": (
        "WITH m AS (SELECT g, max(n) AS mx FROM t GROUP BY g), c AS (SELECT g FROM m WHERE mx > 2)"
        " SELECT m.g, m.mx, (SELECT count(*) FROM m) AS k, c.g AS cg FROM m LEFT JOIN c ON c.g = m.g ORDER BY m.g"
    ),
    "len of a list": "SELECT len(string_split(s || '::' || s, ':')) AS x, len(['p', s]) AS y FROM t ORDER BY ts",
}

#: Addresses for the run's macros (queries/_prep/20_macros.sql): IPv4 edges, IPv6 short and
#: long forms, mixed case, and what is not an address.
ADDRS = [
    "10.0.1.7", "172.31.255.254", "203.0.113.9", "0.0.0.0", "255.255.255.255", "100.64.0.1",
    "2600:1F18::0a", "2600:1f18:403:c000::5", "::1", "fe80::1:2:3", "fd00:0:0:1::", "2001:db8:1:2:3:4:5:6",
    "not-an-ip", "",
]  # fmt: skip
#: flow_our_addrs as the prep builds it (a TEMP TABLE), from the addresses above.
OUR_ADDRS = "CREATE OR REPLACE TEMP TABLE flow_our_addrs AS SELECT addr AS ip FROM a WHERE addr LIKE '10.%' OR addr LIKE 'fd%'"
MACRO_CASES = {
    "net_of every prefix length": (
        "SELECT addr, bits, net_of(addr, bits) AS x FROM a, (SELECT unnest([0, 8, 16, 20, 24, 31, 32, 48, 64, 112]) AS bits)"
        " ORDER BY addr, bits"
    ),
    "usual_net": "SELECT addr, usual_net(addr) AS x, usual_net(NULL) AS y FROM a ORDER BY addr",
    "ipv6_groups, ipv4_int": "SELECT addr, ipv6_groups(addr) AS x, ipv4_int(addr) AS y FROM a ORDER BY addr",
    "is_ours in a projection and a filter": (
        "SELECT addr, is_ours(addr) AS x, count(*) FILTER (WHERE NOT is_ours(addr)) OVER () AS y FROM a"
        " WHERE is_ours(addr) OR addr LIKE '2%' ORDER BY addr"
    ),
    "macro in a macro argument": "SELECT addr, net_of(usual_net(addr), 16) AS x FROM a ORDER BY addr",
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
    scon.register("t", con.sql("SELECT * FROM t").to_arrow_table())
    return con, scon


@pytest.mark.slow  # a Spark session (CI runs it)
@pytest.mark.parametrize("case", sorted(CASES))
def test_rewrite_matches_duckdb(case: str, both: tuple[duckdb.DuckDBPyConnection, Any]) -> None:
    con, scon = both
    sql = CASES[case]
    assert _rows(scon.execute(sql).fetchall()) == _rows(con.execute(sql).fetchall()), to_dialect(sql, "spark", scon._schemas)


@pytest.fixture(scope="module")
def with_macros(both: tuple[duckdb.DuckDBPyConnection, Any]) -> tuple[duckdb.DuckDBPyConnection, Any]:
    """Both engines with table ``a`` of addresses, flow_our_addrs (a TEMP TABLE) and the run's macros."""
    con, scon = both
    con.execute("CREATE TABLE a AS SELECT unnest($addrs) AS addr", {"addrs": ADDRS})
    scon.register("a", con.sql("SELECT * FROM a").to_arrow_table())
    for engine in (con, scon):
        engine.execute(OUR_ADDRS)
        for _, sql in load_prep(default_queries_dir()).statements:
            if "MACRO" in sql:
                engine.execute(sql)
    return con, scon


@pytest.mark.slow  # a Spark session (CI runs it)
@pytest.mark.parametrize("case", sorted(MACRO_CASES))
def test_macro_matches_duckdb(case: str, with_macros: tuple[duckdb.DuckDBPyConnection, Any]) -> None:
    con, scon = with_macros
    sql = MACRO_CASES[case]
    got = scon.execute(sql).fetchall()
    assert got == con.execute(sql).fetchall(), to_dialect(sql, "spark", scon._schemas, scon.macros)
    assert got, "no rows: the comparison would prove nothing"


@pytest.mark.slow  # a Spark session (CI runs it)
def test_prep_table_is_materialised(with_macros: tuple[duckdb.DuckDBPyConnection, Any]) -> None:
    """A prep TEMP TABLE on Spark is a snapshot (as in DuckDB), not a view re-reading its source."""
    con, scon = with_macros
    scon.execute("CREATE OR REPLACE TEMP TABLE snap AS SELECT count(*) AS n FROM a")
    scon.register("a", con.sql("SELECT * FROM a LIMIT 1").to_arrow_table())
    try:
        assert scon.execute("SELECT n FROM snap").fetchall() == [(len(ADDRS),)]
    finally:
        scon.register("a", con.sql("SELECT * FROM a").to_arrow_table())


def test_macro_expansion_substitutes_arguments() -> None:
    macros = {m.name: m for m in (parse_macro("CREATE MACRO twice(x) AS x + x"), parse_macro("CREATE OR REPLACE MACRO f(a, b) AS twice(a) * b"))}
    tree = expand_macros(sqlglot.parse_one("SELECT f(c + 1, 2) FROM t", read="duckdb"), macros)
    assert tree.sql("duckdb") == "SELECT ((((c + 1)) + ((c + 1))) * (2)) FROM t"
    with pytest.raises(TranspileError, match="takes 2 arguments"):
        to_dialect("SELECT f(1) FROM t", "spark", macros=macros)
    with pytest.raises(TranspileError, match="more than"):
        to_dialect("SELECT loop(1)", "spark", macros={"loop": parse_macro("CREATE MACRO loop(x) AS loop(x)")})


def test_shared_ctes_split_off() -> None:
    """A CTE read twice becomes its own statement (with the inline CTEs it reads); the rest reads its view."""
    pieces, rest = split_shared_ctes(
        "WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a WHERE x > $lo), c AS (SELECT * FROM b)"
        " SELECT * FROM b JOIN c ON b.x = c.x UNION ALL SELECT b.x, bb.x FROM b, b AS bb",
        "q1_",
    )
    assert pieces == [("q1_b", "WITH a AS (SELECT 1 AS x) SELECT x FROM a WHERE x > $lo")]
    assert rest == (
        "WITH a AS (SELECT 1 AS x), c AS (SELECT * FROM q1_b AS b) SELECT * FROM q1_b AS b JOIN c ON b.x = c.x"
        " UNION ALL SELECT b.x, bb.x FROM q1_b AS b, q1_b AS bb"
    )
    assert split_shared_ctes("WITH a AS (SELECT 1) SELECT * FROM a", "q_") == ([], "WITH a AS (SELECT 1) SELECT * FROM a")


def test_every_detector_transpiles() -> None:
    schema = {t: dict.fromkeys([*s.names, "date", "hour"], "VARCHAR") for t, s in TABLES.items()}
    for name, table in (("topo_interfaces", interfaces_table(None)), ("topo_subnets", subnets_table(None))):
        schema[name] = dict.fromkeys(table.column_names, "VARCHAR")
    macros = {}
    for _, sql in load_prep(default_queries_dir()).statements:
        if "MACRO" in sql:
            macro = parse_macro(sql)
            macros[macro.name] = macro
        else:
            assert "SELECT" in to_dialect(sql.split(" AS", 1)[1], "spark", schema, macros)
    assert {"is_ours", "net_of", "usual_net"} <= set(macros)
    for det in load_detectors():
        spark_sql = to_dialect(det.sql, "spark", schema, macros)
        assert "SELECT" in spark_sql
        assert not any(f"{name}(" in spark_sql.lower() for name in macros), f"{det.id}: a macro call is left"


def test_unsupported_construct_is_an_error() -> None:
    with pytest.raises(TranspileError, match="mode"):
        to_dialect("SELECT mode(x ORDER BY y) FROM t", "spark")
    with pytest.raises(TranspileError, match="EXCLUDE"):
        to_dialect("SELECT * EXCLUDE (x) FROM t", "spark")
    with pytest.raises(TranspileError, match="first match"):
        to_dialect("SELECT regexp_replace(s, 'a', 'b') FROM t", "spark")
    with pytest.raises(TranspileError, match="table macro"):
        parse_macro("CREATE MACRO m(x) AS TABLE SELECT x")
    with pytest.raises(TranspileError, match="macro"):
        parse_macro("CREATE MACRO m(x, y := 2) AS x + y")  # a default: not rewritable at the call
