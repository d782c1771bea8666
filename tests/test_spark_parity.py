"""The detectors on Spark (local mode) find exactly what they find on DuckDB.

Every committed dataset (data-samples/demo and each scenario) is ingested once, then the
whole detect run (time span, topology inference, requires check, every detector, the
finding builder) goes through DuckDB and through Spark (one local[2] session for the
test session, ``spark`` in conftest.py). Per dataset and detector: the detector ran on
both, without error, and gave the same finding ids, windows, entities and severities.
A detector that fails to transpile or to run on Spark fails here, and so does a dataset
with a visible labelled incident on which DuckDB finds nothing at all (the comparison would
prove nothing); a dataset whose incident these logs cannot show must be silent on both. The run's
preparation (queries/_prep: temp tables, CREATE MACRO) goes through the same connection:
macros expanded at transpile time, tables as cached Spark temp views.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.db import open_lake
from pipeline.detect import load_detectors, run_detectors
from pipeline.ingest import ingest
from pipeline.topology.model import Topology

DATA = Path(__file__).resolve().parents[1] / "data-samples"
DATASETS = ["demo", *sorted(p.parent.relative_to(DATA).as_posix() for p in (DATA / "scenarios").glob("*/labels.json"))]
DETECTORS = [d.id for d in load_detectors()]

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def runs(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """dataset -> (DuckDB result, Spark result), computed once per dataset."""
    from pipeline.spark.connection import SparkConnection

    cache: dict[str, tuple[Any, Any]] = {}

    def get(dataset: str) -> tuple[Any, Any]:
        if dataset not in cache:
            lake = tmp_path_factory.mktemp(dataset.replace("/", "-")) / "lake"
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
            cache[dataset] = (duck, on_spark)
        return cache[dataset]

    return get


def _found(result: Any, detector: str) -> dict[str, tuple[str, str, str, dict[str, str]]]:
    return {f.id: (f.severity, f.window_start, f.window_end, f.entity) for f in result.findings if f.detector == detector}


@pytest.mark.parametrize("dataset", DATASETS)
def test_same_run_shape(dataset: str, runs: Any) -> None:
    duck, on_spark = runs(dataset)
    assert (on_spark.since, on_spark.until) == (duck.since, duck.until)
    assert on_spark.topology == duck.topology, "topology inferred on Spark differs"
    assert on_spark.skipped == duck.skipped
    labels = json.loads((DATA / dataset / "labels.json").read_text())
    if any(i.get("visible_in_logs") for i in labels["incidents"]):
        assert duck.findings, f"{dataset}: no findings at all, the comparison would prove nothing"
    else:  # an incident these logs cannot show (S3 endpoint policy): both engines stay silent
        assert not duck.findings and not on_spark.findings


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_same_findings(dataset: str, detector: str, runs: Any) -> None:
    duck, on_spark = runs(dataset)
    errors = [e for e in on_spark.errors if f"detector {detector} " in e or f"detector {detector}:" in e]
    assert not errors, errors[0][:3000]
    assert (detector in on_spark.ran) == (detector in duck.ran)
    assert _found(on_spark, detector) == _found(duck, detector)
