"""Key recognition, time-window parsing and folder pruning (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fixtures.s3server import T0, alb_key, flow_key, put_local

from pipeline.errors import UsageError
from pipeline.sources import KeyInfo, LocalSource, Skip, TimeWindow, classify_key, discover, parse_time


def test_flow_plain_hourly_and_hive_layouts() -> None:
    for key in (
        flow_key(T0, prefix="org/logs/"),
        flow_key(T0, hourly=True),
        flow_key(T0, hive=True),
        flow_key(T0, hive=True, hourly=True),
        flow_key(T0, ext=".log.parquet"),
    ):
        info = classify_key(key)
        assert isinstance(info, KeyInfo), (key, info)
        assert info.table == "vpc_flow" and info.account == "123456789012" and info.region == "us-east-1"
        assert info.file_time == T0
    assert classify_key(flow_key(T0, ext=".log.parquet")).fmt == "parquet"  # type: ignore[union-attr]
    assert classify_key(flow_key(T0, hourly=True)).hourly  # type: ignore[union-attr]


def test_alb_access_and_connection_names_keep_node_ip_and_load_balancer() -> None:
    info = classify_key(alb_key(T0, node_ip="172.160.001.192"))
    assert isinstance(info, KeyInfo)
    assert (info.table, info.node_ip, info.load_balancer) == ("alb_access", "172.160.1.192", "app.web.0123456789abcdef")
    for conn_key in (alb_key(T0, conn=True), alb_key(T0, conn=True).replace("conn_log_", "conn_log.")):
        conn = classify_key(conn_key)
        assert isinstance(conn, KeyInfo) and conn.table == "alb_connection"


@pytest.mark.parametrize(
    "key",
    [
        "AWSLogs/123456789012/ELBAccessLogTestFile",
        "README.txt",
        "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/notes.txt",
        "AWSLogs/123456789012/cloudtrail/us-east-1/2024/05/01/x.json.gz",
        # network / classic load balancers share the folder but not our format
        "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/05/01/"
        "123456789012_elasticloadbalancing_us-east-1_net.lb.0123456789abcdef_20240501T1000Z_1a2b3c4d.log.gz",
        "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/05/01/"
        "123456789012_elasticloadbalancing_us-east-1_my-classic_20240501T1000Z_10.0.0.1_abc.log",
        # path tricks never become KeyInfo
        "AWSLogs/../../etc/vpcflowlogs/us-east-1/2024/05/01/x.log.gz",
        "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/../../../"
        "123456789012_vpcflowlogs_us-east-1_fl-1_20240501T1000Z_ab.log.gz",
        "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/13/01/"
        "123456789012_vpcflowlogs_us-east-1_fl-1_20240501T1000Z_ab.log.gz",
        "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/"
        "999999999999_vpcflowlogs_us-east-1_fl-1_20240501T1000Z_ab.log.gz",  # account mismatch
        "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/"
        "123456789012_vpcflowlogs_us-east-1_fl-1_20240501T1000Z_ab\u202e.log.gz",  # odd unicode
        "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/",
    ],
)
def test_non_logs_are_skipped_with_a_reason(key: str) -> None:
    result = classify_key(key)
    assert isinstance(result, Skip) and result.reason


def test_parse_time_assumes_utc_and_rejects_garbage() -> None:
    assert parse_time("2024-05-01T10:00", name="--since") == T0
    assert parse_time("2024-05-01T12:00+02:00", name="--since") == T0
    assert parse_time("2024-05-01T10:00:00Z", name="--since") == T0
    assert parse_time("2024-05-01", name="--since") == datetime(2024, 5, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match="--until"):
        parse_time("yesterday", name="--until")
    with pytest.raises(UsageError):
        TimeWindow(T0, T0 - timedelta(hours=1))


def test_window_keeps_late_deliveries_within_margin() -> None:
    w = TimeWindow(T0, T0 + timedelta(hours=1), late_margin=timedelta(hours=2))
    assert w.keeps_delivery(T0 + timedelta(hours=2, minutes=59))
    assert not w.keeps_delivery(T0 + timedelta(hours=3, minutes=1))
    assert w.keeps_delivery(T0 - timedelta(minutes=59))
    assert not w.keeps_delivery(T0 - timedelta(hours=2))


class _CountingLister(LocalSource):
    def __init__(self, path: object) -> None:
        super().__init__(path)  # type: ignore[arg-type]
        self.listed: list[str] = []

    def list_dir(self, prefix: str):  # type: ignore[no-untyped-def]
        self.listed.append(prefix)
        return super().list_dir(prefix)


def test_discovery_lists_only_needed_day_and_hour_folders(tmp_path) -> None:  # type: ignore[no-untyped-def]
    days = [T0 + timedelta(days=d) for d in range(-10, 11)]
    for d in days:
        for h in (0, 10, 23):
            t = d.replace(hour=h)
            put_local(tmp_path, flow_key(t, hourly=True), b"")
            put_local(tmp_path, flow_key(t, hive=True, hourly=True), b"")
        put_local(tmp_path, alb_key(d), b"")
    src = _CountingLister(tmp_path)
    window = TimeWindow(T0, T0 + timedelta(minutes=30))
    refs = list(discover(src, "", window))
    day_folders = {p for p in src.listed if p.count("/") >= 7}
    # only 2024/05/01 (and its hours 10 and near) are listed, never other days
    assert all("/2024/05/01/" in p or "day=01/" in p for p in day_folders), day_folders
    assert not any(p.endswith("/00/") or p.endswith("hour=00/") for p in src.listed)
    keys = {r.key for r in refs}
    assert flow_key(T0, hourly=True) in keys and flow_key(T0, hive=True, hourly=True) in keys
    assert alb_key(T0) in keys
    assert not any("/2024/05/02/" in k or "/2024/04/30/" in k for k in keys)
    # unbounded: everything
    assert len(list(discover(LocalSource(tmp_path), "", TimeWindow()))) == len(days) * 7
