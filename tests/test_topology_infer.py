"""Inference of interfaces, kinds and subnets from the logs alone."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from fixtures.lake import make_lake
from fixtures.topology_rows import ALB_A, NAT, T0, alb, flow, network_rows

from pipeline.db import open_lake
from pipeline.topology.infer import infer_from_lake
from pipeline.topology.model import Topology


def infer(tmp_path: Path, **tables: Any) -> Topology:
    lake = make_lake(tmp_path / "lake", **tables)
    con = open_lake(lake, threads=1, memory_limit="1GB")
    return infer_from_lake(con)


def by_id(topo: Topology) -> dict[str, Any]:
    return {i.interface_id: i for i in topo.interfaces}


def test_kinds_addresses_and_subnets(tmp_path: Path) -> None:
    topo = infer(tmp_path, vpc_flow=network_rows(), alb_access=[alb("10.0.0.10", "10.0.1.5")])
    ifs = by_id(topo)
    assert topo.source == "logs"
    assert (ifs["eni-nat"].kind, ifs["eni-nat"].private_ip) == ("nat", "10.0.0.220")
    assert ifs["eni-nat"].confidence >= 0.85
    assert (ifs["eni-inst"].kind, ifs["eni-inst"].private_ip, ifs["eni-inst"].resource_id) == ("instance", "10.0.1.5", "i-0123")
    # node_ip evidence: ALB with high confidence and the load balancer named.
    assert (ifs["eni-albA"].kind, ifs["eni-albA"].private_ip) == ("alb", "10.0.0.10")
    assert ifs["eni-albA"].resource_id == "app/web/50dc6c495c0c9188"
    # No node_ip for B, but it talks to an ALB target on the target port: ALB, lower confidence.
    assert ifs["eni-albB"].kind == "alb" and ifs["eni-albB"].confidence < ifs["eni-albA"].confidence
    assert all(i.source == "logs" for i in topo.interfaces)
    subnets = {s.subnet_id: s for s in topo.subnets}
    assert set(subnets) == {"subnet-pubA", "subnet-pubB", "subnet-privA"}
    assert subnets["subnet-pubB"].az_id == "use1-az2" and subnets["subnet-pubB"].az is None
    assert subnets["subnet-pubB"].cidr == ""
    assert topo.vpc_ids == ["vpc-1"]
    (lb,) = topo.load_balancers
    assert lb.name == "app/web/50dc6c495c0c9188" and lb.node_ips == ["10.0.0.10"] and lb.subnet_ids == ["subnet-pubA"]
    assert topo.extra["gateway_endpoint_use"] == [
        {"subnet_id": "subnet-privA", "vpc_id": "vpc-1", "service": "S3", "flows": 1}
    ]


def test_instance_with_no_relay_is_not_nat(tmp_path: Path) -> None:
    rows = [flow("eni-x", "10.0.3.3", "203.0.113.9", vpc_id="vpc-1")]
    topo = infer(tmp_path, vpc_flow=rows)
    assert by_id(topo)["eni-x"].kind == "unknown"


def test_interface_type_v11_wins(tmp_path: Path) -> None:
    rows = [flow("eni-e", "10.0.1.5", "10.0.4.4", version=11, interface_type="vpc_endpoint", **NAT)]
    rows.append(flow("eni-e", "10.0.6.6", "10.0.4.4", version=11, interface_type="vpc_endpoint", **NAT))
    topo = infer(tmp_path, vpc_flow=rows)
    e = by_id(topo)["eni-e"]
    assert (e.kind, e.private_ip) == ("endpoint", "10.0.4.4")


def test_v2_only_logs_give_addresses_but_no_subnets(tmp_path: Path) -> None:
    keep = ("version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
            "packets", "bytes", "start", "end", "action", "log_status")  # fmt: skip
    rows = [{k: v for k, v in r.items() if k in keep} | {"version": 2} for r in network_rows()]
    topo = infer(tmp_path, vpc_flow=rows, alb_access=[alb("10.0.0.10", "10.0.1.5")])
    ifs = by_id(topo)
    assert topo.subnets == []
    assert ifs["eni-albA"].kind == "alb" and ifs["eni-albA"].private_ip == "10.0.0.10"
    assert ifs["eni-inst"].private_ip == "10.0.1.5"
    assert ifs["eni-nat"].kind != "nat"  # no packet-level fields: relaying is invisible


def test_alb_only_lake(tmp_path: Path) -> None:
    topo = infer(tmp_path, alb_access=[alb("10.0.0.10", "10.0.1.5"), alb("10.0.2.20", "10.0.1.5")])
    assert topo.interfaces == [] and topo.subnets == []
    assert topo.load_balancers[0].node_ips == ["10.0.0.10", "10.0.2.20"]


def test_empty_lake(tmp_path: Path) -> None:
    topo = infer(tmp_path)
    assert (topo.interfaces, topo.subnets, topo.load_balancers) == ([], [], [])


def test_tgw_flow_log_enis(tmp_path: Path) -> None:
    row = {
        "version": 6, "resource_type": "TransitGateway", "account_id": "123456789012", "tgw_id": "tgw-1",
        "tgw_attachment_id": "tgw-attach-1", "tgw_src_eni": "eni-tgw1", "tgw_src_subnet_id": "subnet-tgwA",
        "tgw_src_az_id": "use1-az1", "tgw_src_vpc_id": "vpc-1", "srcaddr": "10.0.1.5", "dstaddr": "10.20.0.5",
        "start": T0, "end": T0 + 60,
    }  # fmt: skip
    topo = infer(tmp_path, vpc_flow=[row])
    t = by_id(topo)["eni-tgw1"]
    assert (t.kind, t.subnet_id, t.az_id, t.private_ip, t.resource_id) == ("tgw", "subnet-tgwA", "use1-az1", "", "tgw-attach-1")
    assert [s.subnet_id for s in topo.subnets] == ["subnet-tgwA"]


@pytest.mark.parametrize("n", [200])
def test_scales_by_group_by(tmp_path: Path, n: int) -> None:
    rows = [flow(f"eni-{i % 20}", f"10.0.9.{i % 20}", f"203.0.113.{i % 250}", instance_id=f"i-{i % 20}", **ALB_A) for i in range(n)]
    topo = infer(tmp_path, vpc_flow=rows)
    assert len(topo.interfaces) == 20
    assert {i.private_ip for i in topo.interfaces} == {f"10.0.9.{k}" for k in range(20)}


def test_interface_endpoint_by_https_only_service(tmp_path: Path) -> None:
    rows = []
    for i, client in enumerate(("10.0.1.5", "10.0.1.6")):
        rows.append(flow("eni-ep", client, "10.0.1.40", sport=40000 + i, dport=443, flow_direction="ingress", **NAT))
        rows.append(flow("eni-ep", "10.0.1.40", client, sport=443, dport=40000 + i, flow_direction="egress", **NAT))
    rows.append(flow("eni-web", "198.51.100.1", "10.0.1.41", dport=443, flow_direction="ingress", **NAT))  # public client
    rows.append(flow("eni-web", "10.0.1.41", "198.51.100.1", sport=443, dport=40000, flow_direction="egress", **NAT))
    ifs = by_id(infer(tmp_path, vpc_flow=rows))
    assert (ifs["eni-ep"].kind, ifs["eni-ep"].private_ip, ifs["eni-ep"].confidence) == ("endpoint", "10.0.1.40", 0.6)
    assert ifs["eni-web"].kind == "unknown"


def test_time_window_limits_the_records_read(tmp_path: Path) -> None:
    from datetime import datetime

    early = flow("eni-early", "10.0.3.3", "203.0.113.9", instance_id="i-early", **ALB_A)
    late = flow("eni-late", "10.0.3.4", "203.0.113.9", instance_id="i-late", start=T0 + 7200, end=T0 + 7260, **ALB_A)
    con = open_lake(make_lake(tmp_path / "lake", vpc_flow=[early, late]), threads=1, memory_limit="1GB")
    cut = datetime.fromtimestamp(T0 + 3600, tz=UTC)
    assert [i.interface_id for i in infer_from_lake(con, since=cut).interfaces] == ["eni-late"]
    assert [i.interface_id for i in infer_from_lake(con, until=cut).interfaces] == ["eni-early"]
    assert len(infer_from_lake(con).interfaces) == 2


def test_times_are_event_times_and_deterministic(tmp_path: Path) -> None:
    rows = network_rows()
    a = infer(tmp_path / "a", vpc_flow=rows)
    b = infer(tmp_path / "b", vpc_flow=rows)
    assert a == b
    assert a.taken_at == "2025-11-26T00:01:00Z"  # T0 + 60: the last record's end
    assert {i.seen_at for i in a.interfaces} == {"2025-11-26T00:01:00Z"}
