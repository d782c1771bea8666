"""`flowsleuth athena`: DDL with partition projection, detectors as Trino SQL; checked by parsing with sqlglot's Trino dialect."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from pipeline.athena import ddl, detector_sql, prep_parts
from pipeline.cli import main
from pipeline.detect import load_detectors, load_prep
from pipeline.detect.catalog import Detector, default_queries_dir
from pipeline.schema import TABLES
from pipeline.topology.model import Topology

REPO = Path(__file__).resolve().parents[1]
SCENARIO_TOPOLOGY = REPO / "data-samples" / "scenarios" / "asymmetric_route" / "topology.json"
DETECTORS = load_detectors()
PREP = load_prep(default_queries_dir())
SINCE, UNTIL = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)
#: DuckDB spellings that must not survive into Trino SQL (sqlglot passes some through unchanged).
DUCKDB_ONLY = ("LIST_SLICE", "LIST_CONTAINS", "LIST_DISTINCT", "LIST_CONCAT", "LIST_SORT", "STRING_SPLIT", "ARRAY_TO_STRING",
               "TO_MINUTES", "MODE(", "MEDIAN(", "DATE_BIN", "TIME_BUCKET", "IGNORE NULLS", "HASH(", "STRUCT_PACK",
               "ANY_VALUE", "ARG_MAX", "ARG_MIN", "EXCLUDE (", "REPLACE (", "{'", "IS_OURS(", "NET_OF(", "USUAL_NET(",
               "IPV4_INT(", "IPV6_GROUPS(", "REGEXP_MATCHES", "EPOCH(", "LIST(", "$", "::")  # fmt: skip


def _code(sql: str) -> str:
    """The SQL without its string literals and comments (what must not hold DuckDB spellings)."""
    tree = sqlglot.parse_one(sql, read="trino")
    for lit in list(tree.find_all(exp.Literal)):
        if lit.is_string:
            lit.replace(exp.Literal.string(""))
    return tree.sql("trino", comments=False).upper()


def test_ddl_has_projection_for_every_table_and_parses() -> None:
    text = ddl("s3://my-lake/flowsleuth/", database="logs")
    statements = sqlglot.parse(text, read="athena")  # Athena DDL is Hive DDL; its DML is Trino
    assert len(statements) == 1 + len(TABLES)
    assert isinstance(statements[0], exp.Create) and statements[0].kind == "DATABASE"
    for stmt, (table, schema) in zip(statements[1:], TABLES.items(), strict=True):
        assert isinstance(stmt, exp.Create) and stmt.this.this.name == table and stmt.this.this.db == "logs"
        assert [c.name for c in stmt.this.expressions] == schema.names  # from the one schema definition, in order
        props = {p.name: p.args["value"].name for p in stmt.find_all(exp.Property) if isinstance(p.args.get("value"), exp.Literal)}
        assert props["projection.enabled"] == "true" and props["projection.date.type"] == "date"
        assert props["projection.hour.range"] == "0,23" and props["projection.hour.digits"] == "2"
        assert props["storage.location.template"] == f"s3://my-lake/flowsleuth/{table}/date=${{date}}/hour=${{hour}}/"
        partitioned = stmt.find(exp.PartitionedByProperty)
        assert partitioned is not None and [c.name for c in partitioned.this.expressions] == ["date", "hour"]
        location = stmt.find(exp.LocationProperty)
        assert location is not None and location.this.name == f"s3://my-lake/flowsleuth/{table}/"
    assert "timestamp" in text and "bigint" in text and "double" in text


@pytest.mark.parametrize("lake", ["/local/lake", "s3://", "s3://b/p'x/", "s3://b/${x}/"])
def test_ddl_refuses_what_is_not_a_plain_s3_prefix(lake: str) -> None:
    assert main(["athena", "ddl", "--lake", lake]) == 2


@pytest.mark.parametrize("detector", DETECTORS, ids=[d.id for d in DETECTORS])
def test_every_detector_is_one_trino_statement_that_parses(detector: Detector) -> None:
    query = detector_sql(detector, PREP, since=SINCE, until=UNTIL)  # a detector that cannot be transpiled fails here
    tree = sqlglot.parse_one(query.sql, read="trino")
    assert isinstance(tree, (exp.Select, exp.Union))
    left = [s for s in DUCKDB_ONLY if s in _code(query.sql)]
    assert not left, f"DuckDB-only constructs left in the Trino SQL: {left}"
    assert len(list(tree.find_all(exp.Placeholder))) == len(query.parameters) == query.sql.count("?")
    names = {n for n, _ in query.parameters}
    assert names <= set(detector.params) | set(PREP.params) | {"since", "until", "lookback_minutes", "partition_from", "partition_to"}
    assert {"since", "until", "partition_from", "partition_to"} <= names
    # every relation read is a lake table in the database or a CTE of the statement (prep, topology, narrowed lake)
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    outside = {(t.db, t.name) for t in tree.find_all(exp.Table) if t.name and t.name not in ctes or t.db}
    assert outside and all(db == "flowsleuth" and name in TABLES for db, name in outside), outside
    # each lake table is read only through the partition filter
    for cte in tree.find_all(exp.CTE):
        if cte.alias in TABLES:
            assert '"date" BETWEEN ?' in cte.this.sql("trino")
    assert len(sqlglot.parse(query.script(), read="trino")) == 1  # comments + query: one statement


def test_prep_tables_and_macros_come_with_the_detector() -> None:
    tables, macros = prep_parts(PREP)
    assert tables and macros
    det = next(d for d in DETECTORS if re.search(r"\bis_ours\s*\(", d.sql))
    tree = sqlglot.parse_one(detector_sql(det, PREP, since=SINCE, until=UNTIL).sql, read="trino")
    ctes = [c.alias for c in tree.find_all(exp.CTE)]
    assert "flow_our_addrs" in ctes  # is_ours() reads it: expanded, and the table carried as a CTE
    # a CTE comes after every CTE it reads (Trino resolves names in order)
    for i, cte in enumerate(tree.find_all(exp.CTE)):
        reads = {t.name for t in cte.this.find_all(exp.Table) if not t.db}
        assert reads & set(ctes) <= set(ctes[:i]) | {c.alias for c in cte.this.find_all(exp.CTE)}, (cte.alias, reads)


@pytest.mark.parametrize("detector", [d for d in DETECTORS if d.lookback], ids=[d.id for d in DETECTORS if d.lookback])
def test_partitions_cover_the_look_back(detector: Detector) -> None:
    lookback = detector.lookback_minutes(detector.defaults())
    assert lookback > 0
    params = dict(detector_sql(detector, PREP, since=SINCE, until=UNTIL).parameters)
    assert params.get("lookback_minutes", lookback) == lookback
    first = datetime.strptime(params["partition_from"], "%Y-%m-%d").replace(tzinfo=UTC)
    assert (SINCE - first).total_seconds() >= lookback * 60
    assert params["partition_to"] >= f"{UNTIL:%Y-%m-%d}"


def test_inline_values_are_escaped_literals() -> None:
    det = next(d for d in DETECTORS if re.search(r"\bis_ours\s*\(", d.sql))  # reads the prep's private_pattern
    hostile = "x'; DROP TABLE vpc_flow; --"
    query = detector_sql(det, PREP, since=SINCE, until=UNTIL, settings={"private_pattern": hostile}, inline=True)
    tree = sqlglot.parse_one(query.sql, read="trino")  # still one statement
    assert not list(tree.find_all(exp.Placeholder)) and not query.parameters
    assert any(lit.this == hostile for lit in tree.find_all(exp.Literal))
    assert not list(tree.find_all(exp.Drop))


def test_topology_file_becomes_values_in_the_query() -> None:
    topology = Topology.load(SCENARIO_TOPOLOGY)
    det = next(d for d in DETECTORS if "topo_interfaces" in d.sql)
    query = detector_sql(det, PREP, topology=topology, since=SINCE, until=UNTIL)
    tree = sqlglot.parse_one(query.sql, read="trino")
    cte = next(c for c in tree.find_all(exp.CTE) if c.alias == "topo_interfaces")
    values = cte.find(exp.Values)
    assert values is not None and len(values.expressions) == len(topology.interfaces)
    some = topology.interfaces[0].interface_id
    assert re.search(rf"'{re.escape(some)}'", query.sql)


def test_trino_rewrites() -> None:
    from pipeline.transpile import to_dialect

    schema = {"vpc_flow": {"source_uri": "VARCHAR", "source_line": "BIGINT", "start_time": "TIMESTAMP"}}
    sql = to_dialect(
        "SELECT mode(x) AS m, median(y) AS med, {'source_uri': source_uri, 'source_line': source_line, 'n': count(*)} AS s, "
        "time_bucket(INTERVAL 5 MINUTE, start_time) AS b, to_minutes(5) AS i, hash(a, 1) AS h, "
        "arg_max(x, (y, z)) AS am, contains(a, 'x') AS c, first(x ORDER BY y DESC) AS f, "
        "list(DISTINCT x ORDER BY x)[1:3] AS d, len(string_split(a, ',')) AS n2, "
        "regexp_replace(a, '(b)', '\\1\\1', 'g') AS r FROM vpc_flow",
        "trino",
        schema=schema,
    )
    assert isinstance(sqlglot.parse_one(sql, read="trino"), exp.Select)
    assert "CAST(ROW(source_uri, source_line, CAST(COUNT(*) AS VARCHAR)) AS ROW(source_uri VARCHAR, source_line BIGINT, n VARCHAR))" in sql
    assert "HISTOGRAM(x)" in sql and "APPROX_PERCENTILE(y, 0.5)" in sql and "MAX_BY(x, ROW(y, z))" in sql
    assert "946857600" in sql and "INTERVAL '1' MINUTE" in sql and "XXHASH64" in sql and "STRPOS(a, 'x') > 0" in sql
    assert "ELEMENT_AT(ARRAY_AGG(x ORDER BY y DESC), 1)" in sql
    assert "SLICE(ARRAY_SORT(ARRAY_AGG(DISTINCT x)), 1, ((3) - (1) + 1))" in sql
    assert "CARDINALITY(SPLIT(a, ','))" in sql and "REGEXP_REPLACE(a, '(b)', '$1$1')" in sql


def test_cli_athena(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["athena", "ddl", "--lake", "s3://b/p/"]) == 0
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `flowsleuth`.`alb_connection`" in capsys.readouterr().out
    argv = ["athena", "sql", "port_scan", "--since", "2024-05-01", "--until", "2024-05-02", "--param", "port_scan.window_minutes=10"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "EXECUTE flowsleuth_port_scan USING '2024-" in out and "?1 = partition_from" in out and "= window_minutes (10)" in out
    assert main([*argv, "--inline"]) == 0
    assert "?" not in _code(capsys.readouterr().out.split("\n", 1)[1])
    window = ["--since", "2024-05-01", "--until", "2024-05-02"]
    assert main(["athena", "sql", "no_such_detector", *window]) == 2
    assert main(["athena", "sql", "port_scan", "--since", "2024-05-02", "--until", "2024-05-01"]) == 2
    assert main(["athena", "sql", "port_scan", "--database", "x; DROP", *window]) == 2
    assert main(["athena", "sql", "port_scan"]) == 2  # no command defaults to "now minus N"
    assert main(["athena"]) == 2
