"""Lake maintenance: compaction, retention, status, and bad states (stray files, newer ledger, full disk)."""

from __future__ import annotations

import errno
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fixtures.s3server import T0, alb_key, alb_log_bytes, flow_key, flow_log_bytes, put_local

from pipeline.cli import main
from pipeline.db import open_lake
from pipeline.errors import LakeError
from pipeline.ingest import ingest
from pipeline.lake import LakeWriter, Ledger, read_ledger
from pipeline.lake.compact import compact, drop_expired
from pipeline.lake.status import lake_status


def lake_rows(lake: Path, table: str = "vpc_flow") -> list[tuple[object, ...]]:
    con = open_lake(lake, threads=1)
    cols = "srcaddr, bytes" if table == "vpc_flow" else "client_ip, elb_status_code"
    return sorted(con.execute(f"SELECT source_uri, source_line, {cols}, date, hour FROM {table}").fetchall())


def five_minute_runs(src: Path, lake: Path, n: int, *, start: int = 0, compact_: bool = False) -> None:
    """``n`` scheduled runs, each after 5 more minutes of objects arrived (one flow, one ALB object)."""
    for i in range(start, start + n):
        t = T0 + timedelta(minutes=5 * i)
        put_local(src, flow_key(t, i=i), flow_log_bytes(30, t, seed=i))
        put_local(src, alb_key(t, i=i), alb_log_bytes(5, t, seed=i))
        ingest([str(src)], lake, workers=1, compact=compact_)


def live_files(lake: Path) -> list[str]:
    return sorted(read_ledger(lake, "files")["path"].to_list())


def test_compaction_merges_closed_partitions_and_keeps_every_row_once(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    five_minute_runs(src, lake, 30)  # 2.5 hours of 5-minute runs
    before = lake_rows(lake)
    files_before = [p for p in live_files(lake) if p.startswith("vpc_flow/")]
    assert len(files_before) >= 30
    with_rejects = lake_rows(lake, "alb_access")
    ledger = Ledger(lake, run_id="t")
    try:
        writer = LakeWriter(lake, ledger)
        # at 12:30 with a 2 h margin nothing is closed yet; at 14:00 hours 10 and 11 are
        assert compact(writer, now=T0 + timedelta(hours=2, minutes=30)).partitions == 0
        done = compact(writer, now=T0 + timedelta(hours=4))
    finally:
        ledger.close()
    assert done.partitions == 4 and done.rows == 24 * 30 + 24 * 5  # hours 10 and 11 of both tables
    after = live_files(lake)
    assert sum(p.startswith("vpc_flow/date=2024-05-01/hour=10/") for p in after) == 1
    assert sum(p.startswith("vpc_flow/date=2024-05-01/hour=12/") for p in after) > 1  # still open
    assert lake_rows(lake) == before and lake_rows(lake, "alb_access") == with_rejects
    on_disk = sorted(p.relative_to(lake).as_posix() for p in lake.glob("*/date=*/hour=*/*.parquet"))
    assert on_disk == sorted(p for p in after if "/date=" in p)  # old files gone from disk too
    # the compacted file is written like a batch's: one row group for these few rows, no Arrow
    # schema, source_uri dictionary-encoded, min/max only for numbers and times
    import pyarrow.parquet as pq

    (merged,) = [p for p in after if p.startswith("vpc_flow/date=2024-05-01/hour=10/")]
    meta = pq.ParquetFile(lake / merged).metadata
    assert meta.num_row_groups == 1 and b"ARROW:schema" not in (meta.metadata or {})
    columns = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i) for i in range(meta.num_columns)}
    assert "RLE_DICTIONARY" in columns["source_uri"].encodings
    assert not columns["srcaddr"].is_stats_set and columns["start_time"].is_stats_set
    # a changed object in a compacted partition is still replaced, not duplicated
    changed = src / flow_key(T0 + timedelta(minutes=5), i=1)
    changed.write_bytes(flow_log_bytes(3, T0 + timedelta(minutes=5), seed=77))
    summary = ingest([str(src)], lake, workers=1, compact=False)
    assert summary.objects_replaced == 1
    rows = lake_rows(lake)
    assert len(rows) == len(set(rows)) == 30 * 30 - 30 + 3


