"""Spark ingest into, and Spark detect over, a lake on S3 (SeaweedFS on 127.0.0.1): the driver
commits to and reads the S3 ledger, the executors read exactly the committed files at ``--spark-lake-url``.

pyspark from PyPI has no S3 connector (hadoop-aws comes from Maven, which this machine does not
reach), so the executors read a copy of the bucket's data files (what ``aws s3 sync`` makes),
with a file there the ledger does not list: it must not be read. Reading ``s3a://`` without the
connector must be a one-line error that says what to do.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fixtures.s3server import SeaweedS3

from pipeline.db import open_lake
from pipeline.detect import run_detectors
from pipeline.errors import LakeError
from pipeline.ingest import ingest
from pipeline.lake import lake_location
from pipeline.topology.model import Topology

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("s3_admin_env")]  # SeaweedFS and a Spark session

DATASET = Path(__file__).resolve().parents[1] / "data-samples" / "scenarios" / "nacl_deny_destination"
BUCKET = "sparklake"






def sync_down(client: Any, bucket: str, prefix: str, dest: Path) -> int:
    """Every object under ``prefix`` to ``dest`` (``aws s3 sync``); returns how many."""
    n = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            rel = item["Key"][len(prefix) :]
            assert rel and ".." not in rel.split("/")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, item["Key"], str(target))
            n += 1
    return n


def test_spark_ingest_and_detect_on_an_s3_lake(seaweed: SeaweedS3, spark: Any, tmp_path: Path) -> None:
    from pipeline.spark.connection import SparkConnection
    from pipeline.spark.ingest import spark_ingest

    seaweed.client().create_bucket(Bucket=BUCKET)
    loc = lake_location(f"s3://{BUCKET}/lake/", endpoint_url=seaweed.endpoint)
    summary = spark_ingest([str(DATASET)], loc, master="local[2]")  # executors parse, the driver commits to S3
    assert summary.ok and summary.rows > 0
    local = tmp_path / "local-lake"
    assert ingest([str(DATASET)], local, workers=2).rows == summary.rows
    topology = Topology.load(DATASET / "topology.json")
    con = open_lake(loc, threads=2)
    try:
        duck = run_detectors(con, topology=topology)
        rows = con.execute("SELECT count(*) FROM vpc_flow").fetchone()
    finally:
        con.close()
    assert duck.findings, "the scenario's incident must be found on DuckDB for the comparison to prove anything"
    con = open_lake(local, threads=2)
    try:
        assert sorted(f.id for f in run_detectors(con, topology=topology).findings) == sorted(f.id for f in duck.findings)
    finally:
        con.close()

    mirror = tmp_path / "mirror"
    assert sync_down(seaweed.client(), BUCKET, "lake/", mirror) > 1
    committed = sorted(mirror.glob("vpc_flow/date=*/hour=*/*.parquet"))
    stray = committed[0].with_name("part-not-in-the-ledger.parquet")  # e.g. left by a crashed writer
    shutil.copy(committed[0], stray)

    scon = SparkConnection(spark)
    try:
        scon.register_lake(loc, spark_url=mirror.as_uri())
        assert scon.sql("SELECT count(*) AS n FROM vpc_flow").fetchall()[0] == rows  # the stray copy is not read
        on_spark = run_detectors(scon, topology=topology)
    finally:
        scon.close()
    assert not on_spark.errors
    assert sorted(f.id for f in on_spark.findings) == sorted(f.id for f in duck.findings)

    scon = SparkConnection(spark)
    try:
        with pytest.raises(LakeError, match=r"s3a://sparklake/lake/.*--spark-lake-url"):
            scon.register_lake(loc)  # default s3a:// URL, and no S3A connector in pyspark from PyPI
    finally:
        scon.close()
