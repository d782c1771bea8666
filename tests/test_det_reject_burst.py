"""reject_burst: must fire on a sudden outbound deny, stay silent on scanners and steady noise."""

from __future__ import annotations

import random
from pathlib import Path

from background import Recorder, background, detect_on, eph, iso_minute, make_env, minute, public_ip

DET = "reject_burst"


def deny_rows(env, dst: str, m0: int, m1: int, *, port: int = 443, hosts=None, per_min: int = 2, seed: int = 1):  # type: ignore[no-untyped-def]
    """Instances' connections to ``dst`` REJECTed at their own interfaces (an outbound NACL deny)."""
    rng = random.Random(seed)
    rec = Recorder(env, rng, False)
    for m in range(m0, m1):
        for inst in hosts or env.targets:
            for _ in range(per_min):
                rec.record(inst, inst.ip, dst, eph(rng), port, t=minute(m), packets=3, nbytes=180, flags=2, action="REJECT")
    return rec.rows


def test_fires_on_outbound_deny_to_one_destination(tmp_path: Path) -> None:
    env = make_env(21)
    flows, alb = background(env, hours=2.5)
    dst = public_ip(random.Random(99))
    result = detect_on(tmp_path / "lake", flows + deny_rows(env, dst, 90, 120), alb, DET)
    hits = [f for f in result.findings if f.entity.get("dstaddr") == dst]
    assert len(hits) == 1, [f.summary for f in result.findings]
    f = hits[0]
    assert f.entity["dstport"] == "443"
    assert f.window_start == iso_minute(90)
    assert iso_minute(95) <= f.window_end <= iso_minute(125)
    assert f.evidence["sources"] == len(env.targets)
    assert f.evidence["samples"] and "source_uri" in f.evidence["samples"][0]
    assert len(result.findings) == 1


def test_fires_for_one_host_and_names_its_interface(tmp_path: Path) -> None:
    env = make_env(22)
    flows, alb = background(env, hours=2.5)
    inst = env.targets[3]
    rows = deny_rows(env, "2001:db8:ffff::53", 100, 115, port=53, hosts=[inst], per_min=3)
    f = detect_on(tmp_path / "lake", flows + rows, alb, DET).findings
    assert [(x.entity["dstaddr"], x.entity.get("interface_id"), x.entity.get("subnet_id")) for x in f] == [
        ("2001:db8:ffff::53", inst.eni, inst.subnet_id)
    ]


def test_silent_on_scanner_burst_and_steady_deny(tmp_path: Path) -> None:
    """One internet scanner sweeping a node hard, plus a deny that has been in place all along."""
    env = make_env(23)
    flows, alb = background(env, hours=2.5)
    rng = random.Random(5)
    rec = Recorder(env, rng, False)
    node = env.alb_nodes[1]
    scanner = public_ip(rng)
    for m in range(95, 100):
        for port in rng.sample(range(1, 65536), 200):
            rec.record(node, scanner, node.ip, rng.randrange(1024, 65536), port, t=minute(m), packets=1, nbytes=44,
                       flags=2, action="REJECT", direction="ingress")  # fmt: skip
    steady = deny_rows(env, public_ip(rng), 0, 150, per_min=1)
    result = detect_on(tmp_path / "lake", flows + rec.rows + steady, alb, DET)
    assert result.findings == []


def test_silent_on_internal_port_scan(tmp_path: Path) -> None:
    """A scan spreads over many ports: port_scan's job, not a deny."""
    env = make_env(24)
    flows, alb = background(env, hours=2.5)
    rng = random.Random(3)
    rec = Recorder(env, rng, False)
    src = env.targets[0]
    for m in range(100, 103):
        for port in range(1, 200):
            rec.record(src, src.ip, env.targets[1].ip, eph(rng), port, t=minute(m), packets=1, nbytes=44, flags=2, action="REJECT")
    assert detect_on(tmp_path / "lake", flows + rec.rows, alb, DET).findings == []


def test_fires_on_v2_only_logs_even_without_log_status(tmp_path: Path) -> None:
    """v2 fields only, in a custom format that also leaves out log-status."""
    env = make_env(25)
    flows, alb = background(env, hours=2.5, v2_only=True)
    flows = [{k: v for k, v in r.items() if k != "log_status"} for r in flows if r.get("log_status") == "OK"]
    dst = public_ip(random.Random(7))
    rows = [{k: v for k, v in r.items() if k in flows[0]} for r in deny_rows(env, dst, 90, 110)]
    result = detect_on(tmp_path / "lake", flows + rows, alb, DET)
    assert [f.entity["dstaddr"] for f in result.findings] == [dst]
    assert result.notes == []


def test_ipv6_sources_count_as_ours_when_the_topology_names_them(tmp_path: Path) -> None:
    """VPC IPv6 addresses are global unicast: only the topology can say they are ours."""
    from pipeline.topology.model import Interface, Topology

    env = make_env(26)
    flows, alb = background(env, hours=2.5)
    inst = env.targets[2]
    v6 = "2600:1f18:4a3:6e00::1c"
    rng = random.Random(4)
    rec = Recorder(env, rng, False)
    for m in range(100, 115):
        for _ in range(3):
            rec.record(inst, v6, "2606:4700:4700::1111", eph(rng), 443, t=minute(m), packets=3, nbytes=240, flags=2, action="REJECT")
    assert detect_on(tmp_path / "a", flows + rec.rows, alb, DET).findings == []
    topo = Topology(interfaces=[Interface(interface_id=inst.eni, private_ip=v6, kind="instance", subnet_id=inst.subnet_id)])
    found = detect_on(tmp_path / "b", flows + rec.rows, alb, DET, topology=topo).findings
    assert [f.entity["dstaddr"] for f in found] == ["2606:4700:4700::1111"]
