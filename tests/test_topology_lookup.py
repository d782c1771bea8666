"""Address and subnet resolution, and finding enrichment."""

from __future__ import annotations

from fixtures.topology import LB, example_topology

from pipeline.findings import Finding
from pipeline.topology.lookup import Resolver, enrich_finding, parse_ip
from pipeline.topology.model import Interface, Topology


def test_address_resolves_private_public_and_v6() -> None:
    r = Resolver(example_topology())
    assert r.address("10.0.2.20").interface_id == "eni-albB"  # type: ignore[union-attr]
    assert r.address("52.1.2.3").kind == "nat"  # type: ignore[union-attr]
    assert r.address("2600:1f18:abcd:100:0::5").interface_id == "eni-v6"  # type: ignore[union-attr]  (non-canonical form)
    assert r.address("10.0.2.21") is None
    assert r.address("not-an-ip") is None and r.address("") is None


def test_subnet_for_ip_longest_prefix_v4_v6() -> None:
    r = Resolver(example_topology())
    assert r.subnet_for_ip("10.0.2.200").subnet_id == "subnet-pubB"  # type: ignore[union-attr]  (/24 beats the /20)
    assert r.subnet_for_ip("10.0.9.1").subnet_id == "subnet-wide"  # type: ignore[union-attr]
    assert r.subnet_for_ip("2600:1f18:abcd:100::beef").subnet_id == "subnet-v6"  # type: ignore[union-attr]
    assert r.subnet_for_ip("2600:1f18:abcd:101::1") is None
    assert r.subnet_for_ip("203.0.113.9") is None
    assert r.subnet_for_ip("10.0.1.5:8080").subnet_id == "subnet-privA"  # type: ignore[union-attr]


def test_subnet_known_only_from_logs_resolves_through_interface() -> None:
    topo = example_topology()
    for s in topo.subnets:
        s.cidr = ""
    assert Resolver(topo).subnet_for_ip("10.0.3.7").subnet_id == "subnet-privB"  # type: ignore[union-attr]


def test_newest_holder_of_a_reused_address_wins_and_old_addresses_resolve() -> None:
    topo = Topology(
        interfaces=[
            Interface("eni-old", "10.0.1.50", "instance", seen_at="2026-11-20T00:00:00Z"),
            Interface("eni-new", "10.0.1.50", "alb", seen_at="2026-11-25T00:00:00Z"),
            Interface("eni-moved", "10.0.1.60", "instance", seen_at="2026-11-25T00:00:00Z", previous_ips=["10.0.1.40"]),
        ]
    )
    r = Resolver(topo)
    assert r.address("10.0.1.50").interface_id == "eni-new"  # type: ignore[union-attr]
    assert r.address("10.0.1.40").interface_id == "eni-moved"  # type: ignore[union-attr]


def test_parse_ip_forms() -> None:
    assert str(parse_ip("[2600::1]:443")) == "2600::1"
    assert str(parse_ip("10.0.0.1:80")) == "10.0.0.1"
    assert parse_ip("-") is None


def _finding(**entity: str) -> Finding:
    return Finding(
        detector="reject_burst", severity="high", window_start="2026-11-26T00:00:00Z", window_end="2026-11-26T00:05:00Z",
        entity=entity, title="t", summary="s", evidence={"rejects": 10},
    )  # fmt: skip


def test_enrich_adds_context_and_missing_location_only() -> None:
    f = _finding(srcaddr="10.0.2.20", dstaddr="203.0.113.9", dstport="443")
    e = enrich_finding(f, Resolver(example_topology()))
    assert e.id == f.id and e.evidence["rejects"] == 10 and "topology" not in f.evidence
    ctx = e.evidence["topology"]["srcaddr"]
    assert ctx["kind"] == "alb" and ctx["resource"] == LB and ctx["az"] == "us-east-1b" and ctx["az_id"] == "use1-az2"
    assert ctx["subnet_id"] == "subnet-pubB" and ctx["source"] == "api"
    assert "dstaddr" not in e.evidence["topology"]  # the internet is not on the map
    assert e.entity == {**f.entity, "az": "us-east-1b", "az_id": "use1-az2", "subnet_id": "subnet-pubB"}


def test_enrich_keeps_detector_values_and_prefers_interface() -> None:
    f = _finding(dstaddr="10.0.0.10", interface_id="eni-i1", az_id="use1-az9")
    e = enrich_finding(f, Resolver(example_topology()))
    assert e.entity["az_id"] == "use1-az9"  # detector's value stands
    assert e.entity["subnet_id"] == "subnet-privA" and e.entity["az"] == "us-east-1a"
    assert e.evidence["topology"]["interface_id"]["resource"] == "i-1"
    assert e.evidence["topology"]["dstaddr"]["kind"] == "alb"


def test_enrich_az_only_and_load_balancer() -> None:
    f = _finding(az_id="use1-az2", load_balancer="app.web.50dc6c495c0c9188")
    e = enrich_finding(f, Resolver(example_topology()))
    assert e.entity["az"] == "us-east-1b" and "subnet_id" not in e.entity
    assert e.evidence["topology"]["load_balancer"]["node_ips"] == ["10.0.0.10", "10.0.2.20"]


def test_enrich_with_empty_topology_changes_nothing() -> None:
    f = _finding(srcaddr="10.0.2.20")
    e = enrich_finding(f, Resolver(Topology()))
    assert e.to_dict() == f.to_dict()
