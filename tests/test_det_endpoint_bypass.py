"""endpoint_bypass: S3/DynamoDB traffic leaving through the NAT instead of the gateway endpoint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fixtures.alb_world import T0, Env, Traffic, background, endpoint_flow, make_env, run_detector

DET = "endpoint_bypass"
INCIDENT = (60, 90)  # minutes after T0


def service_traffic(env: Env, tr: Traffic, minutes: int, service: str, via: Callable[[int, int], str]) -> None:
    """Each instance talks to ``service`` twice a minute; ``via(minute, az)`` picks the path."""
    for m in range(minutes):
        t = T0 + timedelta(minutes=m, seconds=env.rng.uniform(0, 50))
        for ip, _, _, az in env.targets:
            for _ in range(2):
                endpoint_flow(env, tr, t, ip, service, via=via(m, az))


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@pytest.mark.parametrize(("seed", "service"), [(21, "DYNAMODB"), (22, "S3")])
def test_fires_when_one_subnet_switches_to_the_nat(tmp_path: Path, seed: int, service: str) -> None:
    env = make_env(seed)
    bad = seed % 3
    tr = background(env, 100, per_node_per_min=2, alb_flows=False)
    service_traffic(env, tr, 100, service,
                    lambda m, az: "nat" if az == bad and INCIDENT[0] <= m < INCIDENT[1] else "endpoint")
    findings, _ = run_detector(tr.lake(tmp_path), DET)
    assert len(findings) == 1, [f.summary for f in findings]
    f = findings[0]
    assert f.entity["subnet_id"] == env.private_subnets[bad]
    assert f.entity["az_id"] == env.az_ids[bad]
    assert f.entity["pkt_dst_aws_service"] == service
    assert f.entity["interface_id"] in {eni for _, eni, _, az in env.targets if az == bad}
    assert T0 + timedelta(minutes=INCIDENT[0]) <= _t(f.window_start) < T0 + timedelta(minutes=INCIDENT[1])
    assert _t(f.window_end) <= T0 + timedelta(minutes=INCIDENT[1] + 5)
    assert f.evidence["own_endpoint_share_pct"] >= 80
    assert "1" in f.evidence["bypass_paths"].split("/")
    assert all("source_uri" in s for s in f.evidence["samples"])


def test_fires_from_peers_when_the_data_starts_mid_incident(tmp_path: Path) -> None:
    """No earlier window of its own: the other subnets' endpoint use is the baseline."""
    env = make_env(23)
    tr = background(env, 60, per_node_per_min=2)
    service_traffic(env, tr, 60, "DYNAMODB", lambda m, az: "nat" if az == 0 else "endpoint")
    findings, _ = run_detector(tr.lake(tmp_path), DET)
    assert {f.entity["subnet_id"] for f in findings} == {env.private_subnets[0]}
    assert findings[0].evidence["peer_endpoint_share_pct"] == 100


def test_silent_on_noisy_healthy_baseline(tmp_path: Path) -> None:
    """Endpoint traffic, ordinary NAT egress (not to S3/DynamoDB), scanners, NODATA."""
    env = make_env(24)
    tr = background(env, 100, per_node_per_min=2)
    service_traffic(env, tr, 100, "S3", lambda m, az: "endpoint")
    assert run_detector(tr.lake(tmp_path), DET)[0] == []


def test_silent_when_no_subnet_uses_an_endpoint(tmp_path: Path) -> None:
    """A VPC without gateway endpoints sends S3 through the NAT all day: nothing changed."""
    env = make_env(25)
    tr = background(env, 100, per_node_per_min=2, endpoint=False, alb_flows=False)
    service_traffic(env, tr, 100, "S3", lambda m, az: "nat")
    assert run_detector(tr.lake(tmp_path), DET)[0] == []


def test_v2_flow_logs_are_reported_as_cannot_run(tmp_path: Path) -> None:
    env = make_env(26, v2_only=True)
    tr = background(env, 30, per_node_per_min=2)
    findings, notes = run_detector(tr.lake(tmp_path), DET)
    assert findings == []
    assert any(DET in n and "pkt_dst_aws_service" in n for n in notes), notes


@pytest.mark.slow
def test_scenario_endpoint_route_missing(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The simulator's labelled incident, ingested, is found with the labelled entity."""
    from fixtures.alb_world import check_scenario

    check_scenario("endpoint_route_missing", DET, tmp_path_factory)
