"""`flowsleuth run` end to end on a local folder laid out like an S3 flow-log bucket.

Several scheduled runs over a growing bucket: a REJECT burst is ``new``, then
``ongoing`` while the lookback still covers it, then ``resolved`` once a run covers
its window without finding it; exit codes 0/1/2/3; the summary line; state.json.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.cli import main

T0 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)
ACCOUNT, REGION = "123456789012", "us-east-1"
HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
BURST_DST = "10.9.9.9"


def _object_key(start: datetime) -> str:
    d = start.strftime("%Y/%m/%d")
    stamp = start.strftime("%Y%m%dT%H%MZ")
    return f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/{d}/{ACCOUNT}_vpcflowlogs_{REGION}_fl-0123456789abcdef0_{stamp}_{start.minute:02d}ab12cd.log.gz"


def write_interval(bucket: Path, start: datetime, *, burst: bool = False) -> Path:
    """Five minutes of flow records: steady accepted traffic, plus a REJECT burst if asked."""
    lines = [HEADER]
    t = int(start.timestamp())
    for i in range(20):
        lines.append(f"2 {ACCOUNT} eni-0a 10.0.1.{10 + i % 5} 10.0.2.20 {40000 + i} 443 6 10 840 {t + i} {t + 60 + i} ACCEPT OK")
        lines.append(f"2 {ACCOUNT} eni-0b 10.0.2.20 10.0.1.{10 + i % 5} 443 {40000 + i} 6 10 9000 {t + i} {t + 60 + i} ACCEPT OK")
    if burst:
        for i in range(60):
            lines.append(f"2 {ACCOUNT} eni-0a 10.0.1.{10 + i % 8} {BURST_DST} {50000 + i} 443 6 1 60 {t + i} {t + 60 + i} REJECT OK")
    path = bucket / _object_key(start)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    return path


def fill(bucket: Path, first: int, last: int, *, burst_at: int | None = None) -> None:
    """Intervals ``first``..``last`` (in 5-minute steps after T0)."""
    for k in range(first, last + 1):
        write_interval(bucket, T0 + timedelta(minutes=5 * k), burst=k == burst_at)


def run(tmp: Path, *extra: str) -> int:
    return main(["run", "--source", str(tmp / "bucket"), "--lake", str(tmp / "lake"), "--out", str(tmp / "out"),
                 "--detector", "reject_burst", "--lookback", "2h", "--fail-on", "high", *extra])  # fmt: skip


def states(tmp: Path) -> list[tuple[str, str, str]]:
    data = json.loads((tmp / "out" / "findings.json").read_text())["findings"]
    return [(f["detector"], f["entity"].get("dstaddr", ""), f["state"]) for f in data]


def incident_states(tmp: Path) -> list[tuple[str, str]]:
    data = json.loads((tmp / "out" / "findings.json").read_text())["incidents"]
    return [(i["id"], i["state"]) for i in data]


def test_runs_track_state_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bucket = tmp_path / "bucket"
    fill(bucket, 0, 11, burst_at=9)  # 10:00-11:00, burst at 10:45

    assert run(tmp_path) == 3  # high finding, --fail-on high
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("flowsleuth run: 12 objects, ") and "(1 new, 0 ongoing, 0 resolved)" in line
    assert line.endswith(str(tmp_path / "out" / "report.html"))
    assert states(tmp_path) == [("reject_burst", BURST_DST, "new")]
    first_id = json.loads((tmp_path / "out" / "findings.json").read_text())["findings"][0]["id"]
    ((incident, state),) = incident_states(tmp_path)
    assert state == "new" and "1 incidents (1 new, 0 ongoing, 0 resolved)" in line
    for name in ("report.html", "report.md", "findings.csv", "state.json"):
        assert (tmp_path / "out" / name).exists(), name
    assert [f["id"] for f in json.loads((tmp_path / "out" / "state.json").read_text())["open"]] == [first_id]

    fill(bucket, 12, 15)  # late data; the 2h lookback re-scans the burst
    assert run(tmp_path) == 3
    assert "4 objects" in capsys.readouterr().out
    assert states(tmp_path) == [("reject_burst", BURST_DST, "ongoing")]
    assert json.loads((tmp_path / "out" / "findings.json").read_text())["findings"][0]["id"] == first_id  # stable id
    assert incident_states(tmp_path) == [(incident, "ongoing")]

    fill(bucket, 16, 17)  # the burst no longer qualifies under a stricter threshold: resolved, once
    assert run(tmp_path, "--param", "reject_burst.min_rejects=1000") == 0
    assert "(0 new, 0 ongoing, 1 resolved)" in capsys.readouterr().out
    assert "<td>1000</td>" in (tmp_path / "out" / "report.html").read_text()  # the value this run used
    assert states(tmp_path) == [("reject_burst", BURST_DST, "resolved")]
    assert incident_states(tmp_path) == [(incident, "resolved")]
    assert json.loads((tmp_path / "out" / "state.json").read_text())["open"] == []
    assert json.loads((tmp_path / "out" / "state.json").read_text())["open_incidents"] == []

    assert run(tmp_path) == 0  # nothing new: detection skipped, nothing emitted
    assert "flowsleuth run: 0 objects, 0 rows, 0 incidents" in capsys.readouterr().out
    assert "detection skipped" in (tmp_path / "out" / "report.md").read_text()


def test_failed_object_exits_1_and_still_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(tmp_path / "bucket", 0, 7)
    bad = tmp_path / "bucket" / _object_key(T0 + timedelta(minutes=40))
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"\x1f\x8b\x08\x00 this is not gzip")
    assert run(tmp_path) == 1
    assert "flowsleuth run: 8 objects" in capsys.readouterr().out
    assert (tmp_path / "out" / "report.html").exists()
    report = (tmp_path / "out" / "report.md").read_text()
    assert "failing \\(1 new this run\\)" in report and "corrupt gzip" in report
    # the next run does not fetch it again, lists it as known and does not alert again
    assert run(tmp_path) == 0
    assert "failed \\(known, terminal" in (tmp_path / "out" / "report.md").read_text()


def test_config_file_run_and_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(tmp_path / "bucket", 0, 11, burst_at=9)
    cfg = tmp_path / "flowsleuth.toml"
    cfg.write_text(
        'sources = ["bucket"]\nlake = "lake"\nout = "out"\nlookback = "2h"\nfail_on = "critical"\ndetectors = ["reject_burst"]\n'
    )
    assert main(["run", "--config", str(cfg)]) == 0  # high < critical
    capsys.readouterr()
    assert main(["run", "--config", str(cfg), "--fail-on", "medium", "--since", "2026-01-10T10:00:00Z"]) == 3  # flag wins
    capsys.readouterr()
    assert main(["run", "--config", str(cfg), "--detector", "no_such_detector"]) == 2
    assert "no_such_detector" in capsys.readouterr().err
