"""return_traffic_reject: replies from a service port to ephemeral ports REJECTed in one subnet."""

from __future__ import annotations

import random
from pathlib import Path

from fixtures.flow_world import Env, Recorder, background, detect_on, eph, iso_minute, make_env, minute, public_ip

DET = "return_traffic_reject"


def nacl_ephemeral_rows(env: Env, subnet_id: str, m0: int, m1: int, *, port: int | None = None, seed: int = 1) -> list[dict]:
    """ALB nodes reach the targets of one subnet (ACCEPT in), the targets' replies are REJECTed out."""
    rng = random.Random(seed)
    rec = Recorder(env, rng, False)
    port = port or env.app_port
    for m in range(m0, m1):
        for node in env.alb_nodes:
            for target in [t for t in env.targets if t.subnet_id == subnet_id]:
                for _ in range(2):
                    cport = rng.randrange(1024, 65536)
                    rec.record(target, node.ip, target.ip, cport, port, t=minute(m), packets=3, nbytes=400, flags=2, direction="ingress")
                    rec.record(target, target.ip, node.ip, port, cport, t=minute(m), packets=3, nbytes=400, flags=18, action="REJECT")
    return rec.rows


def test_fires_on_missing_ephemeral_rule_in_one_subnet(tmp_path: Path) -> None:
    env = make_env(31)
    flows, alb = background(env, hours=2.5)
    bad = env.targets[4]
    result = detect_on(tmp_path / "lake", flows + nacl_ephemeral_rows(env, bad.subnet_id, 90, 120), alb, DET)
    assert len(result.findings) == 1, [f.summary for f in result.findings]
    f = result.findings[0]
    assert f.entity["subnet_id"] == bad.subnet_id and f.entity["az_id"] == bad.az_id
    assert f.entity["srcport"] == str(env.app_port)
    assert "srcaddr" not in f.entity  # two servers in the subnet: none dominates
    assert f.window_start == iso_minute(90) and f.window_end >= iso_minute(115)
    assert f.evidence["servers"] == 2 and f.evidence["peers"] == len(env.alb_nodes)
    assert "az_5xx_spike" in f.hint


def _net24(ip: str) -> str:
    return ".".join(ip.split(".")[:3]) + ".0/24"


def test_fires_on_v2_only_logs_once_per_network_and_port(tmp_path: Path) -> None:
    """No subnet_id in v2 and no topology: the servers' /24 and port stand in for the subnet,
    so one NACL gives one finding (not one per interface)."""
    env = make_env(32)
    flows, alb = background(env, hours=2.5, v2_only=True)
    bad = env.targets[0]
    rows = [{k: v for k, v in r.items() if k in flows[0]} for r in nacl_ephemeral_rows(env, bad.subnet_id, 100, 110, port=443)]
    result = detect_on(tmp_path / "lake", flows + rows, alb, DET)
    assert [(f.entity.get("src_net"), f.entity["srcport"]) for f in result.findings] == [(_net24(bad.ip), "443")], [
        f.entity for f in result.findings
    ]
    f = result.findings[0]
    assert "subnet_id" not in f.entity and "interface_id" not in f.entity and f.evidence["servers"] == 2


def test_v2_only_logs_with_topology_name_the_subnet(tmp_path: Path) -> None:
    """v2 flow logs carry no subnet_id, but the topology knows each interface's subnet and AZ."""
    from pipeline.topology.model import Interface, Subnet, Topology

    env = make_env(34)
    flows, alb = background(env, hours=2.5, v2_only=True)
    bad = env.targets[2]
    rows = [{k: v for k, v in r.items() if k in flows[0]} for r in nacl_ephemeral_rows(env, bad.subnet_id, 100, 110, port=443)]
    topo = Topology(
        subnets=[Subnet(subnet_id=sid, cidr=cidr, az_id=next(h.az_id for h in env.targets + env.alb_nodes if h.subnet_id == sid))
                 for sid, cidr in env.subnets.items() if any(h.subnet_id == sid for h in env.targets + env.alb_nodes)],
        interfaces=[Interface(interface_id=h.eni, private_ip=h.ip, kind=h.kind, subnet_id=h.subnet_id) for h in env.targets + env.alb_nodes],
    )
    result = detect_on(tmp_path / "lake", flows + rows, alb, DET, topology=topo)
    assert [(f.entity.get("subnet_id"), f.entity.get("az_id"), f.entity["srcport"]) for f in result.findings] == [
        (bad.subnet_id, bad.az_id, "443")
    ]


def test_fires_when_the_data_starts_shortly_before_the_fault(tmp_path: Path) -> None:
    """docs/evaluation.md's trimmed nacl_ephemeral: data from 16 minutes before the fault;
    REJECTed replies per window 19, 30, 30, ... never reached 4x a baseline they inflated."""
    env = make_env(35)
    flows, alb = background(env, hours=1.0)
    bad = env.targets[4]
    rows = nacl_ephemeral_rows(env, bad.subnet_id, 16, 45)
    result = detect_on(tmp_path / "lake", flows + rows, alb, DET)
    assert [f.entity["subnet_id"] for f in result.findings] == [bad.subnet_id], [f.summary for f in result.findings]
    assert result.findings[0].window_start == iso_minute(15)
    assert result.findings[0].evidence["judged_by"] == "short history"


def test_ipv6_servers_are_ours_when_the_lake_shows_them_on_their_interface(tmp_path: Path) -> None:
    """A dual-stack target's replies from its VPC (global unicast) IPv6 address are REJECTed:
    no topology, but its own interface records the address as its side of the traffic."""
    env = make_env(36)
    flows, alb = background(env, hours=2.5)
    bad = env.targets[0]
    v6 = "2600:1f18:4a3:6e00::1c"
    rng = random.Random(8)
    rec = Recorder(env, rng, False)
    for m in range(90, 110):
        for _ in range(4):
            client, cport = "2a02:8108:1:2::" + format(rng.randrange(1, 4096), "x"), rng.randrange(1024, 65536)
            rec.record(bad, client, v6, cport, 443, t=minute(m), packets=3, nbytes=400, flags=2, direction="ingress")
            rec.record(bad, v6, client, 443, cport, t=minute(m), packets=3, nbytes=400, flags=18, action="REJECT", direction="egress")
    result = detect_on(tmp_path / "lake", flows + rec.rows, alb, DET, infer_topology=False)
    assert [(f.entity["subnet_id"], f.entity["srcport"]) for f in result.findings] == [(bad.subnet_id, "443")]


def test_silent_on_rejected_initiations_and_unproven_high_ports(tmp_path: Path) -> None:
    """Outbound REJECTs from ephemeral ports (a deny, not replies) and a high source port the
    address never served on do not count as return traffic."""
    env = make_env(33)
    flows, alb = background(env, hours=2.5)
    rng = random.Random(4)
    rec = Recorder(env, rng, False)
    inst = env.targets[2]
    dst = public_ip(rng)
    for m in range(90, 110):
        for _ in range(5):
            rec.record(inst, inst.ip, dst, eph(rng), 443, t=minute(m), packets=2, nbytes=120, flags=2, action="REJECT")
            rec.record(inst, inst.ip, dst, 45000, eph(rng), t=minute(m), packets=2, nbytes=120, flags=2, action="REJECT")
    assert detect_on(tmp_path / "lake", flows + rec.rows, alb, DET).findings == []
