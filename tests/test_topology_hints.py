"""Configuration hints: each must fire on the misconfigured example and stay silent when fixed."""

from __future__ import annotations

from fixtures.topology import LB, example_topology

from pipeline.findings import Finding
from pipeline.topology.hints import config_hints
from pipeline.topology.model import Topology
from pipeline.topology.nacl import decide, decide_range


def finding(detector: str, **entity: str) -> Finding:
    return Finding(
        detector=detector, severity="high", window_start="2026-11-26T00:00:00Z", window_end="2026-11-26T00:05:00Z",
        entity=entity, title=f"{detector} title", summary="s",
    )  # fmt: skip


def one(hints: list[str], needle: str) -> str:
    matches = [h for h in hints if needle in h]
    assert len(matches) == 1, (needle, hints)
    return matches[0]


def test_asymmetric_alb_subnet_routed_to_nat() -> None:
    hints = config_hints(finding("asymmetric_flow", srcaddr="10.0.2.20", interface_id="eni-nat"), example_topology())
    h = one(hints, "subnet-pubB (ALB, use1-az2) is associated with rtb-nat whose 0.0.0.0/0 → nat-1")
    assert h.startswith("the logs show responses from 10.0.2.20")
    assert "; the configuration snapshot (api, taken 2026-11-26T01:00:00Z) shows" in h
    assert "asymmetric" in h


def test_asymmetric_correct_subnet_states_route_without_blame() -> None:
    hints = config_hints(finding("asymmetric_flow", srcaddr="10.0.0.10"), example_topology())
    h = one(hints, "rtb-pub whose 0.0.0.0/0 → igw-1")
    assert "asymmetric path" not in h


def test_return_traffic_reject_missing_ephemeral_egress() -> None:
    f = finding("return_traffic_reject", srcaddr="10.0.1.5", dstaddr="10.0.0.10", dstport="80")
    h = one(config_hints(f, example_topology()), "acl-app")
    assert "subnet-privA (private, use1-az1)" in h
    assert "outbound tcp 1024-65535 to 10.0.0.10 by the default deny rule (*)" in h
    assert "ephemeral range" in h
    assert config_hints(f, example_topology(ephemeral_egress=True)) == []


def test_return_traffic_reject_partial_ephemeral_range() -> None:
    topo = example_topology()
    acl = next(n for n in topo.nacls if n.nacl_id == "acl-app")
    from pipeline.topology.model import NaclEntry

    acl.entries.append(NaclEntry(120, True, "allow", "0.0.0.0/0", "6", 32768, 65535))
    h = one(config_hints(finding("return_traffic_reject", srcaddr="10.0.1.5", dstaddr="203.0.113.9"), topo), "acl-app")
    assert "ports 1024-32767 by the default deny rule (*)" in h


def test_reject_burst_explicit_deny_on_destination() -> None:
    f = finding("reject_burst", dstaddr="198.51.100.66", dstport="443", interface_id="eni-i1")
    h = one(config_hints(f, example_topology()), "acl-app")
    assert "by rule 90 (deny all traffic to 198.51.100.66/32)" in h
    assert h.startswith("the logs show a burst of REJECTed flows to 198.51.100.66:443")
    allowed = finding("reject_burst", dstaddr="203.0.113.9", dstport="443", interface_id="eni-i1")
    assert config_hints(allowed, example_topology()) == []


def test_reject_burst_intra_subnet_crosses_no_nacl() -> None:
    f = finding("reject_burst", srcaddr="10.0.1.5", dstaddr="10.0.1.77", dstport="22", interface_id="eni-i1")
    assert config_hints(f, example_topology()) == []


def test_endpoint_bypass_route_table_not_associated() -> None:
    h = one(config_hints(finding("endpoint_bypass", subnet_id="subnet-privA", service="S3"), example_topology()), "vpce-s3")
    assert "is associated with rtb-pub but not with rtb-priv, the route table of subnet-privA" in h
    ok = config_hints(finding("endpoint_bypass", srcaddr="10.0.0.10", service="s3"), example_topology())
    assert "routing does not explain it" in one(ok, "vpce-s3")


