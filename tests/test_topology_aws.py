"""Reading a topology snapshot from a real EC2-speaking server (moto) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from pipeline.topology.aws import read_from_aws
from pipeline.topology.model import Topology
from pipeline.topology.snapshots import load_snapshots

pytestmark = pytest.mark.slow  # a moto EC2 server (CI runs it)

REGION = "us-east-1"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in CREDS}
    os.environ.update(CREDS)
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        srv.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def network(server: str) -> dict[str, Any]:
    """A VPC with the classic misconfiguration: ALB subnet B associated with the NAT route table."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=server)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sub = {
        name: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for name, cidr, az in (("pubA", "10.0.0.0/24", "us-east-1a"), ("pubB", "10.0.2.0/24", "us-east-1b"), ("privA", "10.0.1.0/24", "us-east-1a"))
    }
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=sub["pubA"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
    rtb_pub = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb_pub, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    rtb_nat = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb_nat, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    ec2.associate_route_table(RouteTableId=rtb_pub, SubnetId=sub["pubA"])
    ec2.associate_route_table(RouteTableId=rtb_nat, SubnetId=sub["pubB"])  # the misconfiguration
    ec2.associate_route_table(RouteTableId=rtb_nat, SubnetId=sub["privA"])
    vpce = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway", RouteTableIds=[rtb_pub]
    )["VpcEndpoint"]["VpcEndpointId"]
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(
        NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="allow", Egress=True,
        CidrBlock="0.0.0.0/0", PortRange={"From": 443, "To": 443},
    )  # fmt: skip
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0")
    assoc = next(
        a["NetworkAclAssociationId"]
        for n in ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
        for a in n["Associations"]
        if a["SubnetId"] == sub["privA"]
    )
    ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)
    alb_eni = ec2.create_network_interface(
        SubnetId=sub["pubB"], PrivateIpAddress="10.0.2.20", Description="ELB app/web/50dc6c495c0c9188"
    )["NetworkInterface"]["NetworkInterfaceId"]
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=sub["privA"], PrivateIpAddress="10.0.1.5")
    instance_id = inst["Instances"][0]["InstanceId"]
    tgw = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[sub["privA"]])
    ec2.create_route(RouteTableId=rtb_nat, DestinationCidrBlock="10.20.0.0/16", TransitGatewayId=tgw)
    return {
        "vpc": vpc, "sub": sub, "nat": nat, "rtb_pub": rtb_pub, "rtb_nat": rtb_nat, "vpce": vpce, "acl": acl,
        "alb_eni": alb_eni, "instance": instance_id, "tgw": tgw, "url": server,
    }  # fmt: skip


