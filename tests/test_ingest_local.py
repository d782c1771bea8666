"""Ingest from local folders: exactly once, replacement, failures, recovery, lock (fast, no network)."""

from __future__ import annotations

import gzip
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from fixtures.s3server import FLOW_HEADER, T0, alb_key, alb_log_bytes, flow_key, flow_lines, flow_log_bytes, put_local

from pipeline.db import open_lake
from pipeline.errors import LakeLockedError
from pipeline.ingest import ingest
from pipeline.lake import lake_lock, read_ledger


def lake_rows(lake: Path, table: str = "vpc_flow") -> list[tuple[str, int]]:
    con = open_lake(lake, threads=1)
    return sorted(con.sql(f"SELECT source_uri, source_line FROM {table}").fetchall())


def lake_files(lake: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(lake).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in lake.rglob("*.parquet")
    }


def make_source(root: Path, n_objects: int = 6, rows: int = 50) -> list[str]:
    keys = []
    for i in range(n_objects):
        t = T0 + timedelta(minutes=5 * i)
        keys.append(flow_key(t, i=i))
        put_local(root, keys[-1], flow_log_bytes(rows, t, seed=i))
        put_local(root, alb_key(t, i=i), alb_log_bytes(rows // 2, t, seed=i))
    put_local(root, "AWSLogs/123456789012/ELBAccessLogTestFile", b"Enable AccessLog for ELB: x at 2024")
    put_local(root, "notes/readme.md", b"hello")
    return keys


def test_rerun_fetches_nothing_and_rewrites_nothing(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    make_source(src)
    first = ingest([str(src)], lake, workers=2)
    assert (first.objects_done, first.objects_skipped, first.objects_failed) == (12, 2, 0)
    assert first.rows == 6 * 50 + 6 * 25 and first.rows_by_table == {"vpc_flow": 300, "alb_access": 150}
    assert first.min_event_time is not None and first.min_event_time >= T0
    before, rows_before = lake_files(lake), lake_rows(lake)
    second = ingest([str(src)], lake, workers=2)
    assert second.objects_unchanged == 12 and second.get_requests == 0 and second.rows == 0
    assert second.min_event_time is None
    assert lake_files(lake) == before and lake_rows(lake) == rows_before
    assert len(rows_before) == len(set(rows_before)) == 300
    ledger = read_ledger(lake)
    assert set(ledger["status"]) == {"done", "skipped"}
    assert set(ledger.filter(ledger["status"] == "skipped")["reason"]) >= {"ELB access-log test file"}


def test_changed_object_replaces_its_rows_and_keeps_its_neighbours(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    keys = make_source(src)
    ingest([str(src)], lake, workers=2)
    changed = src / keys[2]
    changed.write_bytes(flow_log_bytes(7, T0 + timedelta(minutes=10), seed=99))
    os.utime(changed, ns=(1, 1))  # a different size+mtime, as a rewrite gives
    summary = ingest([str(src)], lake, workers=2)
    assert summary.objects_done == 1 and summary.objects_replaced == 1 and summary.objects_unchanged == 11
    rows = lake_rows(lake)
    assert len(rows) == len(set(rows)) == 5 * 50 + 7
    uri = changed.resolve().as_uri()
    assert sum(1 for u, _ in rows if u == uri) == 7
    con = open_lake(lake, threads=1)
    srcports = con.execute("SELECT count(DISTINCT source_uri) FROM vpc_flow").fetchone()
    assert srcports == (6,)


def test_small_objects_are_batched_into_few_files(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    for i in range(60):
        t = T0 + timedelta(seconds=30 * i)
        put_local(src, flow_key(t, i=i), flow_log_bytes(5, t, seed=i))
    summary = ingest([str(src)], lake, workers=2, batch_objects=10, compact=False)
    files = list((lake / "vpc_flow").rglob("*.parquet"))
    assert summary.objects_done == 60 and len(files) == summary.files_written
    assert len(files) == 6  # 6 batches into the one hour partition, not 60 files
    # the hour is long closed (2024) and has 6 small files (>= AUTO_MIN_FILES): the next run
    # compacts it into one file
    again = ingest([str(src)], lake, workers=2)
    assert again.partitions_compacted == 1 and again.files_compacted == len(files)
    assert len(list((lake / "vpc_flow").rglob("*.parquet"))) == 1


def test_lake_files_read_back_as_the_table_schema_with_each_rows_own_source_uri(tmp_path: Path) -> None:
    """Batch files hold the table's columns that have values (in the table's order and types),
    ``source_uri`` dictionary-encoded, no stored Arrow schema; the lake's views are exactly
    ``TABLES[table]`` (plus date, hour), and each row keeps its own object."""
    import duckdb
    import polars as pl
    import pyarrow.parquet as pq

    from pipeline.schema import TABLES

    src, lake = tmp_path / "src", tmp_path / "lake"
    make_source(src, n_objects=4, rows=40)
    ingest([str(src)], lake, workers=2)
    con = open_lake(lake, threads=1)
    for table in ("vpc_flow", "alb_access"):
        want = TABLES[table]
        files = sorted((lake / table).rglob("*.parquet"))
        assert files
        for f in files:
            on_disk = pq.read_table(f)
            names = on_disk.column_names
            assert names == [n for n in want.names if n in names] and {"source_uri", "source_line"} <= set(names)
            assert all(on_disk.schema.field(n).type == want.field(n).type for n in names)
            assert all(on_disk.column(n).null_count < on_disk.num_rows for n in names)  # all-null columns left out
            assert len(names) < len(want.names)  # the test logs fill only some columns
            assert pl.read_parquet(f).height == on_disk.num_rows
            described = duckdb.sql(f"DESCRIBE SELECT source_uri, start_time FROM '{f}'" if table == "vpc_flow" else f"DESCRIBE SELECT source_uri, event_time FROM '{f}'").fetchall()
            assert [r[1] for r in described] == ["VARCHAR", "TIMESTAMP WITH TIME ZONE"]
        view = con.execute(f"DESCRIBE {table}").fetchall()
        assert [r[0] for r in view] == [*want.names, "date", "hour"]
        empty = duckdb.connect()
        empty.register("t", want.empty_table())
        assert [r[1] for r in view[: len(want)]] == [r[1] for r in empty.execute("DESCRIBE t").fetchall()]
        per_uri = {u: n for u, n in con.sql(f"SELECT source_uri, count(*) FROM {table} GROUP BY 1").fetchall()}
        assert per_uri == {u: (40 if table == "vpc_flow" else 20) for u in per_uri} and len(per_uri) == 4


def test_objects_of_different_formats_in_one_partition_keep_every_column(tmp_path: Path) -> None:
    """A default-format object, then one with more fields, then a default one again, in one
    partition and batch: the open file takes no row with a column it left out, so the
    partition gets a second file with both sets, and every value reads back."""
    import pyarrow.parquet as pq
    src, lake = tmp_path / "src", tmp_path / "lake"
    wide_header = FLOW_HEADER + " vpc-id tcp-flags"
    for i in range(3):
        t = T0 + timedelta(minutes=5 * i)
        lines = flow_lines(10, t, seed=i)
        if i == 1:
            text = wide_header + "\n" + "\n".join(f"{ln} vpc-0abc {i}" for ln in lines) + "\n"
            put_local(src, flow_key(t, i=i), gzip.compress(text.encode()))
        else:
            put_local(src, flow_key(t, i=i), flow_log_bytes(10, t, seed=i))
    summary = ingest([str(src)], lake, workers=1)
    assert summary.rows == 30
    assert len(list((lake / "vpc_flow").rglob("*.parquet"))) == 2
    con = open_lake(lake, threads=1)
    got = con.execute(
        "SELECT count(*), count(vpc_id), count(tcp_flags), count(DISTINCT source_uri), count(pkt_srcaddr) FROM vpc_flow"
    ).fetchone()  # fmt: skip
    assert got == (30, 10, 10, 3, 0)
    assert con.execute("SELECT DISTINCT vpc_id FROM vpc_flow WHERE vpc_id IS NOT NULL").fetchall() == [("vpc-0abc",)]
    before = sorted(con.execute("SELECT * EXCLUDE (source_uri) FROM vpc_flow").fetchall())
    con.close()

    from pipeline.lake import LakeWriter, Ledger
    from pipeline.lake.compact import compact

    ledger = Ledger(lake, run_id="t")
    try:  # compaction keeps the columns any of its files holds, and no others
        assert compact(LakeWriter(lake, ledger), now=T0 + timedelta(days=1)).files_after == 1
    finally:
        ledger.close()
    (merged,) = list((lake / "vpc_flow").rglob("*.parquet"))
    names = pq.read_schema(merged).names
    assert {"vpc_id", "tcp_flags"} <= set(names) and "pkt_srcaddr" not in names
    after = sorted(open_lake(lake, threads=1).execute("SELECT * EXCLUDE (source_uri) FROM vpc_flow").fetchall())
    assert after == before


def test_late_object_lands_in_its_event_time_partition(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    delivered = T0 + timedelta(days=1, hours=3)  # folder and name say next day
    put_local(src, flow_key(delivered), flow_log_bytes(20, T0, seed=1))
    ingest([str(src)], lake, workers=1)
    parts = {p.parent.relative_to(lake).as_posix() for p in (lake / "vpc_flow").rglob("*.parquet")}
    assert parts == {"vpc_flow/date=2024-05-01/hour=10"}


def test_null_event_time_falls_back_to_end_then_file_time(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    lines = [
        "2 123456789012 eni-1 - - - - - - - - 1714557600 - NODATA",  # start missing: end 2024-05-01T10:00
        "2 123456789012 eni-1 - - - - - - - - - - NODATA",  # both missing: file time
    ]
    body = gzip.compress((FLOW_HEADER + "\n" + "\n".join(lines) + "\n").encode())
    put_local(src, flow_key(T0 + timedelta(hours=5)), body)
    summary = ingest([str(src)], lake, workers=1)
    assert summary.rows + summary.rejects == 2
    parts = sorted(p.parent.name for p in (lake / "vpc_flow").rglob("*.parquet"))
    assert set(parts) <= {"hour=10", "hour=15"} and parts


def _gz_members(*texts: bytes) -> bytes:
    return b"".join(gzip.compress(t) for t in texts)


def test_failures_are_recorded_per_object_and_the_run_goes_on(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    good = flow_log_bytes(30, T0, seed=1)
    text = gzip.decompress(good)
    cases = {
        "truncated": good[: len(good) // 2],
        "corrupt": good[:-8] + b"\x00" * 8,  # CRC and length wrong, deflate data fine
        "not_gzip": b"this is plain text with a .gz name\n",
        "unknown_header": gzip.compress(b"version account-id bogus-field\n2 1 x\n"),  # kept: extra_fields
        "bomb": gzip.compress(FLOW_HEADER.encode() + b"\n" + b"2" * 3_000_000),
        "empty": b"",
        "members": _gz_members(text, ("\n".join(flow_lines(10, T0, seed=2)) + "\n").encode()),
        "header_only": gzip.compress(FLOW_HEADER.encode() + b"\n"),
    }
    keys = {}
    for i, (name, data) in enumerate(cases.items()):
        keys[name] = flow_key(T0 + timedelta(minutes=i), i=i)
        put_local(src, keys[name], data)
    summary = ingest([str(src)], lake, workers=2, max_object_size=1_000_000)
    ledger = {Path(r["key"]).name: r for r in read_ledger(lake).to_dicts()}
    status = {name: ledger[Path(keys[name]).name]["status"] for name in cases}
    reason = {name: ledger[Path(keys[name]).name]["reason"] or "" for name in cases}
    assert status == {
        "truncated": "failed", "corrupt": "failed", "not_gzip": "failed", "unknown_header": "done",
        "bomb": "failed", "empty": "empty", "members": "done", "header_only": "empty",
    }  # fmt: skip
    failed = {name for name in cases if status[name] == "failed"}
    assert {ledger[Path(keys[n]).name]["failure"] for n in failed} == {"terminal"}
    assert "truncated" in reason["truncated"] and "corrupt" in reason["corrupt"]
    assert "bomb" in reason["bomb"]
    assert summary.objects_failed == 4 and summary.objects_empty == 2 and summary.objects_done == 2
    assert summary.objects_with_drift == 1 and list(summary.schema_drift.values()) == [["bogus-field"]]
    assert ledger[Path(keys["members"]).name]["rows"] == 40  # both gzip members read
    # nothing from a failed object is visible
    uris = {u for u, _ in lake_rows(lake)}
    assert uris == {(src / keys[n]).resolve().as_uri() for n in ("members", "unknown_header")}
    assert not summary.ok and summary.objects_failed_new == 4 and summary.failing_total == 4
    assert all(f.new and f.kind == "terminal" for f in summary.failures)
    # terminal failures are not fetched again (and not alerted on again), but still listed
    again = ingest([str(src)], lake, workers=2, max_object_size=1_000_000)
    assert (again.objects_failed, again.objects_failed_known, again.objects_unchanged) == (0, 4, 4)
    assert again.get_requests == 0 and again.ok
    assert again.failing_total == 4 and {f.uri for f in again.failures} == {f.uri for f in summary.failures}
    assert not any(f.new for f in again.failures)
    assert {f.first_seen for f in again.failures} == {f.first_seen for f in summary.failures}
    # --retry-failed fetches them again; still failing, but not new
    retried = ingest([str(src)], lake, workers=2, max_object_size=1_000_000, retry_failed=True)
    assert (retried.objects_failed, retried.objects_failed_new, retried.get_requests) == (4, 0, 4) and retried.ok
    # a new ETag is a new object version: fetched, and a new failure if still bad
    fixed = src / keys["corrupt"]
    fixed.write_bytes(flow_log_bytes(4, T0, seed=5))
    os.utime(fixed, ns=(2, 2))
    rebroken = src / keys["truncated"]
    rebroken.write_bytes(good[: len(good) // 3])
    later = ingest([str(src)], lake, workers=2, max_object_size=1_000_000)
    assert (later.objects_done, later.objects_failed, later.objects_failed_new, later.objects_failed_known) == (1, 1, 1, 2)
    assert later.failing_total == 3 and not later.ok


def test_rejected_lines_go_to_rejects(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    body = (FLOW_HEADER + "\n" + "\n".join(flow_lines(3, T0)) + "\nthis line is broken\n").encode()
    put_local(src, flow_key(T0), gzip.compress(body))
    summary = ingest([str(src)], lake, workers=1)
    assert (summary.rows, summary.rejects, summary.lines_read) == (3, 1, 5)
    con = open_lake(lake, threads=1)
    rej = con.sql(f"SELECT source_line, raw FROM read_parquet('{lake}/_rejects/*.parquet')").fetchall()
    assert rej == [(5, "this line is broken")]


def test_second_writer_waits_then_gets_a_clear_error(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    make_source(src, n_objects=1)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from pipeline.lake import lake_lock\n"
         "with lake_lock(sys.argv[1]):\n print('locked', flush=True); time.sleep(30)", str(lake)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LakeLockedError, match=f"pid {holder.pid}"):
            ingest([str(src)], lake, lock_wait=0.3)
    finally:
        holder.kill()
        holder.wait()
    with lake_lock(lake, wait=5):  # released by the kernel when the holder died
        pass
    assert ingest([str(src)], lake).objects_done == 2


def test_recovery_removes_leftovers_and_reingests_lost_files(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    make_source(src)
    ingest([str(src)], lake, workers=2, batch_objects=3)
    reference = lake_rows(lake)
    # leftovers of a crash: a staged temp file and a renamed-but-uncommitted part file
    (lake / "_tmp").mkdir()
    (lake / "_tmp" / "123-1.parquet").write_bytes(b"partial")
    some = next((lake / "vpc_flow").rglob("part-*.parquet"))
    orphan = some.with_name("part-" + "0" * 32 + ".parquet")
    orphan.write_bytes(some.read_bytes())  # would duplicate rows if read
    # and a committed file lost from disk
    lost = sorted((lake / "alb_access").rglob("part-*.parquet"))[0]
    lost.unlink()
    summary = ingest([str(src)], lake, workers=2)
    assert summary.recovered_files == 2 and not orphan.exists() and not (lake / "_tmp").exists()
    assert summary.objects_done >= 1  # the lost file's objects came back
    assert lake_rows(lake) == reference
    assert len(lake_rows(lake, "alb_access")) == 150
    with sqlite3.connect(lake / "_ledger" / "ledger.sqlite") as con:
        assert con.execute("SELECT count(*) FROM runs WHERE finished_at IS NOT NULL").fetchone() == (2,)


def test_cli_exits_1_when_an_object_failed_and_still_lands_the_rest(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    make_source(src, n_objects=2)
    put_local(src, flow_key(T0, i=77), b"\x1f\x8b garbage")
    from pipeline.cli import main

    assert main(["ingest", "--source", str(src), "--lake", str(lake), "--workers", "2"]) == 1
    assert len(lake_rows(lake)) == 100
    assert main(["ingest", "--source", str(src), "--lake", str(lake), "--since", "not-a-time"]) == 2


def test_parquet_flow_logs_and_alb_connection_logs(tmp_path: Path) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    src, lake = tmp_path / "src", tmp_path / "lake"
    start = int(T0.timestamp())
    table = pa.table({
        "version": pa.array([2, 2], pa.int32()), "account_id": ["123456789012"] * 2,
        "interface_id": ["eni-1", "eni-2"], "srcaddr": ["10.0.0.1", "10.0.0.2"], "dstaddr": ["10.0.0.3"] * 2,
        "srcport": pa.array([1, 2], pa.int32()), "dstport": pa.array([443, 443], pa.int32()),
        "protocol": pa.array([6, 6], pa.int32()), "packets": [1, 2], "bytes": [100, 200],
        "start": [start, start], "end": [start + 60, start + 60], "action": ["ACCEPT", "REJECT"],
        "log_status": ["OK", "OK"],
    })  # fmt: skip
    buf = io.BytesIO()
    pq.write_table(table, buf)
    put_local(src, flow_key(T0, ext=".log.parquet"), buf.getvalue())
    conn_line = (
        '2024-05-01T10:01:02.123456Z 203.0.113.9 40000 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 2.5 '
        '"CN=client" NotBefore=2024-01-01T00:00:00Z;NotAfter=2025-01-01T00:00:00Z 0A1B Success TID_abc'
    )
    put_local(src, alb_key(T0, conn=True, node_ip="10.0.9.9"), gzip.compress((conn_line + "\n").encode()))
    summary = ingest([str(src)], lake, workers=1)
    assert summary.objects_done == 2 and summary.objects_failed == 0
    assert summary.rows_by_table.get("vpc_flow") == 2
    con = open_lake(lake, threads=1)
    assert con.execute("SELECT count(*), min(node_ip), min(load_balancer) FROM alb_connection").fetchall() == [
        (1, "10.0.9.9", "app.web.0123456789abcdef")
    ]
    assert con.execute("SELECT sum(bytes), min(date)::VARCHAR, min(hour) FROM vpc_flow").fetchall() == [
        (300, "2024-05-01", 10)
    ]


def test_lake_lock_is_reentrant_for_a_caller_wrapping_ingest(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    make_source(src, n_objects=1)
    with lake_lock(lake, wait=0.2):
        assert ingest([str(src)], lake, lock_wait=0.2).objects_done == 2


def test_relative_lake_path_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_source(tmp_path / "src", n_objects=2, rows=10)
    monkeypatch.chdir(tmp_path)
    summary = ingest(["src"], Path("lake"), workers=1)
    assert summary.ok and summary.rows_by_table["vpc_flow"] == 20
    assert len(lake_rows(Path("lake"))) == 20 and read_ledger("lake").height == 6



class _Recorder:
    """A ProgressSink that keeps what it was told."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.done: list[tuple[int, int]] = []

    def listed(self, size: int) -> None:
        self.sizes.append(size)

    def taken(self, lines: int, size: int) -> None:
        self.done.append((lines, size))


def test_progress_sink_sees_every_fetched_object_and_the_summary_line_adds_up(tmp_path: Path) -> None:
    from pipeline.commands.ingest import one_line

    src, lake = tmp_path / "src", tmp_path / "lake"
    make_source(src)
    rec = _Recorder()
    s = ingest([str(src)], lake, workers=2, batch_objects=3, sink=rec)
    assert len(rec.sizes) == len(rec.done) == s.objects_done == 12
    assert sum(lines for lines, _ in rec.done) == s.lines_read
    assert sum(size for _, size in rec.done) == s.bytes_downloaded == sum(rec.sizes)
    line = one_line(s)
    assert f"{s.lines_read:,} lines read" in line and "lines/s" in line and "\n" not in line
    again = ingest([str(src)], lake, sink=rec)  # nothing to fetch: nothing reported
    assert again.objects_unchanged == 12 and len(rec.done) == 12


def test_small_alb_objects_parsed_together_each_keep_their_rows_rejects_and_failures(tmp_path: Path) -> None:
    """Grouped ALB parses: a corrupt, an empty, a CRLF and a bad-line object among good ones; every object as if alone."""
    src, lake, alone = tmp_path / "src", tmp_path / "lake", tmp_path / "alone"
    objs: dict[str, bytes] = {}
    for i in range(8):
        t = T0 + timedelta(minutes=5 * i)
        key = alb_key(t, i=i, node_ip=f"10.0.0.{i}")
        data = alb_log_bytes(20 + i, t, seed=i)
        if i == 2:
            data = data[:-9]  # truncated gzip: this object fails, the others land
        elif i == 3:
            data = gzip.compress(b"")  # empty
        elif i == 4:
            data = gzip.compress(gzip.decompress(data).replace(b"\n", b"\r\n"))  # CRLF: parsed alone
        elif i == 5:
            lines = gzip.decompress(data).split(b"\n")
            lines[3] = b'https "unbalanced'
            data = gzip.compress(b"\n".join(lines))  # one reject, line 4, no final newline
        objs[key] = data
        put_local(src, key, data)
    summary = ingest([str(src)], lake)
    assert summary.objects_failed == 1 and summary.objects_done == 6 and summary.objects_empty == 1
    assert summary.rejects == 1 and summary.rejects_by_object and next(iter(summary.rejects_by_object.values())) == 1
    # the same objects ingested one per run: identical rows and rejects
    for key, data in objs.items():
        put_local(alone / "src", key, data)
        ingest([str(alone / "src")], alone / "lake", workers=1)
    con, con_alone = open_lake(lake, threads=1), open_lake(alone / "lake", threads=1)
    query = "SELECT * EXCLUDE (source_uri) FROM alb_access ORDER BY node_ip, source_line"
    assert con.sql(query).fetchall() == con_alone.sql(query).fetchall()
    rejects = read_ledger(lake, "objects").filter(read_ledger(lake, "objects")["rejects"] > 0)
    assert rejects.height == 1 and "_00000005.log.gz" in rejects["key"][0]
    assert len(lake_rows(lake, "alb_access")) == sum(20 + i for i in (0, 1, 4, 5, 6, 7)) - 1

    def rejected(root: Path) -> list[tuple[str, int, str, str]]:
        import pyarrow.parquet as pq

        rows = [r for f in sorted((root / "_rejects").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
        return sorted((r["source_uri"].rsplit("_", 1)[-1], r["source_line"], r["reason"], r["raw"]) for r in rows)

    assert rejected(lake) == rejected(alone / "lake") and [r[1] for r in rejected(lake)] == [4]


def test_small_flow_objects_with_one_header_parsed_together_each_keep_their_rows_rejects_and_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grouped flow-log parses: a corrupt, an empty, a CRLF, a bad-line, a repeated-header and an
    other-header object among good ones; every object lands as if ingested alone."""
    import pipeline.formats.vpcflow as vpcflow

    src, lake, alone = tmp_path / "src", tmp_path / "lake", tmp_path / "alone"
    grouped: list[int] = []
    many = vpcflow.parse_vpcflow_many

    def counting(objects: list[tuple[bytes, str]], **kw: bool) -> list:  # type: ignore[type-arg]
        grouped.append(len(objects))
        return many(objects, **kw)

    monkeypatch.setattr(vpcflow, "parse_vpcflow_many", counting)
    objs: dict[str, bytes] = {}
    for i in range(9):
        t = T0 + timedelta(minutes=5 * i)
        key = flow_key(t, i=i)
        text = flow_log_bytes(20 + i, t, seed=i, compress=False)
        if i == 2:
            data = gzip.compress(text)[:-9]  # truncated gzip: this object fails, the others land
        elif i == 3:
            data = gzip.compress(b"")  # empty
        elif i == 4:
            data = gzip.compress(text.replace(b"\n", b"\r\n"))  # CRLF: parsed alone
        elif i == 5:
            lines = text.rstrip(b"\n").split(b"\n")
            lines[3] = b"2 123456789012 eni-1 10.0.0.1"
            data = gzip.compress(b"\n".join(lines))  # one reject, line 4, no final newline
        elif i == 6:
            lines = text.split(b"\n")
            data = gzip.compress(b"\n".join([*lines[:5], FLOW_HEADER.encode(), *lines[5:]]))  # header repeated
        elif i == 7:
            names = FLOW_HEADER.split(" ")
            order = [*names[3:5], *names[:3], *names[5:]]
            rows = [line.split(" ") for line in text.decode().rstrip("\n").split("\n")[1:]]
            body = "\n".join(" ".join(r[names.index(n)] for n in order) for r in rows)
            data = gzip.compress(f"{' '.join(order)}\n{body}\n".encode())  # another field order: its own group
        else:
            data = gzip.compress(text)
        objs[key] = data
        put_local(src, key, data)
    summary = ingest([str(src)], lake, workers=1)
    assert sum(grouped) >= 5, grouped  # the good, the bad-line and the repeated-header ones went together
    assert summary.objects_failed == 1 and summary.objects_done == 7 and summary.objects_empty == 1
    assert summary.rejects == 1
    for key, data in objs.items():  # the same objects, one per run
        put_local(alone / "src", key, data)
        ingest([str(alone / "src")], alone / "lake", workers=1)
    con, con_alone = open_lake(lake, threads=1), open_lake(alone / "lake", threads=1)
    query = "SELECT * EXCLUDE (source_uri), regexp_extract(source_uri, '[^/]+$') AS name FROM vpc_flow ORDER BY name, source_line"
    assert con.sql(query).fetchall() == con_alone.sql(query).fetchall()
    assert len(lake_rows(lake)) == sum(20 + i for i in (0, 1, 4, 5, 6, 7, 8)) - 1
    lines_of_6 = [n for uri, n in lake_rows(lake) if uri.endswith("_00000006.log.gz")]
    assert lines_of_6 == [*range(2, 6), *range(7, 20 + 6 + 3)]  # the repeated header is line 6

    def rejected(root: Path) -> list[tuple[str, int, str]]:
        import pyarrow.parquet as pq

        rows = [r for f in sorted((root / "_rejects").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
        return sorted((r["source_uri"].rsplit("_", 1)[-1], r["source_line"], r["reason"]) for r in rows)

    assert rejected(lake) == rejected(alone / "lake") == [("00000005.log.gz", 4, rejected(lake)[0][2])]


def test_a_folder_inside_awslogs_reads_like_its_bucket_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pointing at .../AWSLogs/ (as one does at s3://bucket/AWSLogs/) finds the same objects, same URIs."""
    from pipeline.cli import main

    src, lake = tmp_path / "src", tmp_path / "lake"
    make_source(src)
    inner = ingest([str(src / "AWSLogs")], lake, workers=2)
    assert (inner.objects_done, inner.objects_skipped) == (12, 1)  # the test file; notes/ is outside
    again = ingest([str(src)], lake, workers=2)  # the same objects by the same URIs: nothing to fetch
    assert again.objects_unchanged == 12 and again.get_requests == 0
    assert len(lake_rows(lake)) == 300
    # a folder with no log in AWS's layout says so instead of reporting 0 objects silently
    assert main(["ingest", "--source", str(src / "notes"), "--lake", str(tmp_path / "other")]) == 0
    err = capsys.readouterr().err
    assert "none of the 1 objects found is a log in AWS's delivery layout" in err


def test_terminal_progress_shows_mb_per_s_and_eta_over_the_run_so_far() -> None:
    """MB/s and ETA from bytes taken since the start: steady with thousands of small objects."""
    from pipeline.commands.ingest import TerminalProgress

    now = [100.0]
    bar = TerminalProgress(clock=lambda: now[0])
    assert bar.rate_and_eta() == ("- MB/s", "-:--:--")
    for _ in range(2000):  # 2,000 objects of 10 kB listed, taken over 4 s, then 20 MB still listed
        bar.listed(10_000)
    for i in range(1000):
        now[0] = 100.0 + 4.0 * (i + 1) / 1000
        bar.taken(lines=50, size=10_000)
    assert bar.rate_and_eta() == ("2.5 MB/s", "0:00:04")
    task = bar.progress.tasks[0]
    assert task.fields["rate"] == "2.5 MB/s" and task.fields["objects"] == "1,000/2,000" and task.fields["lines"] == "50,000"


def test_a_group_of_small_objects_is_staged_together_and_the_ledger_knows_each_objects_rows_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small objects parsed together are split and written as one table (objects crossing hours,
    groups cut by the batch limit); every object's rows per file in the ledger match the files,
    the lake equals one built object by object, and replacing one object keeps its group's others."""
    import pyarrow.parquet as pq

    import pipeline.lake.writer as writer

    staged: list[int] = []
    stage_rows = writer.OpenBatch._stage_rows

    def counting(self: writer.OpenBatch, run: list[writer.BatchMember]) -> None:
        staged.append(len(run))
        stage_rows(self, run)

    monkeypatch.setattr(writer.OpenBatch, "_stage_rows", counting)
    src, lake, alone = tmp_path / "src", tmp_path / "lake", tmp_path / "alone"
    keys = []
    for i in range(30):  # every 7 minutes from 10:00: three and a half hours, some objects across an hour
        t = T0 + timedelta(minutes=7 * i)
        keys.append(flow_key(t, i=i))
        put_local(src, keys[-1], flow_log_bytes(10 + i % 4, t, seed=i))

    def consistent(root: Path) -> None:
        in_files: dict[tuple[str, str], int] = {}
        for path in (root / "vpc_flow").rglob("*.parquet"):
            for uri in pq.read_table(path, columns=["source_uri"]).column("source_uri").to_pylist():
                key = (uri, path.relative_to(root).as_posix())
                in_files[key] = in_files.get(key, 0) + 1
        mapped = read_ledger(root, "object_files")
        assert dict(zip(zip(mapped["uri"], mapped["path"], strict=True), mapped["rows"], strict=True)) == in_files

    summary = ingest([str(src)], lake, workers=1, batch_objects=7, compact=False)
    assert summary.objects_done == 30 and max(staged) > 1, staged  # objects went to the writer together
    assert summary.files_written > 4  # several hours, several batches
    consistent(lake)
    for key in keys:  # the same objects, one per run
        put_local(alone / "src", key, (src / key).read_bytes())
        ingest([str(alone / "src")], alone / "lake", workers=1, compact=False)
    query = "SELECT * EXCLUDE (source_uri), regexp_extract(source_uri, '[^/]+$') AS name FROM vpc_flow ORDER BY name, source_line"
    assert open_lake(lake, threads=1).sql(query).fetchall() == open_lake(alone / "lake", threads=1).sql(query).fetchall()

    changed = src / keys[12]
    changed.write_bytes(flow_log_bytes(3, T0 + timedelta(minutes=7 * 12), seed=99))
    os.utime(changed, ns=(1, 1))
    again = ingest([str(src)], lake, workers=1, compact=False)
    assert again.objects_done == 1 and again.objects_replaced == 1
    rows = lake_rows(lake)
    assert len(rows) == len(set(rows)) == sum(10 + i % 4 for i in range(30) if i != 12) + 3
    assert sum(1 for u, _ in rows if u == changed.resolve().as_uri()) == 3
    consistent(lake)