def test_endpoint_bypass_without_any_endpoint() -> None:
    topo = example_topology()
    topo.endpoints = []
    h = one(config_hints(finding("endpoint_bypass", subnet_id="subnet-privA", service="s3"), topo), "no s3 gateway endpoint")
    assert "vpc-1" in h


def test_unanswered_flow_missing_tgw_route() -> None:
    f = finding("unanswered_flow", srcaddr="10.0.3.7", dstaddr="10.30.0.5", dstport="5432")
    h = one(config_hints(f, example_topology()), "transit gateway")
    assert "10.30.0.0/16 is reachable through the transit gateway, but rtb-priv, the route table of subnet-privB" in h
    assert "longest match for 10.30.0.5 is 0.0.0.0/0 → nat-1" in h
    routed = finding("unanswered_flow", srcaddr="10.0.3.7", dstaddr="10.20.0.5", dstport="5432")
    assert not [h for h in config_hints(routed, example_topology()) if "transit gateway" in h]


def test_az_5xx_spike_points_at_target_nacl_and_alb_route() -> None:
    hints = config_hints(finding("az_5xx_spike", az_id="use1-az2", load_balancer=LB), example_topology())
    one(hints, "subnet-pubB (ALB, use1-az2) is associated with rtb-nat")
    h = one(hints, "acl-app on subnet-privB")
    assert "outbound tcp 1024-65535 to 10.0.2.20" in h
    assert all("subnet-privA" not in h for h in hints)  # other AZ
    fixed = example_topology(ephemeral_egress=True)
    assert not [h for h in config_hints(finding("az_5xx_spike", az_id="use1-az2"), fixed) if "acl-app" in h]


def test_no_configuration_no_hints() -> None:
    topo = example_topology()
    logs_only = Topology(source="logs", subnets=topo.subnets, interfaces=topo.interfaces)
    assert config_hints(finding("asymmetric_flow", srcaddr="10.0.2.20"), logs_only) == []
    assert config_hints(finding("port_scan", srcaddr="10.0.2.20"), topo) == []


def test_nacl_first_match_by_rule_number() -> None:
    acl = next(n for n in example_topology().nacls if n.nacl_id == "acl-app")
    assert decide(acl, egress=True, addr="198.51.100.66", protocol=6, port=443).rule_number == 90  # type: ignore[union-attr]
    assert decide(acl, egress=True, addr="203.0.113.1", protocol=6, port=443).rule_number == 100  # type: ignore[union-attr]
    assert decide(acl, egress=True, addr="203.0.113.1", protocol=17, port=53).rule_number == 32767  # type: ignore[union-attr]
    segs = decide_range(acl, egress=False, addr="10.0.2.20", protocol=6, low=0, high=65535)
    assert [(d.low, d.high, d.allowed) for d in segs] == [(0, 79, False), (80, 80, True), (81, 1023, False), (1024, 65535, True)]


def test_asymmetric_names_only_the_misrouted_subnet() -> None:
    hints = config_hints(finding("asymmetric_flow", srcaddr="10.0.2.20", interface_id="eni-nat"), example_topology())
    assert len(hints) == 1 and "subnet-pubA" not in hints[0]


def test_unanswered_flow_missing_route_in_tgw_route_table() -> None:
    topo = example_topology()
    topo.extra["transit_gateway"] = {"tgw_id": "tgw-1", "route_table": [{"destination": "10.0.0.0/16", "attachment": "tgw-attach-a"}]}
    f = finding("unanswered_flow", srcaddr="10.0.3.7", dstaddr="10.20.0.5", dstport="443")
    h = one(config_hints(f, topo), "transit gateway's route table")
    assert "rtb-priv sends 10.20.0.0/16 to tgw-1" in h and "no route covering 10.20.0.5 (it routes only 10.0.0.0/16)" in h
    topo.extra["transit_gateway"]["route_table"].append({"destination": "10.20.0.0/16", "attachment": "tgw-attach-b"})
    assert not [h for h in config_hints(f, topo) if "transit gateway" in h]


def test_named_nacl_is_one_hint_listing_its_subnets() -> None:
    f = finding("reject_burst", dstaddr="198.51.100.66", dstport="443", nacl_id="acl-app")
    (h,) = config_hints(f, example_topology())
    assert "acl-app on subnet-privA (private, use1-az1), subnet-privB (private, use1-az2) decides outbound tcp 443" in h