def test_snapshot_from_ec2_api(network: dict[str, Any]) -> None:
    topo = read_from_aws(region=REGION, endpoint_url=network["url"], vpc_ids=[network["vpc"]])
    assert topo.source == "api" and topo.taken_at and topo.taken_at.endswith("Z")
    assert topo.vpc_ids == [network["vpc"]]
    subnets = {s.subnet_id: s for s in topo.subnets}
    pub_b = subnets[network["sub"]["pubB"]]
    assert (pub_b.cidr, pub_b.az, pub_b.route_table_id, pub_b.role) == ("10.0.2.0/24", "us-east-1b", network["rtb_nat"], "private")
    assert pub_b.az_id  # AvailabilityZoneId is returned by the API
    assert subnets[network["sub"]["pubA"]].role == "public"
    assert subnets[network["sub"]["privA"]].nacl_id == network["acl"]
    rts = {r.route_table_id: r for r in topo.route_tables}
    assert {(r.destination, r.target) for r in rts[network["rtb_nat"]].routes} >= {
        ("0.0.0.0/0", network["nat"]), ("10.20.0.0/16", network["tgw"]), ("10.0.0.0/16", "local"),
    }  # fmt: skip
    assert sorted(rts[network["rtb_nat"]].subnet_ids) == sorted([network["sub"]["pubB"], network["sub"]["privA"]])
    ifs = {i.interface_id: i for i in topo.interfaces}
    alb = ifs[network["alb_eni"]]
    assert (alb.kind, alb.private_ip, alb.resource_id, alb.az) == ("alb", "10.0.2.20", "app/web/50dc6c495c0c9188", "us-east-1b")
    kinds = {(i.kind, i.resource_id) for i in topo.interfaces}
    assert ("instance", network["instance"]) in kinds
    assert ("nat", network["nat"]) in kinds
    assert all(i.source == "api" and i.confidence == 1.0 for i in topo.interfaces)
    (lb,) = topo.load_balancers
    assert lb.node_ips == ["10.0.2.20"] and lb.subnet_ids == [network["sub"]["pubB"]]
    (ep,) = topo.endpoints
    assert (ep.endpoint_id, ep.service, ep.endpoint_type, ep.route_table_ids) == (network["vpce"], "s3", "Gateway", [network["rtb_pub"]])
    nacl = next(n for n in topo.nacls if n.nacl_id == network["acl"])
    egress = [(e.rule_number, e.action, e.protocol, e.port_from, e.port_to) for e in nacl.entries if e.egress]
    assert (100, "allow", "6", 443, 443) in egress
    assert "10.20.0.0/16" in topo.transit_gateway_cidrs
    # Round trip through the file format.
    assert Topology.from_dict(json.loads(json.dumps(topo.to_dict()))) == topo


def test_cli_writes_file_and_snapshots(network: dict[str, Any], tmp_path: Path) -> None:
    out, snaps = tmp_path / "topology.json", tmp_path / "snaps"
    cmd = [
        sys.executable, "-m", "pipeline.cli", "topology", "--region", REGION, "--endpoint-url", network["url"],
        "--vpc-id", network["vpc"], "--out", str(out), "--snapshots", str(snaps),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **CREDS}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    topo = Topology.load(out)
    assert topo.source == "api" and len(topo.subnets) == 3
    assert len(list(snaps.glob("topology-*.json"))) == 1
    assert load_snapshots(snaps).interfaces == topo.interfaces
    assert "interfaces" in proc.stdout


def test_cli_unreachable_endpoint_is_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main

    for k, v in {**CREDS, "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(k, v)
    argv = ["topology", "--region", REGION, "--endpoint-url", "http://127.0.0.1:9", "--out", str(tmp_path / "t.json")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("flowsleuth: error: cannot reach the EC2 endpoint") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "t.json").exists()


@pytest.mark.parametrize(
    ("eni", "expected"),
    [
        ({"InterfaceType": "interface", "Description": "ELB app/web/50dc6c495c0c9188"}, ("alb", "app/web/50dc6c495c0c9188")),
        ({"InterfaceType": "nat_gateway", "Description": "Interface for NAT Gateway nat-0abc"}, ("nat", "nat-0abc")),
        ({"InterfaceType": "vpc_endpoint", "Description": "VPC Endpoint Interface vpce-0abc"}, ("endpoint", "vpce-0abc")),
        ({"InterfaceType": "gateway_load_balancer_endpoint", "Description": "VPC Endpoint Interface vpce-0fw"}, ("firewall", "vpce-0fw")),
        ({"InterfaceType": "transit_gateway", "Description": "Network Interface for Transit Gateway Attachment tgw-attach-0a"}, ("tgw", "tgw-attach-0a")),
        ({"InterfaceType": "interface", "Attachment": {"InstanceId": "i-0abc"}}, ("instance", "i-0abc")),
        ({"InterfaceType": "network_load_balancer", "Description": "ELB net/api/0abc"}, ("unknown", "net/api/0abc")),
        ({"InterfaceType": "lambda", "Description": "AWS Lambda VPC ENI-fn-1"}, ("lambda", None)),
    ],
)
def test_interface_kind_from_describe_fields(eni: dict[str, Any], expected: tuple[str, str | None]) -> None:
    from pipeline.topology.aws import interface_kind

    assert interface_kind(eni) == expected
