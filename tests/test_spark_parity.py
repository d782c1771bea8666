"""The detectors on Spark (local mode) find exactly what they find on DuckDB.

Every committed dataset (data-samples/demo and each scenario) is ingested once, then the
whole detect run (time span, topology inference, requires check, every detector, the
finding builder) goes through DuckDB and through Spark: same finding ids, windows,
entities and severities. A detector that fails to transpile or run on Spark is an error
in the Spark run and fails the test. One SparkSession (local[2]) for the whole session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.db import open_lake
from pipeline.detect import run_detectors
from pipeline.ingest import ingest
from pipeline.topology.model import Topology

DATA = Path(__file__).resolve().parents[1] / "data-samples"
DATASETS = ["demo", *sorted(p.parent.relative_to(DATA).as_posix() for p in (DATA / "scenarios").glob("*/labels.json"))]


def _summary(result: Any) -> dict[str, tuple[str, str, str, dict[str, str]]]:
    return {f.id: (f.detector, f.severity, f.window_end, f.entity) for f in result.findings}


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_same_findings_on_spark_and_duckdb(dataset: str, spark: Any, tmp_path: Path) -> None:
    from pipeline.spark.connection import SparkConnection

    lake = tmp_path / "lake"
    summary = ingest([str(DATA / dataset)], lake, workers=2)
    assert summary.ok and summary.rows > 0
    topology = Topology.load(DATA / dataset / "topology.json")

    con = open_lake(lake, threads=2, memory_limit="2GB")
    try:
        duck = run_detectors(con, topology=topology)
    finally:
        con.close()
    scon = SparkConnection(spark)
    scon.register_lake(lake)
    try:
        on_spark = run_detectors(scon, topology=topology)
    finally:
        scon.close()

    assert on_spark.errors == [], "detectors failed on Spark:\n" + "\n".join(e[:2000] for e in on_spark.errors)
    assert on_spark.ran == duck.ran
    assert on_spark.topology == duck.topology
    assert _summary(on_spark) == _summary(duck)
    assert duck.findings, f"{dataset}: no findings at all, the comparison would prove nothing"
