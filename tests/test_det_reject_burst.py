"""reject_burst: must fire on a sudden outbound deny, stay silent on scanners and steady noise."""

from __future__ import annotations

import random
from pathlib import Path

from fixtures.flow_world import Recorder, background, deny_rows, detect_on, eph, iso_minute, make_env, minute, public_ip

DET = "reject_burst"


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
    """VPC IPv6 addresses are global unicast: without flow-direction/instance-id (v3) only the
    topology can say they are ours."""
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
    rec.rows = [{**r, "flow_direction": None, "version": 3} for r in rec.rows]
    assert detect_on(tmp_path / "a", flows + rec.rows, alb, DET).findings == []
    topo = Topology(interfaces=[Interface(interface_id=inst.eni, private_ip=v6, kind="instance", subnet_id=inst.subnet_id)])
    found = detect_on(tmp_path / "b", flows + rec.rows, alb, DET, topology=topo).findings
    assert [f.entity["dstaddr"] for f in found] == ["2606:4700:4700::1111"]


# --- short history: the data starts shortly before the incident (docs/evaluation.md item 2) ---


def test_fires_when_the_data_starts_shortly_before_the_deny(tmp_path: Path) -> None:
    """One hour of data, the deny starts 17 minutes in: fewer than min_history_windows of
    history, and the burst must not inflate its own baseline once there is history."""
    env = make_env(27)
    flows, alb = background(env, hours=1.0)
    dst = public_ip(random.Random(31))
    result = detect_on(tmp_path / "lake", flows + deny_rows(env, dst, 17, 50), alb, DET)
    assert [f.entity["dstaddr"] for f in result.findings] == [dst], [f.summary for f in result.findings]
    f = result.findings[0]
    assert f.window_start == iso_minute(15) and f.window_end == iso_minute(50)
    assert f.evidence["judged_by"] == "short history" and f.evidence["history_windows"] == 3


def test_long_deny_is_one_finding_judged_before_it_started(tmp_path: Path) -> None:
    """A deny lasting longer than the baseline: one finding over its whole length."""
    env = make_env(28)
    flows, alb = background(env, hours=3.0)
    dst = public_ip(random.Random(32))
    result = detect_on(tmp_path / "lake", flows + deny_rows(env, dst, 40, 175), alb, DET)
    assert [(f.entity["dstaddr"], f.window_start, f.window_end) for f in result.findings] == [
        (dst, iso_minute(40), iso_minute(175))
    ]
    assert result.findings[0].evidence["judged_by"] == "baseline"


def test_silent_on_deny_present_since_the_first_window_of_a_short_dataset(tmp_path: Path) -> None:
    """Nothing before it to compare with: a deny as old as the data is not called a burst."""
    env = make_env(29)
    flows, alb = background(env, hours=1.0)
    steady = deny_rows(env, public_ip(random.Random(33)), 0, 60, per_min=2)
    assert detect_on(tmp_path / "lake", flows + steady, alb, DET).findings == []


def test_silent_on_small_burst_in_a_short_history(tmp_path: Path) -> None:
    """Below 2 x min_rejects per window with little history: not enough to call it."""
    env = make_env(30)
    flows, alb = background(env, hours=1.0)
    host = [env.targets[0]]
    rows = deny_rows(env, public_ip(random.Random(34)), 12, 30, hosts=host, per_min=3)  # 15 per window
    assert detect_on(tmp_path / "lake", flows + rows, alb, DET).findings == []


def test_ipv6_sources_count_as_ours_when_their_interface_records_them(tmp_path: Path) -> None:
    """v5 flow logs, no topology: the instance's interface records its IPv6 (global unicast)
    address as the egress source, so its REJECTed connections count as ours."""
    env = make_env(35)
    flows, alb = background(env, hours=2.5)
    inst = env.targets[1]
    v6 = "2600:1f14:9c1:b800:5e2a:77f1:3d0:1a"
    rng = random.Random(6)
    rec = Recorder(env, rng, False)
    for m in range(100, 115):
        for _ in range(3):
            rec.record(inst, v6, "2a05:d018:1:2::443", eph(rng), 443, t=minute(m), packets=3, nbytes=240, flags=2,
                       action="REJECT", direction="egress")
    found = detect_on(tmp_path / "lake", flows + rec.rows, alb, DET).findings
    assert [(f.entity["dstaddr"], f.entity.get("interface_id")) for f in found] == [("2a05:d018:1:2::443", inst.eni)]


def test_moderate_deny_from_early_on_fires_once_there_is_enough_data(tmp_path: Path) -> None:
    """15 per window (below 2 x min_rejects) from minute 11 of the data: judged, against the
    two quiet windows before it, once min_history_windows of data precede a window."""
    env = make_env(37)
    flows, alb = background(env, hours=1.0)
    dst = public_ip(random.Random(38))
    rows = deny_rows(env, dst, 11, 50, hosts=[env.targets[2]], per_min=3)
    result = detect_on(tmp_path / "lake", flows + rows, alb, DET)
    assert [(f.entity["dstaddr"], f.window_start) for f in result.findings] == [(dst, iso_minute(10))]
