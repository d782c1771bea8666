"""One SparkSession per process, with the settings parity with DuckDB depends on.

UTC session time zone (timestamps render and bucket as in DuckDB), ANSI mode off
(DuckDB returns NULL where ANSI Spark raises, e.g. a cast of '-'), few shuffle
partitions (the lake of one run is small per partition; 200 default tasks cost more
than the work locally). ``master`` is ``local[N]``, ``spark://host:port`` or
``sc://host:port`` (Spark Connect; needs ``pyspark[connect]``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from typing import Any

from ..errors import UsageError

log = logging.getLogger(__name__)

DEFAULT_MASTER = "local[2]"
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    # size(NULL) is NULL, as DuckDB's len(NULL) (with ANSI off Spark's legacy answer is -1)
    "spark.sql.legacy.sizeOfNull": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # the status store keeps every query's plan and metrics; a detect run makes hundreds
    "spark.sql.ui.retainedExecutions": "20",
    "spark.ui.retainedJobs": "100",
    "spark.ui.retainedStages": "100",
    "spark.sql.parquet.mergeSchema": "false",
    "spark.driver.memory": "2g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Python workers are reused across tasks (the parsers import once per worker).
    "spark.python.worker.reuse": "true",
}


_LOCAL = re.compile(r"local\[(\d+|\*)\]\Z")
#: Task attempts in local mode, as on a cluster (spark.task.maxFailures' default): local[N]
#: alone gives a failed task no second attempt.
LOCAL_TASK_ATTEMPTS = 4


def _with_retries(master: str) -> str:
    """``local[N]`` -> ``local[N,4]`` so a task that dies is retried as it would be on a cluster."""
    m = _LOCAL.match(master)
    return f"local[{m.group(1)},{LOCAL_TASK_ATTEMPTS}]" if m else master


class SparkUnavailable(UsageError):
    """pyspark or a Java runtime is missing."""


def spark_session(master: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """The process's SparkSession for ``master`` (created on first use, reused after)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise SparkUnavailable("--engine spark needs pyspark: pip install 'flowsleuth[spark]'") from e
    master = _with_retries(master or DEFAULT_MASTER)
    if master.startswith("sc://"):
        builder = SparkSession.builder.remote(master)
    else:
        if shutil.which("java") is None:
            raise SparkUnavailable("--engine spark in local or cluster mode needs a Java runtime (java on PATH)")
        builder = SparkSession.builder.master(master)
        if master.startswith("local"):  # local mode talks to itself on loopback only, workers run this Python
            builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = builder.appName("flowsleuth")
    for key, value in {**SESSION_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key in ("spark.sql.session.timeZone", "spark.sql.ansi.enabled", "spark.sql.shuffle.partitions", "spark.sql.legacy.sizeOfNull"):
        spark.conf.set(key, {**SESSION_CONF, **(conf or {})}[key])
    if not master.startswith("sc://"):
        spark.sparkContext.setLogLevel("ERROR")
    log.info("spark session on %s (spark %s)", master, spark.version)
    return spark
