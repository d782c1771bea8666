"""The Spark engine: the same detectors and parsers, run on a Spark session (local or cluster).

pyspark is optional (``pip install 'flowsleuth[spark]'``); nothing here imports it at
module load, so the rest of flowsleuth never needs a JVM.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..lake.storage import LakeLocation
from .session import DEFAULT_MASTER, SparkUnavailable, spark_session

ENGINES = ("duckdb", "spark")

__all__ = ["DEFAULT_MASTER", "ENGINES", "SparkUnavailable", "add_engine_arguments", "open_spark_lake", "spark_session"]


def add_engine_arguments(parser: argparse.ArgumentParser, *, defaults: bool = True, lake_url: bool = True) -> None:
    """``--engine`` and ``--spark-master``, the same on detect, run and ingest.

    ``defaults=False`` leaves them None (``run``: a config file's values then apply).
    """
    parser.add_argument("--engine", choices=ENGINES, default="duckdb" if defaults else None,
                        help="where the work runs: duckdb (this process) or spark (default: duckdb)")  # fmt: skip
    parser.add_argument("--spark-master", default=DEFAULT_MASTER if defaults else None, metavar="URL",
                        help=f"with --engine spark: local[N], spark://host:port or sc://host:port (Spark Connect); "
                             f"default {DEFAULT_MASTER}")  # fmt: skip
    if not lake_url:  # ingest: the driver writes the lake, executors only parse
        return
    parser.add_argument("--spark-lake-url", default=None, metavar="URL",
                        help="with --engine spark: where the executors read the lake's files (default: the lake folder, or "
                             "s3a://bucket/prefix for an S3 lake; s3://... on EMR)")  # fmt: skip


def open_spark_lake(lake: str | Path | LakeLocation, master: str | None = None, lake_url: str | None = None) -> Any:
    """A :class:`~pipeline.spark.connection.SparkConnection` with the lake's views: hand it to run_detectors.

    ``lake_url``: where the executors read the lake's files (default: the lake folder, or
    ``s3a://bucket/prefix`` for an S3 lake; ``s3://...`` on EMR).
    """
    from .connection import SparkConnection

    con = SparkConnection(spark_session(master))
    con.register_lake(lake, lake_url)
    return con
