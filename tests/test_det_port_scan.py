"""port_scan: an internal host probing many ports/hosts; internet scanners only when asked."""

from __future__ import annotations

import random
from pathlib import Path

from fixtures.flow_world import Recorder, background, detect_on, eph, iso_minute, make_env, minute

DET = "port_scan"


def scan_rows(env, src, m0: int, m1: int, *, per_min: int = 40, seed: int = 1):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    rec = Recorder(env, rng, False)
    for m in range(m0, m1):
        for _ in range(per_min):
            victim = rng.choice(env.targets + env.alb_nodes)
            rec.record(src, src.ip, victim.ip, eph(rng), rng.randrange(1, 10000), t=minute(m), packets=1, nbytes=44,
                       flags=2, action="REJECT" if rng.random() < 0.9 else "ACCEPT")  # fmt: skip
    return rec.rows


def test_fires_on_internal_scan(tmp_path: Path) -> None:
    env = make_env(51)
    flows, alb = background(env, hours=2.5)
    src = env.targets[5]
    result = detect_on(tmp_path / "lake", flows + scan_rows(env, src, 100, 108), alb, DET)
    assert [(f.entity["srcaddr"], f.entity["interface_id"]) for f in result.findings] == [(src.ip, src.eni)]
    f = result.findings[0]
    assert f.window_start == iso_minute(100) and f.window_end == iso_minute(110)
    assert f.severity == "low" and f.evidence["ports"] >= 100 and f.evidence["rejected_share"] > 0.8


def test_silent_on_internet_scanners_by_default_but_reports_them_when_asked(tmp_path: Path) -> None:
    env = make_env(52)
    flows, alb = background(env, hours=2.5, rate=3.0)
    lake = tmp_path / "lake"
    assert detect_on(lake, flows, alb, DET).findings == []
    from pipeline.db import open_lake
    from pipeline.detect import run_detectors

    wide = run_detectors(open_lake(lake), detectors=[DET], infer_topology=False,
                         params={DET: {"include_external_sources": "true", "min_ports": "10"}})  # fmt: skip
    assert wide.findings and all(not f.entity["srcaddr"].startswith(("10.", "172.", "192.168.")) for f in wide.findings)


def test_silent_on_busy_servers_and_nat(tmp_path: Path) -> None:
    """Many hosts reached, but ACCEPTed (NAT egress, ALB to targets): not a scan."""
    env = make_env(53)
    flows, alb = background(env, hours=2.5, rate=4.0)
    assert detect_on(tmp_path / "lake", flows, alb, DET).findings == []


def test_fires_on_internal_scan_from_a_vpc_ipv6_address(tmp_path: Path) -> None:
    """A dual-stack instance scans from its (global unicast) VPC IPv6 address: no topology,
    but its own interface records the address as its side of the traffic."""
    from dataclasses import replace

    env = make_env(52)
    flows, alb = background(env, hours=2.5)
    src = replace(env.targets[3], ip="2600:1f16:c2e:4d00:8a1f:2b3c:4d5e:6f70")
    rng = random.Random(2)
    rec = Recorder(env, rng, False)
    for m in range(100, 106):
        for _ in range(40):
            rec.record(src, src.ip, f"2600:1f16:c2e:4d01::{rng.randrange(1, 40):x}", eph(rng), rng.randrange(1, 10000),
                       t=minute(m), packets=1, nbytes=64, flags=2, action="REJECT", direction="egress")
    result = detect_on(tmp_path / "lake", flows + rec.rows, alb, DET)
    assert [(f.entity["srcaddr"], f.entity["interface_id"]) for f in result.findings] == [(src.ip, src.eni)]