def test_ingest_compacts_closed_partitions_automatically_and_cli_compacts_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    five_minute_runs(src, lake, 17, compact_=False)  # hour 10: 12 files per table, hour 11: 5
    before, n_before = lake_rows(lake), len(live_files(lake))
    put_local(src, flow_key(T0 + timedelta(minutes=70), i=500), flow_log_bytes(10, T0 + timedelta(minutes=70), seed=500))
    # 2024 is long closed: every partition with >= AUTO_MIN_FILES small files
    summary = ingest([str(src)], lake, workers=1)
    assert summary.partitions_compacted == 4 and summary.files_compacted > 20
    assert len(live_files(lake)) < n_before
    assert len(lake_rows(lake)) == len(before) + 10
    assert main(["lake", "compact", "--lake", str(lake), "--all", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["compaction"]["partitions"] == 0 and out["retention"] is None  # nothing left to compact
    assert len(lake_rows(lake)) == len(before) + 10


def test_ingest_leaves_partitions_with_few_or_large_files_to_lake_compact(tmp_path: Path) -> None:
    """Ingest's own pass needs AUTO_MIN_FILES small files (a bulk ingest is not written twice); `lake compact` does any 2+."""
    from pipeline.lake.compact import AUTO_MIN_FILES

    src, lake = tmp_path / "src", tmp_path / "lake"
    five_minute_runs(src, lake, AUTO_MIN_FILES - 2, compact_=True)  # closed hour 10: 3 files per table
    put_local(src, flow_key(T0 + timedelta(minutes=50), i=600), flow_log_bytes(4, T0 + timedelta(minutes=50), seed=600))
    summary = ingest([str(src)], lake, workers=1)  # a 4th flow file, still < AUTO_MIN_FILES
    assert summary.partitions_compacted == 0
    before, n_before = lake_rows(lake), len(live_files(lake))
    ledger = Ledger(lake, run_id="t")
    try:
        writer = LakeWriter(lake, ledger)
        # files of at least ``small_bytes`` neither count nor are rewritten
        assert compact(writer, now=T0 + timedelta(days=1), min_files=2, small_bytes=1).partitions == 0
        done = compact(writer, now=T0 + timedelta(days=1))  # what `flowsleuth lake compact` does
    finally:
        ledger.close()
    assert done.partitions == 2 and done.files_before == n_before and done.files_after == 2
    assert lake_rows(lake) == before


def test_retention_drops_old_partitions_and_their_ledger_rows_without_refetching(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    five_minute_runs(src, lake, 36, compact_=True)  # 10:00 - 12:55
    put_local(src, flow_key(T0, i=900), b"\x1f\x8b broken")  # a failure stamped 10:00
    ingest([str(src)], lake, workers=1)
    objects_before = read_ledger(lake).height
    ledger = Ledger(lake, run_id="t")
    try:
        dropped = drop_expired(LakeWriter(lake, ledger), T0 + timedelta(hours=2))  # hours 10 and 11 go
    finally:
        ledger.close()
    assert dropped.partitions == 4 and dropped.rows == 24 * 35
    assert dropped.objects == 24 * 2 + 1  # their objects, and the failed one stamped 10:00
    dates = {(d, h) for *_, d, h in lake_rows(lake)}
    assert {h for _, h in dates} == {12}
    assert read_ledger(lake).height == objects_before - dropped.objects
    assert not (lake / "vpc_flow" / "date=2024-05-01" / "hour=10").exists()
    # through ingest: the same cutoff as a number of days; old objects are not fetched again
    days = (datetime.now(UTC) - (T0 + timedelta(hours=1, minutes=59))).total_seconds() / 86400
    again = ingest([str(src)], lake, workers=1, retention_days=days)
    assert again.get_requests == 0 and again.objects_expired == 24 * 2 + 1 and again.failing_total == 0
    assert {h for *_, h in lake_rows(lake)} == {12}


def test_lake_status_reports_tables_files_rows_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    five_minute_runs(src, lake, 3)
    put_local(src, flow_key(T0, i=901), flow_log_bytes(30, T0)[:-8] + b"\0" * 8)
    put_local(src, flow_key(T0, i=902), (b"version account-id interface-id\n2 1\n"))  # a reject? no: not gzip
    ingest([str(src)], lake, workers=1)
    st = lake_status(lake)
    flow = next(t for t in st.tables if t.table == "vpc_flow")
    assert (flow.partitions, flow.rows) == (1, 90) and flow.files >= 1 and flow.bytes > 0
    assert flow.oldest_event is not None and flow.oldest_event.startswith("2024-05-01T10:0")
    assert st.objects["done"] == 6 and st.failures == {"terminal": 2} and len(st.failing) == 2
    assert st.schema_version == 2 and st.runs == 4 and not st.stray_files
    assert main(["lake", "status", "--lake", str(lake)]) == 0
    text = capsys.readouterr().out
    assert "vpc_flow" in text and "90 rows" in text and "2 terminal" in text
    assert main(["lake", "status", "--lake", str(tmp_path / "nope")]) == 1


def test_stray_and_half_written_parquet_files_are_never_read_and_moved_aside(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    five_minute_runs(src, lake, 2)
    before = lake_rows(lake)
    part = lake / "vpc_flow" / "date=2024-05-01" / "hour=10"
    committed = sorted(part.glob("part-*.parquet"))[0]
    (part / "copied-by-hand.parquet").write_bytes(committed.read_bytes())  # would duplicate rows
    (part / "half-written.parquet").write_bytes(committed.read_bytes()[:100])  # would break every query
    (part / ("part-" + "f" * 32 + ".parquet")).write_bytes(b"PAR1 partial")  # an interrupted commit's
    assert lake_rows(lake) == before  # readers use the ledger's file list
    assert len(lake_status(lake).stray_files) == 3
    summary = ingest([str(src)], lake, workers=1, compact=False)
    assert summary.recovered_files == 1
    assert sorted(p.name for p in (lake / "_quarantine").rglob("*.parquet")) == ["copied-by-hand.parquet", "half-written.parquet"]
    assert not lake_status(lake).stray_files and lake_rows(lake) == before
    # a committed file damaged on disk: moved aside, its objects re-ingested from the source
    committed.write_bytes(committed.read_bytes()[:-10])
    repaired = ingest([str(src)], lake, workers=1, compact=False)
    assert repaired.objects_done >= 1 and lake_rows(lake) == before


def test_a_ledger_from_a_newer_version_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    five_minute_runs(src, lake, 1)
    with sqlite3.connect(lake / "_ledger" / "ledger.sqlite") as con:
        con.execute("PRAGMA user_version = 99")
    with pytest.raises(LakeError, match="newer flowsleuth"):
        ingest([str(src)], lake)
    with pytest.raises(LakeError, match="schema version 99"):
        open_lake(lake)
    assert main(["ingest", "--source", str(src), "--lake", str(lake)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "newer flowsleuth" in err[0]


def test_a_version_1_ledger_is_upgraded_and_its_failures_retried_once(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    five_minute_runs(src, lake, 1)
    put_local(src, flow_key(T0, i=903), b"\x1f\x8b broken")
    ingest([str(src)], lake, workers=1)
    with sqlite3.connect(lake / "_ledger" / "ledger.sqlite") as con:  # what version 1 wrote
        for col in ("failure", "first_failed_at", "attempts", "retry_after"):
            con.execute(f"ALTER TABLE objects DROP COLUMN {col}")
        con.execute("PRAGMA user_version = 0")
    first = ingest([str(src)], lake, workers=1)
    assert first.objects_failed == 1 and first.get_requests == 1
    second = ingest([str(src)], lake, workers=1)
    assert (second.get_requests, second.objects_failed_known) == (0, 1)


def test_full_disk_during_a_write_is_one_line_and_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow.parquet as pq

    src, lake = tmp_path / "src", tmp_path / "lake"
    five_minute_runs(src, lake, 2)
    before = lake_rows(lake)
    for i in range(2, 5):
        t = T0 + timedelta(minutes=5 * i)
        put_local(src, flow_key(t, i=i), flow_log_bytes(30, t, seed=i))
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:  # every way the writer writes Parquet: whole files and row groups
        m.setattr(pq, "write_table", full)
        m.setattr(pq.ParquetWriter, "write_table", full)
        assert main(["ingest", "--source", str(src), "--lake", str(lake), "--workers", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left" in err[0].lower() and "nothing committed was lost" in err[0]
    assert lake_rows(lake) == before
    assert not list((lake / "_tmp").glob("*")) if (lake / "_tmp").exists() else True  # nothing staged left behind
    summary = ingest([str(src)], lake, workers=1)
    assert summary.objects_done == 3 and len(lake_rows(lake)) == len(before) + 90


def test_split_partitions_single_hour_shortcut_agrees_with_the_row_by_row_hours() -> None:
    """Objects without null event times within one hour skip the per-row hour arithmetic; every
    table still lands where its rows' own (fallback-coalesced) hours put it."""
    import random
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa

    from pipeline.lake.partition import event_span, fallback_column, partition_times, split_partitions
    from pipeline.schema import UTC_TS

    rnd = random.Random(7)
    base = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    for _ in range(200):
        n = rnd.randrange(1, 30)
        spread = rnd.choice([0, 59, 3599, 3600, 7200])
        offset = rnd.choice([0, 1, 3599, 1800])
        starts = [
            None if rnd.random() < rnd.choice([0, 0, 0.2]) else base + timedelta(seconds=offset + rnd.randrange(spread + 1))
            for _ in range(n)
        ]
        ends = [None if rnd.random() < 0.3 else base + timedelta(hours=rnd.randrange(3)) for _ in range(n)]
        data = pa.table({"start_time": pa.array(starts, UTC_TS), "end_time": pa.array(ends, UTC_TS), "i": list(range(n))})
        fallback = fallback_column([(n, base + timedelta(hours=5))])
        got = [(d, h, part.column("i").to_pylist()) for d, h, part in split_partitions("vpc_flow", data, lambda f=fallback: f)]
        spanned = split_partitions("vpc_flow", data, fallback, span=event_span("vpc_flow", data))
        assert got == [(d, h, part.column("i").to_pylist()) for d, h, part in spanned]
        times = partition_times("vpc_flow", data, fallback).to_pylist()
        want: dict[tuple[str, str], list[int]] = {}
        for i, t in enumerate(times):
            want.setdefault((f"{t:%Y-%m-%d}", f"{t:%H}"), []).append(i)
        assert got == [(d, h, rows) for (d, h), rows in sorted(want.items())], (starts, ends)


def test_split_objects_counts_each_objects_rows_in_every_partition() -> None:
    """Several objects' rows split at once: each part holds exactly the rows the row-by-row
    hours (with each object's own fallback time) put there, and ``share`` counts whose they are."""
    import random
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa

    from pipeline.lake.partition import event_span, fallback_column, partition_times, split_objects
    from pipeline.schema import UTC_TS

    rnd = random.Random(11)
    base = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    for _ in range(200):
        counts = [rnd.randrange(1, 12) for _ in range(rnd.randrange(1, 6))]
        n = sum(counts)
        spread = rnd.choice([0, 3599, 7200])
        null_share = rnd.choice([0, 0, 0.3])
        starts = [None if rnd.random() < null_share else base + timedelta(seconds=rnd.randrange(spread + 1)) for _ in range(n)]
        data = pa.table({"start_time": pa.array(starts, UTC_TS), "i": list(range(n))})
        own = [base + timedelta(hours=rnd.randrange(2, 6)) for _ in counts]  # each object's file time
        fallback = fallback_column(list(zip(counts, own, strict=True)))
        owner = [k for k, c in enumerate(counts) for _ in range(c)]
        times = partition_times("vpc_flow", data, fallback).to_pylist()
        want: dict[tuple[str, str], list[int]] = {}
        for i, t in enumerate(times):
            want.setdefault((f"{t:%Y-%m-%d}", f"{t:%H}"), []).append(i)
        for span in (None, event_span("vpc_flow", data)):
            got = split_objects("vpc_flow", data, counts, lambda f=fallback: f, span=span)
            assert [(d, h, part.column("i").to_pylist()) for d, h, part, _ in got] == [
                (d, h, rows) for (d, h), rows in sorted(want.items())
            ], (counts, starts, own)
            for _, _, part, share in got:
                rows = part.column("i").to_pylist()
                assert share == [sum(1 for r in rows if owner[r] == k) for k in range(len(counts))]
