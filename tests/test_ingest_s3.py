"""Ingest against real S3-compatible servers on 127.0.0.1 (SeaweedFS; moto as a second)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures.s3server import (
    ADMIN_KEY,
    ADMIN_SECRET,
    READER_KEY,
    READER_SECRET,
    T0,
    Fault,
    FaultProxy,
    SeaweedS3,
    alb_key,
    alb_log_bytes,
    flow_key,
    flow_log_bytes,
    moto_server,
)  # fmt: skip

from pipeline.db import open_lake
from pipeline.ingest import _fetch_and_parse, ingest
from pipeline.lake import read_ledger
from pipeline.schema import TABLES
from pipeline.sources import S3Source, classify_key, make_client

BUCKET = "logs"
pytestmark = pytest.mark.slow  # a SeaweedFS server and a fault proxy: minutes, not seconds (CI runs it)






_prefix_seq = iter(range(10**6))


def fresh_prefix(client: Any) -> tuple[str, str]:
    """(bucket, 'tN/'): one bucket for the session (each SeaweedFS bucket costs volumes), a prefix per test."""
    try:
        client.head_bucket(Bucket=BUCKET)
    except Exception:  # noqa: BLE001 - first use
        client.create_bucket(Bucket=BUCKET)
    return BUCKET, f"t{next(_prefix_seq)}/"


def put_many(client: Any, bucket: str, objects: dict[str, bytes]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects.items()))


def rows(lake: Path, table: str = "vpc_flow") -> list[tuple[Any, ...]]:
    con = open_lake(lake, threads=1)
    return sorted(con.execute(f"SELECT source_uri, source_line FROM {table}").fetchall())


def test_pagination_rerun_and_changed_etag(seaweed: SeaweedS3, s3_admin_env: None, tmp_path: Path) -> None:
    client = seaweed.client()
    bucket, prefix = fresh_prefix(client)
    objects = {}
    for i in range(1040):  # more than one 1000-key page; two accounts and regions under one prefix
        t = T0 + timedelta(seconds=17 * i)
        account, region = ("123456789012", "us-east-1") if i % 2 else ("210987654321", "eu-west-1")
        objects[flow_key(t, i=i, account=account, region=region, prefix=prefix)] = flow_log_bytes(3, t, seed=i)
    objects[f"{prefix}AWSLogs/123456789012/ELBAccessLogTestFile"] = b"test"
    put_many(client, bucket, objects)
    lake = tmp_path / "lake"
    src = f"s3://{bucket}/{prefix}"
    first = ingest([src], lake, endpoint_url=seaweed.endpoint, workers=8)
    assert (first.objects_listed, first.objects_done, first.objects_skipped, first.objects_failed) == (1041, 1040, 1, 0)
    assert first.list_requests >= 2 and first.rows == 3120
    files_before = {p: p.stat().st_mtime_ns for p in lake.rglob("*.parquet")}
    second = ingest([src], lake, endpoint_url=seaweed.endpoint)
    assert second.objects_unchanged == 1040 and second.get_requests == 0
    assert {p: p.stat().st_mtime_ns for p in lake.rglob("*.parquet")} == files_before
    # a re-delivered object with new content: new ETag, rows replaced not appended
    key = next(iter(objects))
    client.put_object(Bucket=bucket, Key=key, Body=flow_log_bytes(9, T0, seed=1234))
    third = ingest([src], lake, endpoint_url=seaweed.endpoint)
    assert (third.objects_done, third.objects_replaced, third.get_requests) == (1, 1, 1)
    got = rows(lake)
    assert len(got) == len(set(got)) == 3120 - 3 + 9
    assert sum(1 for u, _ in got if u == f"s3://{bucket}/{key}") == 9


def test_transient_faults_are_retried_and_counted(seaweed: SeaweedS3, s3_admin_env: None, tmp_path: Path) -> None:
    client = seaweed.client()
    bucket, prefix = fresh_prefix(client)
    keys = [flow_key(T0 + timedelta(minutes=i), i=i, prefix=prefix) for i in range(6)]
    put_many(client, bucket, {k: flow_log_bytes(40, T0, seed=i) for i, k in enumerate(keys)})
    proxy = FaultProxy(seaweed.endpoint).start()
    try:
        name = lambda i: keys[i].rsplit("/", 1)[1]  # noqa: E731
        proxy.faults = [
            Fault(name(0), "503", times=2), Fault(name(1), "500", times=1), Fault(name(2), "reset", times=1),
            Fault(name(3), "short", times=2), Fault(name(4), "503", times=1000),  # never recovers this run
        ]  # fmt: skip
        lake = tmp_path / "lake"
        summary = ingest([f"s3://{bucket}/{prefix}"], lake, endpoint_url=proxy.endpoint, workers=3, max_attempts=3)
        status = {Path(r["key"]).name: (r["status"], r["reason"]) for r in read_ledger(lake).to_dicts()}
        assert [status[name(i)][0] for i in range(6)] == ["done"] * 4 + ["failed", "done"]
        assert "transient" in status[name(4)][1]
        assert summary.failures[0].kind == "transient" and summary.objects_failed_new == 1
        assert summary.retries >= 2 + 1 + 1 + 2 and summary.objects_failed == 1
        assert len(rows(lake)) == 5 * 40
        proxy.faults = []  # the next run picks the transient failure up
        again = ingest([f"s3://{bucket}/{prefix}"], lake, endpoint_url=proxy.endpoint)
        assert (again.objects_done, again.objects_unchanged, again.objects_failed) == (1, 5, 0)
        assert len(rows(lake)) == len(set(rows(lake))) == 6 * 40
    finally:
        proxy.stop()


def test_three_scheduled_runs_with_a_corrupt_object_fetch_it_once(
    seaweed: SeaweedS3, s3_admin_env: None, tmp_path: Path
) -> None:
    """Every 5 minutes new objects arrive; one object is corrupt: one GET for it, ever, and exit 1 only once."""
    from pipeline.batch import build_config, run_batch

    client = seaweed.client()
    bucket, prefix = fresh_prefix(client)
    good = flow_log_bytes(20, T0, seed=1)
    corrupt_key = flow_key(T0, i=999, prefix=prefix)
    client.put_object(Bucket=bucket, Key=corrupt_key, Body=good[:-8] + b"\x00" * 8)  # complete transfer, bad CRC
    proxy = FaultProxy(seaweed.endpoint).start()
    gets, codes, known = [], [], []
    try:
        for run in range(3):
            t = T0 + timedelta(minutes=5 * run)
            put_many(client, bucket, {flow_key(t, i=run * 10 + j, prefix=prefix): flow_log_bytes(20, t, seed=run * 10 + j)
                                      for j in range(4)})  # fmt: skip
            before = proxy.gets
            cfg = build_config({}, {"sources": [f"s3://{bucket}/{prefix}"], "lake": str(tmp_path / "lake"),
                                    "out": str(tmp_path / "out"), "endpoint_url": proxy.endpoint})  # fmt: skip
            result = run_batch(cfg)
            gets.append(proxy.gets - before)
            codes.append(result.exit_code)
            known.append([n for n in result.notes if corrupt_key.rsplit("/", 1)[1] in n])
    finally:
        proxy.stop()
    assert gets == [5, 4, 4]  # the corrupt object is fetched by the first run only
    assert codes == [1, 0, 0]  # a new failure alerts once
    assert all(len(k) == 1 for k in known) and "new" in known[0][0] and "known" in known[2][0]
    assert "corrupt gzip" in known[2][0]
    status = {Path(r["key"]).name: r for r in read_ledger(tmp_path / "lake").to_dicts()}
    bad = status[corrupt_key.rsplit("/", 1)[1]]
    assert (bad["status"], bad["failure"], bad["attempts"]) == ("failed", "terminal", 1)
    assert len(rows(tmp_path / "lake")) == 12 * 20


def test_persistent_throttling_backs_off_across_runs(
    seaweed: SeaweedS3, s3_admin_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "TRANSIENT_BACKOFF_BASE", timedelta(hours=1))  # no run waits that long here
    client = seaweed.client()
    bucket, prefix = fresh_prefix(client)
    key = flow_key(T0, i=1, prefix=prefix)
    client.put_object(Bucket=bucket, Key=key, Body=flow_log_bytes(10, T0, seed=1))
    proxy = FaultProxy(seaweed.endpoint).start()
    proxy.faults = [Fault(key.rsplit("/", 1)[1], "503", times=10**6)]
    src, lake = f"s3://{bucket}/{prefix}", tmp_path / "lake"
    try:
        runs = [ingest([src], lake, endpoint_url=proxy.endpoint, max_attempts=2) for _ in range(3)]
        assert [r.objects_failed for r in runs] == [1, 1, 0]  # 2nd attempt on the next run, then backoff
        assert [r.objects_deferred for r in runs] == [0, 0, 1]
        assert [r.ok for r in runs] == [False, True, True] and all(r.failing_total == 1 for r in runs)
        assert runs[2].failures[0].kind == "transient" and runs[2].failures[0].attempts == 2
        proxy.faults = []
        healed = ingest([src], lake, endpoint_url=proxy.endpoint, retry_failed=True)
        assert (healed.objects_done, healed.failing_total) == (1, 0)
    finally:
        proxy.stop()
    assert len(rows(lake)) == 10


def test_access_denied_is_per_object(seaweed: SeaweedS3, s3_admin_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = seaweed.client()
    bucket, _ = fresh_prefix(admin)  # the reader identity may read logs/allowed/* only
    put_many(admin, bucket, {
        flow_key(T0, i=1, prefix="allowed/"): flow_log_bytes(10, T0, seed=1),
        flow_key(T0, i=2, prefix="denied/"): flow_log_bytes(10, T0, seed=2),
        alb_key(T0, i=3, prefix="allowed/"): alb_log_bytes(10, T0, seed=3),
    })  # fmt: skip
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READER_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READER_SECRET)
    lake = tmp_path / "lake"
    summary = ingest([f"s3://{bucket}/allowed/", f"s3://{bucket}/denied/"], lake, endpoint_url=seaweed.endpoint)
    assert (summary.objects_done, summary.objects_failed) == (2, 1)
    (failure,) = summary.failures
    assert "denied/" in failure.uri and "access denied" in failure.reason and "s3:GetObject" in failure.reason
    assert failure.kind == "terminal"
    again = ingest([f"s3://{bucket}/allowed/", f"s3://{bucket}/denied/"], lake, endpoint_url=seaweed.endpoint)
    assert (again.get_requests, again.objects_failed_known, again.ok) == (0, 1, True)
    assert len(rows(lake)) == 10 and len(rows(lake, "alb_access")) == 10


def test_object_gone_between_list_and_get(seaweed: SeaweedS3, s3_admin_env: None) -> None:
    client = seaweed.client()
    bucket, prefix = fresh_prefix(client)
    key = flow_key(T0, prefix=prefix)
    client.put_object(Bucket=bucket, Key=key, Body=flow_log_bytes(5, T0))
    source = S3Source(f"s3://{bucket}/{prefix}", make_client(profile=None, region=None, endpoint_url=seaweed.endpoint))
    (ref,) = list(source.list_all(prefix))
    client.delete_object(Bucket=bucket, Key=key)
    info = classify_key(ref.key)
    assert not hasattr(info, "reason")
    out = _fetch_and_parse(source, ref, info, 10**9)  # type: ignore[arg-type]
    assert out.status == "gone" and "gone" in (out.reason or "")


def test_credentials_never_reach_logs_or_lake(seaweed: SeaweedS3, s3_admin_env: None, tmp_path: Path) -> None:
    client = seaweed.client()
    bucket, prefix = fresh_prefix(client)
    client.put_object(Bucket=bucket, Key=flow_key(T0, prefix=prefix), Body=flow_log_bytes(5, T0))
    client.put_object(Bucket=bucket, Key=flow_key(T0, i=9, prefix=prefix), Body=b"\x1f\x8bbroken")
    lake = tmp_path / "lake"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--debug", "-v", "ingest", "--source", f"s3://{bucket}/{prefix}",
         "--lake", str(lake), "--endpoint-url", seaweed.endpoint],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "1 failed" in out
    for secret in (ADMIN_SECRET, ADMIN_KEY, "Signature=", "Authorization"):
        assert secret not in out
        for path in lake.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_moto_server_with_hive_layout(s3_admin_env: None, tmp_path: Path) -> None:
    server, endpoint = moto_server()
    try:
        client = make_client(profile=None, region="us-east-1", endpoint_url=endpoint)
        client.create_bucket(Bucket="moto-logs")
        for i in range(3):
            t = T0 + timedelta(hours=i)
            client.put_object(Bucket="moto-logs", Key=flow_key(t, i=i, hive=True, hourly=True), Body=flow_log_bytes(4, t))
        summary = ingest(["s3://moto-logs/"], tmp_path / "lake", endpoint_url=endpoint,
                         since="2024-05-01T11:00:00Z", until="2024-05-01T11:30:00Z")  # fmt: skip
        # delivery hour 10 is inside the 1 h early margin, hour 12 inside the late margin
        assert summary.objects_done == 3 and summary.rows == 12
        summary = ingest(["s3://moto-logs/"], tmp_path / "lake2", endpoint_url=endpoint,
                         since="2024-05-01T13:30:00Z")  # fmt: skip
        # hour folders 10 and 11 are never listed; hour 12 is, and its file is pruned by its name's time
        assert (summary.objects_listed, summary.objects_pruned, summary.objects_done) == (1, 1, 0)
    finally:
        server.stop()


def test_endpoint_from_standard_env_var_and_polars_reads_the_lake(
    seaweed: SeaweedS3, s3_admin_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polars as pl

    client = seaweed.client()
    bucket, prefix = fresh_prefix(client)
    put_many(client, bucket, {
        flow_key(T0 + timedelta(hours=h), i=h, prefix=prefix): flow_log_bytes(6, T0 + timedelta(hours=h), seed=h)
        for h in range(3)
    })  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", seaweed.endpoint)
    lake = tmp_path / "lake"
    summary = ingest([f"s3://{bucket}/{prefix}"], lake)
    assert summary.objects_done == 3 and summary.rows == 18
    # as docs/ingest.md says: files leave out all-null columns, so polars reads by the table's schema
    schema = pl.from_arrow(TABLES["vpc_flow"].empty_table()).schema
    df = pl.scan_parquet(
        str(lake / "vpc_flow" / "**" / "*.parquet"), hive_partitioning=True, schema=schema, missing_columns="insert"
    ).collect()
    assert df.height == 18 and sorted(df["hour"].unique().to_list()) == [10, 11, 12]
    con = open_lake(lake, threads=1)
    con.execute("SELECT * FROM vpc_flow LIMIT 0")
    duck_columns = {d[0] for d in con.description}
    assert set(df.columns) == duck_columns
