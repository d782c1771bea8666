"""kill -9 an ingest at many random moments; the resumed lake must equal an uninterrupted one."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fixtures.crash_source import build_source, content
from fixtures.s3server import T0, alb_key, alb_log_bytes, flow_key, flow_log_bytes, put_local

KILLS = 24


def ingest_cmd(src: Path, lake: Path) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "ingest", "--source", str(src), "--lake", str(lake),
            "--workers", "2", "--batch-objects", "3"]  # fmt: skip


def kill_at_random(src: Path, lake: Path, rng: random.Random, kills: int, run_time: float) -> int:
    killed = 0
    for _ in range(kills * 3):
        if killed >= kills:
            break
        proc = subprocess.Popen(ingest_cmd(src, lake), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, run_time))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
    return killed


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    build_source(src)
    reference = tmp_path / "reference"
    started = time.monotonic()
    subprocess.run(ingest_cmd(src, reference), check=True, capture_output=True)
    run_time = time.monotonic() - started

    lake = tmp_path / "lake"
    rng = random.Random(20240501)
    killed = kill_at_random(src, lake, rng, KILLS // 2, run_time)
    # objects re-delivered with new content mid-way: the replacement path gets killed too
    build_source(src, version=1)
    killed += kill_at_random(src, lake, rng, KILLS - KILLS // 2, run_time)
    final = subprocess.run(ingest_cmd(src, lake), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr[-2000:]
    assert killed >= 20, f"only {killed} runs were still going when killed"
    assert "replaced" in final.stdout

    reference_v1 = tmp_path / "reference_v1"
    subprocess.run(ingest_cmd(src, reference_v1), check=True, capture_output=True)
    got, want = content(lake), content(reference_v1)
    assert len(want["vpc_flow"]) > 12000 and len(want["alb_access"]) == 25 * 40
    assert got == want
    # and nothing uncommitted is left for glob readers
    assert not (lake / "_tmp").exists()
    globbed = sum(1 for _ in lake.glob("*/date=*/hour=*/*.parquet"))
    assert globbed == sum(1 for _ in reference_v1.glob("*/date=*/hour=*/*.parquet")) or globbed > 0


def compact_cmd(lake: Path) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "lake", "compact", "--lake", str(lake), "--all"]


@pytest.mark.slow
def test_kill_9_during_compaction_leaves_every_row_exactly_once(tmp_path: Path) -> None:
    src, lake, reference = tmp_path / "src", tmp_path / "lake", tmp_path / "reference"
    rng = random.Random(20240502)
    killed = 0
    # How long a compaction runs depends on the machine: the kill moment is drawn inside the
    # duration of the last compaction that finished, so most probes die mid-way on any machine.
    run_time = 1.5
    for round_ in range(KILLS):
        if killed >= KILLS // 4:
            break
        # a few more objects land in the same hours each round: fresh small files to compact
        for j in range(8):
            i = 1000 + round_ * 8 + j
            t = T0 + timedelta(minutes=(7 * i) % 180)
            put_local(src, flow_key(t, i=i), flow_log_bytes(60, t, seed=i))
            if j % 2 == 0:
                put_local(src, alb_key(t, i=i), alb_log_bytes(20, t, seed=i))
        subprocess.run([*ingest_cmd(src, lake), "--no-compact", "--batch-objects", "1"], check=True, capture_output=True)
        started = time.monotonic()
        probe = subprocess.Popen(compact_cmd(lake), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = started + rng.uniform(0.2, 0.9) * run_time
        while probe.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if probe.poll() is None:
            os.kill(probe.pid, signal.SIGKILL)
            killed += 1
        else:
            run_time = time.monotonic() - started
        probe.wait()
        # between kills the lake must read as every row exactly once (content() checks duplicates)
        content(lake)
    final = subprocess.run(compact_cmd(lake), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr[-2000:]
    subprocess.run([*ingest_cmd(src, reference), "--no-compact"], check=True, capture_output=True)
    assert killed >= KILLS // 4, f"only {killed} compactions were still going when killed"
    assert content(lake) == content(reference)
    from pipeline.lake.status import lake_status

    status = lake_status(lake)
    assert not status.stray_files
    assert {t.table: t.partitions for t in status.tables if t.files} == {
        t.table: t.files for t in status.tables if t.files
    }  # one file per partition after the final compaction


# A writer killed inside its ledger transaction: it has changed pages (journaled) and dies.
_KILLED_MID_COMMIT = """
import os, signal, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size = 1")  # changed pages spill into the database file at once
con.execute("BEGIN IMMEDIATE")
con.execute("DELETE FROM files")
con.execute("INSERT INTO files (path, table_name, rows, created_at) VALUES ('vpc_flow/x.parquet', 'vpc_flow', 1, 'now')")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_reader_after_a_writer_killed_mid_commit_sees_the_last_commit(tmp_path: Path) -> None:
    """The hot journal a killed commit leaves makes a read-only SQLite connection refuse to read;
    the reader must roll it back and read the last committed files, never glob every file (a
    compaction's new file beside the files it replaces would then be read twice)."""
    from pipeline.lake.ledger import committed_files, ledger_path

    src, lake = tmp_path / "src", tmp_path / "lake"
    build_source(src, n=12)
    subprocess.run([*ingest_cmd(src, lake), "--no-compact"], check=True, capture_output=True)
    before, files = content(lake), committed_files(lake)
    assert files and files["vpc_flow"]
    # what a compaction writes before its commit: a file with rows the committed files hold
    first = lake / files["vpc_flow"][0]
    (first.parent / "part-compacted-uncommitted.parquet").write_bytes(first.read_bytes())
    ledger = ledger_path(lake)
    killed = subprocess.run([sys.executable, "-c", _KILLED_MID_COMMIT, str(ledger)], capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert ledger.with_name(ledger.name + "-journal").exists()
    assert committed_files(lake) == files
    assert content(lake) == before
    assert not ledger.with_name(ledger.name + "-journal").exists()  # rolled back, as the next writer would


def test_a_corrupt_ledger_is_one_line_error_not_a_glob(tmp_path: Path) -> None:
    """A ledger that is not a database stops readers with a LakeError naming it; they never read
    every file instead (that could show a half-done commit's rows twice)."""
    from pipeline.errors import LakeError
    from pipeline.lake.ledger import committed_files, ledger_path

    src, lake = tmp_path / "src", tmp_path / "lake"
    build_source(src, n=4)
    subprocess.run([*ingest_cmd(src, lake), "--no-compact"], check=True, capture_output=True)
    ledger_path(lake).write_bytes(b"not a database, " * 64)
    with pytest.raises(LakeError, match="is unreadable") as err:
        committed_files(lake)
    assert "\n" not in str(err.value)
    cli = subprocess.run([sys.executable, "-m", "pipeline.cli", "lake", "status", "--lake", str(lake)],
                         capture_output=True, text=True)  # fmt: skip
    assert cli.returncode != 0 and "is unreadable" in cli.stderr and "Traceback" not in cli.stderr
