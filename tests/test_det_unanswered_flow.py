"""unanswered_flow: SYNs with no reverse flow (missing route) and requests with no answer data
(firewall drop); silent on scanners, chronic dead ends and v2-only logs (cannot run)."""

from __future__ import annotations

import random
from pathlib import Path

from background import FIN, RST, SYN, SYN_ACK, Env, Host, Recorder, background, detect_on, eph, iso_minute, make_env, minute, public_ip

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


def test_cannot_run_on_v2_only_logs(tmp_path: Path) -> None:
    env = make_env(44)
    flows, alb = background(env, hours=1, v2_only=True)
    result = detect_on(tmp_path / "lake", flows, alb, DET)
    assert result.findings == [] and result.skipped == [DET]
    assert result.notes == [f"detector {DET} cannot run: flow logs lack tcp_flags (v3+ field)"]
