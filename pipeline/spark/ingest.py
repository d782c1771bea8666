"""``flowsleuth ingest --engine spark``: objects fetched and parsed on Spark executors.

The driver lists the sources and checks the ledger exactly as the local ingest does
(``pipeline.ingest``); the new objects are spread over Spark tasks (``parallelize`` of the
object references, a contiguous slice of the listing per task: at most 64 objects and 8 MiB
of stored bytes, so one task's parsed rows fit the driver's heap); each task opens the
sources itself and runs the same ``_fetch_and_parse`` on its objects. Outcomes stream
back partition by partition in listing order (``toLocalIterator``) and the driver
commits them with the same ``LakeWriter`` batches, so the lake (files, rows,
``source_uri``/``source_line``, ledger) is the one a local ingest writes.

Exactly once: only a task's successful attempt returns rows; a task killed half-way is
rerun by Spark from its first object and nothing of the failed attempt was committed.
A driver that dies leaves what the local ingest leaves (committed batches, recovered by
the next run). The executors need flowsleuth installed and the sources readable
(S3, or a folder they all see).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from ..ingest import IngestSummary, Prior, _fetch_and_parse, _Outcome, ingest
from ..sources import KeyInfo, ObjectRef, Source, open_sources

log = logging.getLogger(__name__)

#: Objects per Spark task: few enough that a retried task redoes little, enough that
#: task scheduling (~ms per task locally, more on a cluster) stays small beside parsing.
OBJECTS_PER_TASK = 64
#: Stored (compressed) bytes per task at most: a task's parsed rows travel to the driver as
#: one result block (~10x the gzip bytes as Arrow), which must fit the driver's heap.
BYTES_PER_TASK = 8 << 20
#: Set (on the driver) by tests: the first attempt of task 0 dies after its first object.
KILL_FIRST_ATTEMPT_ENV = "FLOWSLEUTH_SPARK_KILL_FIRST_ATTEMPT"


def spark_ingest(
    sources: list[str], lake: Any, *, master: str | None = None, objects_per_task: int = OBJECTS_PER_TASK,
    bytes_per_task: int = BYTES_PER_TASK, timings: dict[str, float] | None = None, **kwargs: Any,
) -> IngestSummary:
    """``pipeline.ingest.ingest`` with fetch and parse on Spark; same arguments, same result.

    ``timings`` (if given) receives where the wall time went: ``listing`` (list + ledger
    check on the driver), ``spark_wait`` (waiting for executors' results: scheduling,
    fetch, parse, transfer), ``commit`` (the driver writing batches and the ledger).
    """
    from . import spark_session

    spark = spark_session(master)
    source_args: dict[str, Any] = {k: kwargs[k] for k in ("profile", "region", "endpoint_url", "retry_mode", "max_attempts") if k in kwargs}
    specs = [str(s) for s in ([sources] if isinstance(sources, str) else sources)]

    def fetcher(srcs: list[Source], candidates: Iterator[tuple[Source, ObjectRef, KeyInfo, Prior | None]], max_size: int) -> Iterator[_Outcome]:
        t0 = time.perf_counter()
        items = [(srcs.index(src), ref, info, prior) for src, ref, info, prior in candidates]
        spent["listing"] = time.perf_counter() - t0
        if not items:
            return iter(())
        slices = task_slices(items, objects_per_task, bytes_per_task)
        log.info("spark ingest: %d objects to fetch in %d tasks", len(items), len(slices))
        rdd = spark.sparkContext.parallelize(slices, len(slices))  # one slice per task, in listing order
        task = _task(specs, source_args, max_size, kill_first_attempt=bool(os.environ.get(KILL_FIRST_ATTEMPT_ENV)))
        return _timed(rdd.mapPartitions(task).toLocalIterator(prefetchPartitions=True), spent)

    spent: dict[str, float] = {"listing": 0.0, "spark_wait": 0.0, "commit": 0.0}
    try:
        return ingest(specs, lake, fetcher=fetcher, **kwargs)
    finally:
        if timings is not None:
            timings.update({k: round(v, 3) for k, v in spent.items()})


def task_slices(items: list[Any], max_objects: int, max_bytes: int) -> list[list[Any]]:
    """Contiguous runs of the listing, each at most ``max_objects`` objects and ``max_bytes`` stored
    bytes (an object larger than that is a task of its own). ``items`` are (source index, ref, ...)."""
    slices: list[list[Any]] = []
    current: list[Any] = []
    size = 0
    for item in items:
        ref_size = max(0, int(item[1].size))
        if current and (len(current) >= max_objects or size + ref_size > max_bytes):
            slices.append(current)
            current, size = [], 0
        current.append(item)
        size += ref_size
    if current:
        slices.append(current)
    return slices


def _timed(outcomes: Iterator[_Outcome], spent: dict[str, float]) -> Iterator[_Outcome]:
    """Split the wall time between waiting for results and the driver's work on them."""
    while True:
        t0 = time.perf_counter()
        try:
            out = next(outcomes)
        except StopIteration:
            spent["spark_wait"] += time.perf_counter() - t0
            return
        t1 = time.perf_counter()
        spent["spark_wait"] += t1 - t0
        yield out
        spent["commit"] += time.perf_counter() - t1


def _task(specs: list[str], source_args: dict[str, Any], max_size: int, *, kill_first_attempt: bool = False) -> Any:
    """The function each Spark task runs over its slice of (source index, ref, info)."""

    def run(partition: Iterator[list[tuple[int, ObjectRef, KeyInfo, Prior | None]]]) -> Iterator[_Outcome]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        kill = kill_first_attempt and ctx is not None and ctx.partitionId() == 0 and ctx.attemptNumber() == 0
        srcs = open_sources(specs, **source_args)
        items = [item for one_slice in partition for item in one_slice]
        for n, (index, ref, info, prior) in enumerate(items):
            if kill and n == 1:
                os._exit(1)  # the executor's Python worker dies mid-task; Spark reruns the task
            yield _fetch_and_parse(srcs[index], ref, info, max_size, prior)

    return run
