"""The lake on S3 (``--lake s3://...``) against real servers on 127.0.0.1: SeaweedFS, and moto's server.

Exactly once, rerun without GETs or rewrites, same findings as a local lake, one
writer at a time (conditional-PUT lock and ledger fence), kill -9 then resume.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures.crash_source import build_source, content
from fixtures.s3server import T0, SeaweedS3, flow_key, flow_log_bytes, moto_server

from pipeline.db import open_lake
from pipeline.detect import read_findings, read_lake_findings, run_detectors, write_lake_findings
from pipeline.errors import LakeLockedError
from pipeline.findings import Finding
from pipeline.ingest import ingest
from pipeline.lake import lake_location, lake_lock, read_ledger
from pipeline.lake.s3 import LOCK_KEY, S3Ledger, s3_lake_lock

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("s3_admin_env")]  # SeaweedFS and moto servers, whole demo ingests (CI runs it)

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data-samples" / "demo"
LAKE_BUCKET = "lake"
_seq = iter(range(10**6))




@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    server, endpoint = moto_server()
    try:
        yield endpoint
    finally:
        server.stop()




def ensure_bucket(client: Any, bucket: str) -> None:
    try:
        client.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - first use on this server
        client.create_bucket(Bucket=bucket)


def fresh_lake(endpoint: str) -> str:
    """A new lake prefix in the lake bucket of the server at ``endpoint``."""
    ensure_bucket(lake_location("s3://x/", endpoint_url=endpoint).client(), LAKE_BUCKET)
    return f"s3://{LAKE_BUCKET}/l{next(_seq)}/"


def lake_objects(client: Any, url: str) -> dict[str, tuple[str, Any]]:
    """key -> (ETag, LastModified) of every data file under the lake (the ledger object excluded)."""
    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if "/_ledger/" not in item["Key"]:
                out[item["Key"]] = (item["ETag"], item["LastModified"])
    return out


def finding_ids(lake: Any) -> list[str]:
    con = open_lake(lake, threads=2)
    try:
        return sorted(f.id for f in run_detectors(con).findings)
    finally:
        con.close()


def test_demo_on_s3_lake_equals_local_lake_and_rerun_writes_nothing(seaweed: SeaweedS3, tmp_path: Path) -> None:
    client = seaweed.client()
    url = fresh_lake(seaweed.endpoint)
    loc = lake_location(url, endpoint_url=seaweed.endpoint)
    first = ingest([DEMO], loc)
    local = tmp_path / "lake"
    ref = ingest([DEMO], local)
    assert (first.rows, first.objects_done, first.objects_failed) == (ref.rows, ref.objects_done, 0) and first.rows > 60000
    assert first.files_written == ref.files_written
    # same layout: the same relative file names (names hash table, partition and objects)
    s3_files = {k.split("/", 1)[1] for k in lake_objects(client, url)}
    local_files = {p.relative_to(local).as_posix() for p in local.rglob("*.parquet")}
    assert s3_files == local_files
    assert read_ledger(loc, "files")["path"].sort().to_list() == sorted(local_files)

    before = lake_objects(client, url)
    again = ingest([DEMO], loc)
    assert (again.objects_unchanged, again.objects_done, again.files_written, again.files_removed) == (ref.objects_done, 0, 0, 0)
    assert lake_objects(client, url) == before  # no file rewritten or added

    local_ids = finding_ids(local)
    assert local_ids and finding_ids(loc) == local_ids
    con = open_lake(loc, threads=1)
    s3_rows = con.execute("SELECT count(*), count(DISTINCT (source_uri, source_line)) FROM vpc_flow").fetchone()
    con = open_lake(local, threads=1)
    assert s3_rows == con.execute("SELECT count(*), count(DISTINCT (source_uri, source_line)) FROM vpc_flow").fetchone()


def test_s3_source_to_s3_lake_rerun_does_no_get_and_changed_etag_replaces(seaweed: SeaweedS3) -> None:
    client = seaweed.client()
    ensure_bucket(client, LAKE_BUCKET)
    prefix = f"src{next(_seq)}/"  # sources in the lake's bucket: each SeaweedFS bucket costs volumes
    keys = [flow_key(T0 + timedelta(minutes=7 * i), i=i, prefix=prefix) for i in range(30)]
    for i, k in enumerate(keys):
        client.put_object(Bucket=LAKE_BUCKET, Key=k, Body=flow_log_bytes(20, T0 + timedelta(minutes=7 * i), seed=i))
    url = fresh_lake(seaweed.endpoint)
    src = f"s3://{LAKE_BUCKET}/{prefix}"
    first = ingest([src], url, endpoint_url=seaweed.endpoint, batch_objects=7)
    assert (first.objects_done, first.rows) == (30, 600)
    before = lake_objects(client, url)
    second = ingest([src], url, endpoint_url=seaweed.endpoint)
    assert (second.objects_unchanged, second.get_requests, second.files_written) == (30, 0, 0)
    assert lake_objects(client, url) == before
    client.put_object(Bucket=LAKE_BUCKET, Key=keys[3], Body=flow_log_bytes(5, T0, seed=99))
    third = ingest([src], url, endpoint_url=seaweed.endpoint)
    assert (third.objects_done, third.objects_replaced, third.get_requests) == (1, 1, 1)
    con = open_lake(lake_location(url, endpoint_url=seaweed.endpoint), threads=1)
    got = con.execute("SELECT source_uri, source_line FROM vpc_flow").fetchall()
    assert len(got) == len(set(got)) == 600 - 20 + 5
    # replaced files are gone from the bucket, not only from the ledger
    listed = {k.split("/", 1)[1] for k in lake_objects(client, url)}
    assert listed == set(read_ledger(lake_location(url, endpoint_url=seaweed.endpoint), "files")["path"].to_list())


@pytest.mark.parametrize("server", ["seaweed", "moto"])
def test_second_writer_is_refused_and_a_stale_ledger_cannot_commit(server: str, request: pytest.FixtureRequest) -> None:
    endpoint = request.getfixturevalue("seaweed").endpoint if server == "seaweed" else request.getfixturevalue("moto")
    loc = lake_location(fresh_lake(endpoint), endpoint_url=endpoint)
    client = loc.client()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            ingest([DEMO], loc, lock_wait=0.5)
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            errors.append(e)

    with lake_lock(loc):
        holder = json.loads(client.get_object(Bucket=loc.bucket, Key=loc.key(LOCK_KEY))["Body"].read())
        assert holder["pid"] == os.getpid()
        t = threading.Thread(target=second)  # another thread waits like another process
        t.start()
        t.join()
    assert len(errors) == 1 and isinstance(errors[0], LakeLockedError) and f"pid {os.getpid()}" in str(errors[0])
    assert not lake_objects(client, loc.url)  # the refused writer wrote nothing
    with pytest.raises(Exception) as gone:
        client.head_object(Bucket=loc.bucket, Key=loc.key(LOCK_KEY))
    assert "404" in str(gone.value) or "Not Found" in str(gone.value)  # released

    # The fence: two ledgers read from the same version; the second to commit is refused.
    ingest([DEMO / "AWSLogs"], loc, batch_objects=100)
    a, b = S3Ledger(loc, "run-a"), S3Ledger(loc, "run-b")
    try:
        a.start_run()
        a.finish_run({"writer": "a"})
        b.start_run()
        with pytest.raises(LakeLockedError, match="changed by another writer"):
            b.finish_run({"writer": "b"})
    finally:
        a.close()
        b.close()
    runs = read_ledger(loc, "runs")
    assert "run-a" in runs["run_id"].to_list() and "run-b" not in runs["run_id"].to_list()


@pytest.mark.parametrize("server", ["seaweed", "moto"])
def test_stale_lock_is_taken_over_once(server: str, request: pytest.FixtureRequest) -> None:
    endpoint = request.getfixturevalue("seaweed").endpoint if server == "seaweed" else request.getfixturevalue("moto")
    loc = lake_location(fresh_lake(endpoint), endpoint_url=endpoint)
    client = loc.client()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)

    # a lock left by a kill -9'd run on this host: its pid is gone, so it is stale at once
    stale = {"host": socket.gethostname(), "pid": int(dead.stdout), "id": "x", "expires": time.time() + 3600}
    client.put_object(Bucket=loc.bucket, Key=loc.key(LOCK_KEY), Body=json.dumps(stale).encode())
    with s3_lake_lock(loc, wait=0):
        mine = json.loads(client.get_object(Bucket=loc.bucket, Key=loc.key(LOCK_KEY))["Body"].read())
        assert mine["pid"] == os.getpid()
    # a live holder elsewhere with an unexpired lease is respected; an expired one is taken over
    live = {"host": "other-host", "pid": 1, "id": "y", "expires": time.time() + 3600}
    client.put_object(Bucket=loc.bucket, Key=loc.key(LOCK_KEY), Body=json.dumps(live).encode())
    with pytest.raises(LakeLockedError, match="other-host"):
        with s3_lake_lock(loc, wait=0.3):
            pass
    live["expires"] = time.time() - 1
    client.put_object(Bucket=loc.bucket, Key=loc.key(LOCK_KEY), Body=json.dumps(live).encode())
    winners: list[int] = []
    barrier = threading.Barrier(4)
    tried = threading.Condition()
    attempts = [0]

    def attempted() -> None:
        with tried:
            attempts[0] += 1
            tried.notify_all()

    def race(i: int) -> None:
        barrier.wait()
        try:
            with s3_lake_lock(loc, wait=0):
                winners.append(i)
                attempted()
                with tried:  # hold the lock until every thread has tried (a slow thread must not find it free)
                    tried.wait_for(lambda: attempts[0] == 4, timeout=60)
        except LakeLockedError:
            attempted()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert attempts[0] == 4
    assert len(winners) == 1  # If-Match on the stale lock's ETag: exactly one takes it over


def test_moto_lake_ingest_rerun_and_findings(moto: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    build_source(src, n=24)
    loc = lake_location(fresh_lake(moto), endpoint_url=moto)
    summary = ingest([src], loc, batch_objects=5)
    reference = tmp_path / "reference"
    ingest([src], reference, batch_objects=5)
    assert summary.objects_failed == 0 and summary.rows > 2000
    assert ingest([src], loc).files_written == 0
    assert content(loc) == content(reference)
    findings = [
        Finding(id=f"f{i}", detector="reject_burst", severity="high", window_start="2024-05-01T10:00:00Z",
                window_end="2024-05-01T10:05:00Z", entity={"interface_id": f"eni-{i}"}, title="t", summary="s")
        for i in range(3)
    ]  # fmt: skip
    assert write_lake_findings(findings[:2], loc) is not None
    assert write_lake_findings(findings[1:], loc, run_at=datetime(2030, 1, 1, tzinfo=UTC)) is not None
    assert sorted(f.id for f in read_lake_findings(loc)) == ["f0", "f1", "f2"]
    files = [loc.fs.cat_file(p).decode().count("\n") for p in sorted(loc.fs.glob(loc.path("_findings/run-*.jsonl")))]
    assert files == [1, 2]  # f1 moved to the newer run's file, never in two


def test_cli_run_detect_report_on_s3_lake(seaweed: SeaweedS3, tmp_path: Path) -> None:
    url = fresh_lake(seaweed.endpoint)
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": seaweed.endpoint}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipeline.cli"]
    some = ["--detector", "reject_burst", "--detector", "unanswered_flow"]  # the full set: the test above
    proc = subprocess.run([*cmd, "run", "--source", str(DEMO), "--lake", url, "--out", str(out), *some],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    ran = sorted(f.id for f in read_findings(out / "findings.json"))
    proc = subprocess.run([*cmd, "detect", "--lake", url, "--out", str(tmp_path / "d"), "--endpoint-url", seaweed.endpoint, *some],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    detected = sorted(f.id for f in read_findings(tmp_path / "d" / "findings.json"))
    assert ran == detected and detected
    proc = subprocess.run([*cmd, "report", "--lake", url, "--out", str(tmp_path / "d"), "--endpoint-url", seaweed.endpoint],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "d" / "report.html").stat().st_size > 10000
    loc = lake_location(url, endpoint_url=seaweed.endpoint)
    assert sorted(f.id for f in read_lake_findings(loc)) == detected


def test_kill_9_mid_ingest_then_resume_equals_uninterrupted_run(seaweed: SeaweedS3, tmp_path: Path) -> None:
    src = tmp_path / "src"
    build_source(src, n=40)
    reference = tmp_path / "reference"
    ingest([src], reference)
    url = fresh_lake(seaweed.endpoint)
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": seaweed.endpoint}
    def ingest_cmd(lake: str) -> list[str]:
        return [sys.executable, "-m", "pipeline.cli", "ingest", "--source", str(src), "--lake", lake,
                "--workers", "2", "--batch-objects", "3"]  # fmt: skip

    cmd = ingest_cmd(url)
    times = []
    for _ in range(2):  # the shorter of two whole runs: a run slowed by other tests' load would time the kills late
        started = time.monotonic()
        subprocess.run(ingest_cmd(fresh_lake(seaweed.endpoint)), env=env, check=True, capture_output=True)
        times.append(time.monotonic() - started)
    run_time = min(times)
    rng = random.Random(14)
    killed = 0
    for _ in range(12):
        if killed >= 3:
            break
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3 * run_time, 0.9 * run_time))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
    assert killed >= 2, f"only {killed} runs were still going when killed"
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    loc = lake_location(url, endpoint_url=seaweed.endpoint)
    got, want = content(loc), content(reference)
    assert len(want["vpc_flow"]) > 4000
    assert got == want
    # nothing uncommitted is left for readers that list the bucket (Athena, Spark)
    listed = {k.split("/", 1)[1] for k in lake_objects(seaweed.client(), url)}
    assert listed == set(read_ledger(loc, "files")["path"].to_list())
