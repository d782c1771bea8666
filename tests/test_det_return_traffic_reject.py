"""return_traffic_reject: replies from a service port to ephemeral ports REJECTed in one subnet."""

from __future__ import annotations

import random
from pathlib import Path

from background import Env, Recorder, background, detect_on, eph, iso_minute, make_env, minute, public_ip

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


def test_fires_on_v2_only_logs_per_interface(tmp_path: Path) -> None:
    env = make_env(32)
    flows, alb = background(env, hours=2.5, v2_only=True)
    bad = env.targets[0]
    rows = [{k: v for k, v in r.items() if k in flows[0]} for r in nacl_ephemeral_rows(env, bad.subnet_id, 100, 110, port=443)]
    result = detect_on(tmp_path / "lake", flows + rows, alb, DET)
    # no subnet_id in v2: one finding per interface of the subnet, named by interface
    assert sorted(f.entity["interface_id"] for f in result.findings) == sorted(t.eni for t in env.targets if t.subnet_id == bad.subnet_id)
    assert all(f.entity["srcport"] == "443" and "subnet_id" not in f.entity for f in result.findings)


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
