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
from fixtures.topology import example_topology

from pipeline.errors import UsageError
from pipeline.topology import Topology


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
