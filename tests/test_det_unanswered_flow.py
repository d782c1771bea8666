"""unanswered_flow: SYNs with no reverse flow (missing route) and requests with no answer data
(firewall drop); silent on scanners, chronic dead ends and v2-only logs (cannot run)."""

from __future__ import annotations

import random
from pathlib import Path

from fixtures.flow_world import (
    FIN,
    RST,
    SYN,
    SYN_ACK,
    Env,
    Host,
    Recorder,
    background,
    detect_on,
    eph,
    iso_minute,
    make_env,
    minute,
    public_ip,
)

DET = "unanswered_flow"


def api_calls(env: Env, api: Host, mode: str, m0: int, m1: int, *, minutes: int = 150, seed: int = 1) -> list[dict]:
    """Every instance calls ``api`` once a minute; during [m0, m1) the calls fail in ``mode``."""
    rng = random.Random(seed)
    rec = Recorder(env, rng, False)
    for m in range(minutes):
        for inst in env.targets:
            bad = m0 <= m < m1
            if bad and mode == "no_route":  # SYN retransmits, nothing comes back, nothing reaches the API
                rec.conversation([inst], [], inst.ip, api.ip, eph(rng), 443, t=minute(m), fwd=(3, 180), rev=(0, 0), fflags=SYN)
            elif bad and mode == "firewall":  # handshake done, request retransmitted, no data back
                port = eph(rng)
                rec.conversation([inst], [], inst.ip, api.ip, port, 443, t=minute(m), fwd=(7, 1800), rev=(2, 112),
                                 fflags=SYN | rng.choice([FIN, RST]), rflags=SYN_ACK)  # fmt: skip
                rec.conversation([], [api], inst.ip, api.ip, port, 443, t=minute(m), fwd=(2, 112), rev=(1, 60),
                                 fflags=SYN, rflags=SYN_ACK)  # fmt: skip
            else:
                rec.conversation([inst], [api], inst.ip, api.ip, eph(rng), 443, t=minute(m), fwd=(9, 1500), rev=(10, 7000))
    return rec.rows


def api_host(env: Env) -> Host:
    first = int(env.vpc_cidr.split(".")[0])
    ip = "192.168.77.12" if first != 192 else "10.77.3.12"
    return Host("eni-0a0a0a0a0a0a0a0a0", ip, "subnet-0api", "xx-az9", "instance", "i-0api")


def test_fires_on_missing_route(tmp_path: Path) -> None:
    env = make_env(41)
    flows, alb = background(env, hours=2.5)
    api = api_host(env)
    result = detect_on(tmp_path / "lake", flows + api_calls(env, api, "no_route", 90, 120), alb, DET)
    assert [(f.entity, f.evidence["kind"]) for f in result.findings] == [({"dstaddr": api.ip, "dstport": "443"}, "no_reverse")]
    f = result.findings[0]
    assert f.window_start == iso_minute(90) and iso_minute(115) <= f.window_end <= iso_minute(125)
    assert f.evidence["clients"] == len(env.targets) and f.evidence["failed_share"] >= 0.95
    assert "route" in f.hint


def test_fires_on_firewall_drop_as_no_answer_data(tmp_path: Path) -> None:
    env = make_env(42)
    flows, alb = background(env, hours=2.5)
    api = api_host(env)
    result = detect_on(tmp_path / "lake", flows + api_calls(env, api, "firewall", 100, 125), alb, DET)
    assert [(f.entity, f.evidence["kind"]) for f in result.findings] == [({"dstaddr": api.ip, "dstport": "443"}, "no_answer_data")]
    assert result.findings[0].window_start == iso_minute(100)
    assert "firewall" in result.findings[0].hint


def test_silent_on_chronic_dead_end_and_scanner_syns(tmp_path: Path) -> None:
    """A destination that never answered (all day) is not an incident; internet SYNs are not ours."""
    env = make_env(43)
    flows, alb = background(env, hours=2.5)
    api = api_host(env)
    rows = api_calls(env, api, "no_route", 0, 150)
    rng = random.Random(8)
    rec = Recorder(env, rng, False)
    node = env.alb_nodes[0]
    for m in range(100, 110):
        for _ in range(30):  # a burst of unanswered (ACCEPTed, never replied) SYNs from the internet
            rec.record(node, public_ip(rng), node.ip, eph(rng), env.listener_port, t=minute(m), packets=1, nbytes=60, flags=SYN, direction="ingress")
    assert detect_on(tmp_path / "lake", flows + rows + rec.rows, alb, DET).findings == []


V2_FIELDS = {"version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
             "packets", "bytes", "start", "end", "action", "log_status"}


def _v2(rows: list[dict]) -> list[dict]:
    return [{**{k: v for k, v in r.items() if k in V2_FIELDS}, "version": 2} for r in rows]


