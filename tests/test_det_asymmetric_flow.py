"""asymmetric_flow: an ALB node's responses leave through the NAT gateway."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fixtures.alb_world import T0, Env, Traffic, background, flow, make_env, nat_flow, public_ip, run_detector

DET = "asymmetric_flow"
INCIDENT = (T0 + timedelta(minutes=60), T0 + timedelta(minutes=85))


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def asymmetric_route(env: Env, minutes: int, bad: int, *, per_min: int = 6) -> Traffic:
    """Background traffic, except that during the incident node ``bad``'s subnet routes
    0.0.0.0/0 to the NAT gateway: clients' SYNs arrive from the internet gateway, the node's
    SYN-ACKs go to the NAT (recorded there with pkt-dstaddr = client), clients retransmit,
    no request completes, so the node logs nothing."""
    tr = Traffic()
    before = background(env, 60, per_node_per_min=per_min)
    tr.alb += before.alb
    tr.flows += before.flows
    during = background(env, 25, start=INCIDENT[0], per_node_per_min=per_min)
    tr.alb += [r for r in during.alb if r["node_ip"] != env.node_ips[bad]]
    node_eni = env.node_enis[bad]
    tr.flows += [r for r in during.flows if not (r["interface_id"] == node_eni and r.get("action") == "ACCEPT")]
    after = background(env, minutes - 85, start=INCIDENT[1], per_node_per_min=per_min)
    tr.alb += after.alb
    tr.flows += after.flows
    n_ip, nat, lp = env.node_ips[bad], env.nat_ip, env.listener_port
    for m in range(25):
        for _ in range(per_min):
            t = INCIDENT[0] + timedelta(minutes=m, seconds=env.rng.uniform(0, 59))
            client, cport = public_ip(env.rng), env.rng.randint(1024, 65535)
            tr.flows += [
                flow(env, n_ip, t, client, n_ip, cport, lp, flags=2, direction="ingress", packets=3),
                flow(env, n_ip, t, n_ip, client, lp, cport, flags=18, direction="egress", path=1, packets=3),
                flow(env, nat, t, n_ip, nat, lp, cport, pkt_dst=client, flags=18, direction="ingress", packets=3),
                flow(env, nat, t, nat, client, env.rng.randint(1024, 65535), cport, flags=18, direction="egress", path=8, packets=3),
            ]
    return tr


@pytest.mark.parametrize("seed", [31, 32, 33])
def test_fires_when_an_alb_subnet_routes_via_the_nat(tmp_path: Path, seed: int) -> None:
    env = make_env(seed)
    bad = seed % 3
    findings, _ = run_detector(asymmetric_route(env, 90, bad, per_min=4).lake(tmp_path), DET)
    assert len(findings) == 1, [f.summary for f in findings]
    f = findings[0]
    assert f.entity["srcaddr"] == env.node_ips[bad]
    assert f.entity["srcport"] == str(env.listener_port)
    assert f.entity["interface_id"] == env.node_enis[bad]
    assert f.entity["via_interface_id"] == env.nat_eni
    assert f.entity["subnet_id"] == env.public_subnets[bad]
    assert f.entity["az_id"] == env.az_ids[bad]
    assert f.entity["node_ip"] == env.node_ips[bad]
    assert INCIDENT[0] <= _t(f.window_start) < INCIDENT[0] + timedelta(minutes=10)
    assert _t(f.window_end) <= INCIDENT[1] + timedelta(minutes=5)
    assert f.evidence["alb_requests"] < f.evidence["alb_requests_expected"] / 4
    assert all("source_uri" in s for s in f.evidence["samples"])


def test_silent_on_noisy_healthy_baseline(tmp_path: Path) -> None:
    """ALB traffic, health of targets, instance egress through the NAT, scanners, endpoints."""
    env = make_env(34)
    tr = background(env, 90, per_node_per_min=4)
    # heavier NAT egress: many instances to a few popular external APIs (a "service" to us)
    apis = [public_ip(env.rng) for _ in range(2)]
    for m in range(90):
        for ip, *_ in env.targets:
            nat_flow(env, tr, T0 + timedelta(minutes=m), ip, env.rng.choice(apis), 443)
    assert run_detector(tr.lake(tmp_path), DET, topology=env.topology())[0] == []


def test_mixed_v2_nat_logs_match_with_topology(tmp_path: Path) -> None:
    """The NAT gateway's flow log is v2 (no pkt-* fields) while the others are v5: the
    topology names the NAT, and its records are matched by address and ports."""
    env = make_env(36)
    tr = asymmetric_route(env, 90, 1, per_min=4)
    v2_cols = {"version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
               "packets", "bytes", "start", "end", "action", "log_status"}
    tr.flows = [{k: v for k, v in r.items() if k in v2_cols} if r["interface_id"] == env.nat_eni else r for r in tr.flows]
    findings, _ = run_detector(tr.lake(tmp_path), DET, topology=env.topology())
    assert [(f.entity["srcaddr"], f.entity["via_interface_id"]) for f in findings] == [(env.node_ips[1], env.nat_eni)]


def test_v2_only_flow_logs_without_topology_find_the_nat_from_its_records(tmp_path: Path) -> None:
    """Default v2 format, no topology: the NAT gateway is inferred from its own records (private
    sources' flows leave it again toward the internet, same port, packets and bytes), so the
    ALB node's responses arriving there are found (issue 13, class 3)."""
    env = make_env(35, v2_only=True)
    findings, notes = run_detector(asymmetric_route(env, 90, 0, per_min=4).lake(tmp_path), DET)
    assert not any(DET in n and "cannot run" in n for n in notes), notes
    assert [(f.entity["srcaddr"], f.entity["via_interface_id"], f.entity.get("nat_interface_id")) for f in findings] == [
        (env.node_ips[0], env.nat_eni, env.nat_eni)
    ], [f.summary for f in findings]


def _v2(env: Env, tr: Traffic) -> Traffic:
    """The same traffic as AWS's default format (version 2, 14 fields) would record it."""
    v2_cols = {"version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
               "packets", "bytes", "start", "end", "action", "log_status"}
    tr.flows = [{**{k: v for k, v in r.items() if k in v2_cols}, "version": 2} for r in tr.flows]
    return tr


@pytest.mark.parametrize("seed", [37, 38])
def test_v2_only_flow_logs_with_a_topology_naming_the_nat(tmp_path: Path, seed: int) -> None:
    """Every flow log in the default v2 format, but the topology names the NAT gateway: the
    detector runs (requires_any: pkt_dstaddr or topology:nat) and finds the incident."""
    env = make_env(seed)
    bad = seed % 3
    tr = _v2(env, asymmetric_route(env, 90, bad, per_min=4))
    findings, notes = run_detector(tr.lake(tmp_path), DET, topology=env.topology())
    assert not any("cannot run" in n for n in notes), notes
    assert [(f.entity["srcaddr"], f.entity["via_interface_id"], f.entity.get("nat_interface_id")) for f in findings] == [
        (env.node_ips[bad], env.nat_eni, env.nat_eni)
    ], [f.summary for f in findings]
    assert INCIDENT[0] <= _t(findings[0].window_start) < INCIDENT[0] + timedelta(minutes=10)


def test_v2_only_with_a_topology_silent_on_healthy_nat_egress(tmp_path: Path) -> None:
    env = make_env(39)
    tr = background(env, 90, per_node_per_min=4)
    apis = [public_ip(env.rng) for _ in range(2)]
    for m in range(90):
        for ip, *_ in env.targets:
            nat_flow(env, tr, T0 + timedelta(minutes=m), ip, env.rng.choice(apis), 443)
    findings, notes = run_detector(_v2(env, tr).lake(tmp_path), DET, topology=env.topology())
    assert findings == [] and not any("cannot run" in n for n in notes)


def test_v2_only_without_topology_says_cannot_run_once_naming_both_ways(tmp_path: Path) -> None:
    """v2 records in which the NAT relays nothing to the internet: nothing tells it apart, so
    the detector cannot run (one note naming both ways it could)."""
    env = make_env(37)
    tr = _v2(env, asymmetric_route(env, 90, 1, per_min=4))
    tr.flows = [r for r in tr.flows if not (r["interface_id"] == env.nat_eni and r["srcaddr"] not in env.node_ips
                                           and not str(r["dstaddr"]).startswith(("10.", "172.", "192.168.")))]  # fmt: skip
    findings, notes = run_detector(tr.lake(tmp_path), DET)
    assert findings == []
    said = [n for n in notes if DET in n]
    assert len(said) == 1 and "cannot run" in said[0], notes
    assert "pkt_dstaddr (v3+ field)" in said[0] and "no topology names a nat" in said[0], said
