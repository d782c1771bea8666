"""The topology file format, and the example network other topology tests share.

``example_topology()`` is a small VPC with the misconfigurations the hints explain:
ALB subnet B associated with the NAT route table, an app NACL without the outbound
ephemeral range and with an explicit deny, an S3 gateway endpoint on the public route
table only, and a TGW CIDR (10.30.0.0/16) the private route table has no route to.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import UsageError
from pipeline.topology import Topology
from pipeline.topology.model import Endpoint, Interface, LoadBalancer, Nacl, NaclEntry, Route, RouteTable, Subnet

LB = "app/web/50dc6c495c0c9188"


def _open_nacl(nacl_id: str, subnets: list[str]) -> Nacl:
    return Nacl(
        nacl_id=nacl_id, vpc_id="vpc-1", subnet_ids=subnets,
        entries=[
            NaclEntry(100, True, "allow", "0.0.0.0/0"), NaclEntry(100, False, "allow", "0.0.0.0/0"),
            NaclEntry(32767, True, "deny", "0.0.0.0/0"), NaclEntry(32767, False, "deny", "0.0.0.0/0"),
        ],
    )  # fmt: skip


def example_topology(*, ephemeral_egress: bool = False) -> Topology:
    app_entries = [
        NaclEntry(100, False, "allow", "10.0.0.0/16", "6", 80, 80),
        NaclEntry(110, False, "allow", "0.0.0.0/0", "6", 1024, 65535),
        NaclEntry(90, True, "deny", "198.51.100.66/32"),
        NaclEntry(100, True, "allow", "0.0.0.0/0", "6", 443, 443),
        NaclEntry(32767, True, "deny", "0.0.0.0/0"),
        NaclEntry(32767, False, "deny", "0.0.0.0/0"),
    ]
    if ephemeral_egress:
        app_entries.append(NaclEntry(120, True, "allow", "0.0.0.0/0", "6", 1024, 65535))
    s = dict(vpc_id="vpc-1")
    return Topology(
        taken_at="2026-11-26T01:00:00Z", source="api", region="us-east-1", account_id="123456789012", vpc_ids=["vpc-1"],
        subnets=[
            Subnet("subnet-pubA", "10.0.0.0/24", "us-east-1a", "use1-az1", role="public", route_table_id="rtb-pub", nacl_id="acl-open", **s),
            Subnet("subnet-pubB", "10.0.2.0/24", "us-east-1b", "use1-az2", role="public", route_table_id="rtb-nat", nacl_id="acl-open", **s),
            Subnet("subnet-privA", "10.0.1.0/24", "us-east-1a", "use1-az1", role="private", route_table_id="rtb-priv", nacl_id="acl-app", **s),
            Subnet("subnet-privB", "10.0.3.0/24", "us-east-1b", "use1-az2", role="private", route_table_id="rtb-priv", nacl_id="acl-app", **s),
            Subnet("subnet-v6", "2600:1f18:abcd:100::/64", "us-east-1a", "use1-az1", role="private", **s),
            Subnet("subnet-wide", "10.0.0.0/20", None, None, role="summary", **s),
        ],
        interfaces=[
            Interface("eni-albA", "10.0.0.10", "alb", "subnet-pubA", "vpc-1", "us-east-1a", "use1-az1", LB),
            Interface("eni-albB", "10.0.2.20", "alb", "subnet-pubB", "vpc-1", "us-east-1b", "use1-az2", LB),
            Interface("eni-nat", "10.0.0.220", "nat", "subnet-pubA", "vpc-1", "us-east-1a", "use1-az1", "nat-1", public_ip="52.1.2.3"),
            Interface("eni-i1", "10.0.1.5", "instance", "subnet-privA", "vpc-1", "us-east-1a", "use1-az1", "i-1"),
            Interface("eni-i2", "10.0.3.7", "instance", "subnet-privB", "vpc-1", "us-east-1b", "use1-az2", "i-2"),
            Interface("eni-v6", "2600:1f18:abcd:100::5", "instance", "subnet-v6", "vpc-1", resource_id="i-3"),
        ],
        route_tables=[
            RouteTable("rtb-pub", "vpc-1", ["subnet-pubA"], routes=[
                Route("10.0.0.0/16", "local"), Route("0.0.0.0/0", "igw-1"), Route("pl-63a5400a", "vpce-s3")]),
            RouteTable("rtb-nat", "vpc-1", ["subnet-pubB"], routes=[Route("10.0.0.0/16", "local"), Route("0.0.0.0/0", "nat-1")]),
            RouteTable("rtb-priv", "vpc-1", ["subnet-privA", "subnet-privB"], routes=[
                Route("10.0.0.0/16", "local"), Route("0.0.0.0/0", "nat-1"), Route("10.20.0.0/16", "tgw-1")]),
            RouteTable("rtb-main", "vpc-1", [], main=True, routes=[Route("10.0.0.0/16", "local")]),
        ],  # fmt: skip
        nacls=[_open_nacl("acl-open", ["subnet-pubA", "subnet-pubB"]), Nacl("acl-app", "vpc-1", ["subnet-privA", "subnet-privB"], app_entries)],
        endpoints=[Endpoint("vpce-s3", "s3", "Gateway", "vpc-1", ["rtb-pub"])],
        load_balancers=[LoadBalancer(LB, ["10.0.0.10", "10.0.2.20"], ["subnet-pubA", "subnet-pubB"])],
        transit_gateway_cidrs=["10.20.0.0/16", "10.30.0.0/16"],
    )  # fmt: skip


def test_round_trip_through_json(tmp_path: Path) -> None:
    topo = example_topology()
    topo.interfaces[0].previous_ips = ["10.0.0.99"]
    path = tmp_path / "topology.json"
    topo.dump(path)
    again = Topology.load(path)
    assert again == topo
    assert json.loads(path.read_text())["subnets"][0]["source"] is None


def test_old_files_without_added_fields_still_load(tmp_path: Path) -> None:
    d = example_topology().to_dict()
    for s in d["subnets"]:
        del s["source"], s["confidence"]
    for i in d["interfaces"]:
        del i["seen_at"], i["previous_ips"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(d))
    topo = Topology.load(path)
    assert topo.interfaces[0].previous_ips == [] and topo.subnets[0].confidence == 1.0


@pytest.mark.parametrize("text", ["[]", "{not json", '{"subnets": [{"cidr": "10.0.0.0/24"}]}'])
def test_bad_files_raise_usage_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(UsageError):
        Topology.load(path)


def test_public_api_is_exported() -> None:
    """What other packages call; changing it breaks detect, report and notebooks."""
    import pipeline.topology as t

    expected = {
        "Endpoint", "Interface", "LoadBalancer", "Nacl", "NaclEntry", "Resolver", "Route", "RouteTable", "Subnet",
        "Topology", "config_hints", "enrich_finding", "infer_from_lake", "load_snapshots", "merge", "read_from_aws",
        "register_lake_topology_views", "register_topology_views", "save_snapshot", "write_topology_to_lake",
    }  # fmt: skip
    assert set(t.__all__) == expected
    assert all(callable(getattr(t, name)) for name in expected)