def test_runs_on_v2_only_logs_and_finds_the_missing_route(tmp_path: Path) -> None:
    """AWS's default format (no tcp_flags): connections from our hosts recorded one way only,
    retransmitted, at a destination that answered before."""
    env = make_env(44)
    flows, alb = background(env, hours=2.5, v2_only=True)
    api = api_host(env)
    result = detect_on(tmp_path / "lake", flows + _v2(api_calls(env, api, "no_route", 90, 120)), alb, DET)
    assert result.skipped == [] and result.notes == []
    assert [(f.entity, f.evidence["kind"]) for f in result.findings] == [({"dstaddr": api.ip, "dstport": "443"}, "no_reverse")]
    assert result.findings[0].window_start == iso_minute(90)


def test_v2_only_silent_on_healthy_background_and_chronic_dead_end(tmp_path: Path) -> None:
    """v2: a destination that never answered, and a firewall drop (invisible without flags)."""
    env = make_env(48)
    flows, alb = background(env, hours=2.5, v2_only=True)
    api = api_host(env)
    dead = Host("eni-0c0c0c0c0c0c0c0c0", "172.31.99.9" if not env.vpc_cidr.startswith("172.") else "10.99.9.9",
                "subnet-0dead", "xx-az9", "instance", "i-0dead")
    rows = _v2(api_calls(env, dead, "no_route", 0, 150) + api_calls(env, api, "firewall", 90, 120, seed=2))
    assert detect_on(tmp_path / "lake", flows + rows, alb, DET).findings == []


def test_fires_when_the_data_starts_shortly_before_the_outage(tmp_path: Path) -> None:
    """One hour of data, the route disappears 16 minutes in: fewer than min_history_windows of
    history, and the outage must not make the destination look chronically dead."""
    env = make_env(45)
    flows, alb = background(env, hours=1.0)
    api = api_host(env)
    result = detect_on(tmp_path / "lake", flows + api_calls(env, api, "no_route", 16, 50, minutes=60), alb, DET)
    assert [(f.entity, f.evidence["kind"]) for f in result.findings] == [({"dstaddr": api.ip, "dstport": "443"}, "no_reverse")]
    f = result.findings[0]
    assert f.window_start == iso_minute(15) and f.evidence["judged_by"] == "short history"


def test_silent_on_dead_end_since_the_start_of_a_short_dataset(tmp_path: Path) -> None:
    env = make_env(46)
    flows, alb = background(env, hours=1.0)
    api = api_host(env)
    assert detect_on(tmp_path / "lake", flows + api_calls(env, api, "no_route", 0, 60, minutes=60), alb, DET).findings == []


def test_ipv6_firewall_drop_with_vpc_ipv6_clients(tmp_path: Path) -> None:
    """Dual-stack instances (VPC IPv6 is global unicast: ours because their own interfaces
    record it) call an IPv6 API; a firewall passes the handshake and drops the requests. The
    server's SYN-ACK and ACK are 2 x 80 bytes of IPv6 + TCP headers: no payload."""
    env = make_env(47)
    flows, alb = background(env, hours=2.5)
    api = Host("eni-0b0b0b0b0b0b0b0b0", "2600:1f18:77:3a00::12", "subnet-0api", "xx-az9", "instance", "i-0api")
    v6 = {inst.ip: f"2600:1f18:77:3b00::{k + 10:x}" for k, inst in enumerate(env.targets)}
    rng = random.Random(3)
    rec = Recorder(env, rng, False)
    for m in range(150):
        for inst in env.targets:
            port = eph(rng)
            if 100 <= m < 125:
                rec.conversation([inst], [], v6[inst.ip], api.ip, port, 443, t=minute(m), fwd=(7, 2000), rev=(2, 160),
                                 fflags=SYN | FIN, rflags=SYN_ACK)  # fmt: skip
                rec.conversation([], [api], v6[inst.ip], api.ip, port, 443, t=minute(m), fwd=(2, 160), rev=(2, 160),
                                 fflags=SYN, rflags=SYN_ACK)  # fmt: skip
            else:
                rec.conversation([inst], [api], v6[inst.ip], api.ip, port, 443, t=minute(m), fwd=(9, 1500), rev=(10, 7000))
    result = detect_on(tmp_path / "lake", flows + rec.rows, alb, DET)
    assert [(f.entity, f.evidence["kind"]) for f in result.findings] == [({"dstaddr": api.ip, "dstport": "443"}, "no_answer_data")]
    assert result.findings[0].window_start == iso_minute(100)
    # with IPv4's 60 header bytes per packet the bare SYN-ACK + ACK would look like an answer
    assert detect_on(tmp_path / "lake2", flows + rec.rows, alb, DET, params={DET: {"header_bytes_ipv6": 60}}).findings == []
