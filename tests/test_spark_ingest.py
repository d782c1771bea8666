"""``ingest --engine spark`` (local mode) writes the lake a local ingest writes, exactly once.

Same files, same rows with the same source_uri/source_line, same ledger; a rerun adds
nothing; a task whose Python worker dies half-way is rerun by Spark without duplicates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.db import open_lake
from pipeline.ingest import ingest
from pipeline.lake.ledger import read_ledger
from pipeline.schema import TABLES

SOURCE = Path(__file__).resolve().parents[1] / "data-samples" / "scenarios" / "nacl_deny_destination"


def _contents(lake: Path) -> dict[str, Any]:
    con = open_lake(lake, threads=2, memory_limit="1GB")
    try:
        out: dict[str, Any] = {}
        for table in TABLES:
            cols = ", ".join(f'"{c}"' for c in TABLES[table].names)
            out[table] = con.execute(f"SELECT {cols} FROM {table} ORDER BY source_uri, source_line").fetchall()
        return out
    finally:
        con.close()


def _files(lake: Path) -> list[str]:
    return sorted(p.relative_to(lake).as_posix() for p in lake.rglob("*.parquet"))


def _objects(lake: Path) -> list[tuple[Any, ...]]:
    rows = read_ledger(lake).to_dicts()
    return sorted((r["uri"], r["status"], r["rows"], r["rejects"], r["lines"]) for r in rows)


@pytest.fixture(scope="module")
def local_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("local") / "lake"
    assert ingest([str(SOURCE)], lake, workers=2).ok
    return lake


def test_task_slices_keep_the_listing_order_within_both_limits() -> None:
    from types import SimpleNamespace

    from pipeline.spark.ingest import task_slices

    sizes = [5, 5, 5, 30, 1, 1, 1, 1, 1, 12, 0]
    items = [(0, SimpleNamespace(size=n), i) for i, n in enumerate(sizes)]
    slices = task_slices(items, 4, 10)
    assert [item for s in slices for item in s] == items  # nothing lost, nothing reordered
    assert [[i for _, _, i in s] for s in slices] == [[0, 1], [2], [3], [4, 5, 6, 7], [8], [9], [10]]
    assert task_slices([], 4, 10) == []


@pytest.mark.slow
@pytest.mark.parametrize(("kill", "limits"), [(False, {"objects_per_task": 3}), (True, {"objects_per_task": 3}),
                                             (False, {"bytes_per_task": 20_000})], ids=["clean", "task-killed", "byte-sized"])  # fmt: skip
def test_spark_ingest_equals_local(
    kill: bool, limits: dict[str, int], spark: Any, local_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.spark.ingest import KILL_FIRST_ATTEMPT_ENV, spark_ingest

    if kill:
        monkeypatch.setenv(KILL_FIRST_ATTEMPT_ENV, "1")
    lake = tmp_path / "lake"
    # a few objects per task, so the listing spans several tasks (and the killed one has more after it)
    summary = spark_ingest([str(SOURCE)], lake, master="local[2]", **limits)
    assert summary.ok and summary.rows > 0
    assert _files(lake) == _files(local_lake)
    assert _contents(lake) == _contents(local_lake)
    assert _objects(lake) == _objects(local_lake)

    again = spark_ingest([str(SOURCE)], lake, master="local[2]", **limits)
    assert again.rows == 0 and again.objects_unchanged == summary.objects_done + summary.objects_empty
    assert _contents(lake) == _contents(local_lake)
