"""Detect time on a lake built by 288 five-minute runs, before and after compaction.

    flock /tmp/flowsleuth-bench.lock .venv/bin/python bench/lake_compaction.py SIM_DIR WORK_DIR

SIM_DIR: a simulator output covering a day (``flowsleuth simulate --duration 24h``). Its
objects are released into a source folder five minutes (by file-name stamp) at a time,
with one ``ingest(..., compact=False)`` per step, as a scheduled job would see them. The
lake is then copied and compacted, and all detectors run over the whole day on both,
alternating, several times.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.db import open_lake
from pipeline.detect import run_detectors
from pipeline.ingest import ingest
from pipeline.lake import LakeWriter, Ledger, lake_lock
from pipeline.lake.compact import compact
from pipeline.lake.status import lake_status
from pipeline.sources import Skip, classify_key


def build(sim: Path, work: Path, runs: int = 288) -> Path:
    src, lake = work / "src", work / "lake-288"
    objects = []
    for p in sim.rglob("*"):
        if p.is_file():
            info = classify_key(p.relative_to(sim).as_posix())
            if not isinstance(info, Skip):
                objects.append((info.file_time, p))
    objects.sort()
    start = objects[0][0]
    started = time.monotonic()
    i = 0
    for k in range(runs):
        edge = start + timedelta(minutes=5 * (k + 1))
        while i < len(objects) and objects[i][0] < edge:
            dest = src / objects[i][1].relative_to(sim)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(objects[i][1], dest)
            i += 1
        ingest([str(src)], lake, workers=2, compact=False)
    print(f"built {lake} with {runs} runs ({i} of {len(objects)} objects) in {time.monotonic() - started:.0f} s")
    return lake


def detect_seconds(lake: Path) -> float:
    started = time.perf_counter()
    con = open_lake(lake)
    run_detectors(con)
    return time.perf_counter() - started


def main() -> None:
    sim, work = Path(sys.argv[1]), Path(sys.argv[2])
    lake = work / "lake-288"
    if not lake.exists():
        build(sim, work)
    compacted = work / "lake-compacted"
    if compacted.exists():
        shutil.rmtree(compacted)
    shutil.copytree(lake, compacted)
    started = time.monotonic()
    with lake_lock(compacted):
        ledger = Ledger(compacted, run_id="bench")
        try:
            result = compact(LakeWriter(compacted, ledger), now=datetime.now(UTC))
        finally:
            ledger.close()
    print(f"compacted {result.partitions} partitions, {result.files_before} -> {result.files_after} files "
          f"in {time.monotonic() - started:.1f} s")
    for name, path in (("288 runs", lake), ("compacted", compacted)):
        st = lake_status(path)
        print(name, {t.table: (t.files, t.rows) for t in st.tables if t.files})
    times: dict[str, list[float]] = {"288 runs": [], "compacted": []}
    for _ in range(3):
        for name, path in (("288 runs", lake), ("compacted", compacted)):
            times[name].append(detect_seconds(path))
    for name, ts in times.items():
        print(f"detect on {name}: median {statistics.median(ts):.2f} s ({', '.join(f'{t:.2f}' for t in ts)})")
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
