"""Merging logs, files and snapshots; snapshot directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.topology import LB, example_topology

from pipeline.errors import UsageError
from pipeline.topology.lookup import Resolver
from pipeline.topology.merge import merge
from pipeline.topology.model import Interface, LoadBalancer, Subnet, Topology
from pipeline.topology.snapshots import load_snapshots, save_snapshot


def logs_topology() -> Topology:
    return Topology(
        taken_at="2026-11-26T03:00:00Z", source="logs",
        subnets=[Subnet("subnet-pubB", "", az_id="use1-az2", vpc_id="vpc-1", confidence=0.95, source="logs"),
                 Subnet("subnet-logsonly", "", az_id="use1-az3", vpc_id="vpc-1", confidence=0.9, source="logs")],
        interfaces=[
            Interface("eni-albB", "10.0.2.20", "unknown", "subnet-pubB", az_id="use1-az2", confidence=0.5, source="logs"),
            Interface("eni-nat", "10.0.0.220", "nat", "subnet-pubA", confidence=0.9, source="logs"),
            Interface("eni-extra", "10.0.7.7", "instance", "subnet-logsonly", resource_id="i-9", confidence=0.95, source="logs"),
        ],
        load_balancers=[LoadBalancer(LB, ["10.0.2.20", "10.0.4.4"], ["subnet-pubB"])],
    )  # fmt: skip


@pytest.mark.parametrize("order", [0, 1])
def test_snapshot_beats_logs_per_field_with_provenance(order: int) -> None:
    parts = [logs_topology(), example_topology()]
    m = merge(*(parts if order == 0 else parts[::-1]))
    ifs = {i.interface_id: i for i in m.interfaces}
    assert (ifs["eni-albB"].kind, ifs["eni-albB"].source, ifs["eni-albB"].confidence) == ("alb", "api", 1.0)
    assert ifs["eni-albB"].az == "us-east-1b"
    assert ifs["eni-nat"].source == "api" and ifs["eni-nat"].public_ip == "52.1.2.3"
    assert (ifs["eni-extra"].source, ifs["eni-extra"].confidence) == ("logs", 0.95)  # only the logs know it
    subnets = {s.subnet_id: s for s in m.subnets}
    assert (subnets["subnet-pubB"].cidr, subnets["subnet-pubB"].source) == ("10.0.2.0/24", "api")
    assert subnets["subnet-logsonly"].source == "logs" and subnets["subnet-logsonly"].cidr == ""
    assert m.source == "api" and m.taken_at == "2026-11-26T01:00:00Z"  # the snapshot, not the inference
    assert [rt.route_table_id for rt in m.route_tables] == ["rtb-main", "rtb-nat", "rtb-priv", "rtb-pub"]
    (lb,) = m.load_balancers
    assert lb.node_ips == ["10.0.0.10", "10.0.2.20", "10.0.4.4"]


def test_logs_fill_what_the_snapshot_lacks() -> None:
    snap = Topology(source="file", interfaces=[Interface("eni-q", "10.0.5.5", "unknown")])
    logs = Topology(source="logs", interfaces=[Interface("eni-q", "10.0.5.5", "nat", "subnet-x", az_id="use1-az1", confidence=0.9, source="logs")])
    (i,) = merge(snap, logs).interfaces
    assert (i.kind, i.subnet_id, i.az_id) == ("nat", "subnet-x", "use1-az1")
    assert (i.source, i.confidence) == ("logs", 0.9)  # the kind came from the logs: say so


def _snap(taken_at: str, *interfaces: Interface) -> Topology:
    return Topology(taken_at=taken_at, source="api", interfaces=list(interfaces))


def test_newer_snapshot_wins_old_addresses_kept(tmp_path: Path) -> None:
    old = _snap("2026-11-20T00:00:00Z", Interface("eni-a", "10.0.1.10", "instance"), Interface("eni-gone", "10.0.1.11", "instance", resource_id="i-old"))
    new = _snap("2026-11-25T00:00:00Z", Interface("eni-a", "10.0.1.20", "instance"), Interface("eni-b", "10.0.1.11", "alb"))
    d = tmp_path / "snaps"
    paths = [save_snapshot(new, d), save_snapshot(old, d)]
    assert [p.name for p in paths] == ["topology-20261125T000000Z.json", "topology-20261120T000000Z.json"]
    m = load_snapshots(d)
    ifs = {i.interface_id: i for i in m.interfaces}
    assert ifs["eni-a"].private_ip == "10.0.1.20" and ifs["eni-a"].previous_ips == ["10.0.1.10"]
    assert ifs["eni-a"].seen_at == "2026-11-25T00:00:00Z"
    assert "eni-gone" in ifs  # deleted interfaces still resolve old records
    r = Resolver(m)
    assert r.address("10.0.1.10").interface_id == "eni-a"  # type: ignore[union-attr]
    assert r.address("10.0.1.11").interface_id == "eni-b"  # type: ignore[union-attr]  (newest holder)


def test_snapshot_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_snapshots(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert load_snapshots(tmp_path / "empty").interfaces == []


def test_merge_does_not_mutate_inputs() -> None:
    a, b = example_topology(), logs_topology()
    before = (a.to_dict(), b.to_dict())
    merge(a, b)
    assert (a.to_dict(), b.to_dict()) == before
