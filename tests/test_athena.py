"""`flowsleuth athena`: DDL with partition projection, detectors as Trino SQL; checked by parsing with sqlglot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from pipeline.athena import ddl, detector_sql
from pipeline.cli import main
from pipeline.detect import load_detectors
from pipeline.schema import TABLES
from pipeline.topology.model import Topology

REPO = Path(__file__).resolve().parents[1]
SCENARIO_TOPOLOGY = REPO / "data-samples" / "scenarios" / "asymmetric_route" / "topology.json"
DETECTORS = load_detectors()
#: DuckDB spellings that must not survive into Trino SQL (sqlglot would pass some through).
DUCKDB_ONLY = ("LIST_SLICE", "TO_MINUTES", "MODE(", "MEDIAN(", "PERCENTILE_CONT", "DATE_BIN", "IGNORE NULLS",
               "HASH(", "STRUCT_PACK", "ANY_VALUE", "EXCLUDE (", "REPLACE (", "{'")  # fmt: skip


def test_ddl_has_projection_for_every_table_and_parses() -> None:
    text = ddl("s3://my-lake/flowsleuth/", database="logs")
    statements = sqlglot.parse(text, read="athena")  # Athena DDL is Hive DDL; its DML is Trino
    assert len(statements) == 1 + len(TABLES)
    assert isinstance(statements[0], exp.Create) and statements[0].kind == "DATABASE"
    for stmt, (table, schema) in zip(statements[1:], TABLES.items(), strict=True):
        assert isinstance(stmt, exp.Create) and stmt.this.this.name == table and stmt.this.this.db == "logs"
        columns = [c.name for c in stmt.this.expressions]
        assert columns == schema.names  # columns from the one schema definition, in order
        props = {p.name: p.args["value"].name for p in stmt.find_all(exp.Property) if isinstance(p.args.get("value"), exp.Literal)}
        assert props["projection.enabled"] == "true" and props["projection.date.type"] == "date"
        assert props["projection.hour.range"] == "0,23" and props["projection.hour.digits"] == "2"
        assert props["storage.location.template"] == f"s3://my-lake/flowsleuth/{table}/date=${{date}}/hour=${{hour}}/"
        partitioned = stmt.find(exp.PartitionedByProperty)
        assert partitioned is not None and [c.name for c in partitioned.this.expressions] == ["date", "hour"]
        location = stmt.find(exp.LocationProperty)
        assert location is not None and location.this.name == f"s3://my-lake/flowsleuth/{table}/"
    # the DDL's types round-trip: every lake column has an Athena type
    assert "timestamp" in text and "bigint" in text and "double" in text


@pytest.mark.parametrize("detector", DETECTORS, ids=[d.id for d in DETECTORS])
def test_every_detector_transpiles_to_trino_that_parses(detector: object) -> None:
    query = detector_sql(detector)  # a detector that cannot be transpiled fails here
    tree = sqlglot.parse_one(query.sql, read="trino")
    assert isinstance(tree, (exp.Select, exp.Union))
    upper = query.sql.upper()
    left = [s for s in DUCKDB_ONLY if s in upper]
    assert not left, f"DuckDB-only constructs left in the Trino SQL: {left}"
    assert len(list(tree.find_all(exp.Placeholder))) == len(query.parameters) == query.sql.count("?")
    declared = set(detector.params) | {"since", "until"}  # type: ignore[attr-defined]
    assert {n for n, _ in query.parameters} <= declared and {"since", "until"} <= {n for n, _ in query.parameters}
    # every relation read is a lake table or a CTE of the query (topology tables come with it)
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    tables = {t.name for t in tree.find_all(exp.Table) if t.name}
    assert tables <= set(TABLES) | ctes, tables - set(TABLES) - ctes
    # the printed script (comments + query) is one statement in Trino
    assert len(sqlglot.parse(query.script(), read="trino")) == 1


def test_topology_file_becomes_values_in_the_query() -> None:
    topology = Topology.load(SCENARIO_TOPOLOGY)
    det = next(d for d in DETECTORS if d.id == "reject_burst")
    query = detector_sql(det, topology=topology)
    tree = sqlglot.parse_one(query.sql, read="trino")
    cte = next(c for c in tree.find_all(exp.CTE) if c.alias == "topo_interfaces")
    values = cte.find(exp.Values)
    assert values is not None and len(values.expressions) == len(topology.interfaces)
    some = topology.interfaces[0].interface_id
    assert re.search(rf"'{re.escape(some)}'", query.sql)


def test_trino_rewrites_keep_names_and_types() -> None:
    from pipeline.transpile import to_dialect

    schema = {"vpc_flow": {"source_uri": "VARCHAR", "source_line": "BIGINT", "start_time": "TIMESTAMP"}}
    sql = to_dialect(
        "SELECT mode(x) AS m, median(y) AS med, {'source_uri': source_uri, 'source_line': source_line, 'n': count(*)} AS s, "
        "time_bucket(INTERVAL 5 MINUTE, start_time) AS b, to_minutes(5) AS i, hash(a, 1) AS h, "
        "arg_max(x, (y, z)) AS am, contains(a, 'x') AS c FROM vpc_flow",
        "trino",
        schema=schema,
    )
    tree = sqlglot.parse_one(sql, read="trino")
    row = tree.find(exp.Cast)
    assert row is not None
    assert "CAST(ROW(source_uri, source_line, CAST(COUNT(*) AS VARCHAR)) AS ROW(source_uri VARCHAR, source_line BIGINT, n VARCHAR))" in sql
    assert "HISTOGRAM(x)" in sql and "APPROX_PERCENTILE(y, 0.5)" in sql and "MAX_BY(x, ROW(y, z))" in sql
    assert "946857600" in sql and "INTERVAL '1' MINUTE" in sql and "XXHASH64" in sql and "STRPOS(a, 'x') > 0" in sql


def test_cli_athena(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["athena", "ddl", "--lake", "s3://b/p/"]) == 0
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `flowsleuth`.`alb_connection`" in capsys.readouterr().out
    assert main(["athena", "sql", "port_scan", "--since", "2024-05-01", "--until", "2024-05-02", "--param", "port_scan.window_minutes=10"]) == 0
    out = capsys.readouterr().out
    assert "EXECUTE flowsleuth_port_scan USING TIMESTAMP '2024-05-01 00:00:00.000000 UTC'" in out and ", 10," in out
    assert main(["athena", "sql", "no_such_detector"]) == 2
    assert main(["athena", "ddl", "--lake", "/local/lake"]) == 2
