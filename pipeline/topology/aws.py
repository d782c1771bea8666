"""Read a topology snapshot from the EC2 API (read-only Describe* calls, paginated).

The IAM actions needed are listed in ``REQUIRED_ACTIONS`` (and docs/topology.md).
Transit Gateway calls are optional: when the caller may not make them, the snapshot
is taken without TGW details and a warning says which action was refused.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

from ..errors import FlowsleuthError, SourceError, UsageError
from .model import (
    Endpoint,
    EndpointType,
    Interface,
    InterfaceKind,
    LoadBalancer,
    Nacl,
    NaclEntry,
    Route,
    RouteTable,
    Subnet,
    Topology,
)

log = logging.getLogger(__name__)

#: Least-privilege IAM actions, in the order they are called.
REQUIRED_ACTIONS: tuple[str, ...] = (
    "ec2:DescribeSubnets",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeRouteTables",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeNatGateways",
)
OPTIONAL_ACTIONS: tuple[str, ...] = (
    "ec2:DescribeTransitGatewayAttachments",
    "ec2:DescribeTransitGatewayRouteTables",
    "ec2:SearchTransitGatewayRoutes",
)

_ROUTE_TARGETS = (
    "GatewayId", "NatGatewayId", "TransitGatewayId", "NetworkInterfaceId", "VpcPeeringConnectionId",
    "InstanceId", "EgressOnlyInternetGatewayId", "CarrierGatewayId", "LocalGatewayId", "CoreNetworkArn",
)  # fmt: skip
_DESCRIPTION_KINDS: tuple[tuple[re.Pattern[str], InterfaceKind], ...] = (
    (re.compile(r"^ELB (app/\S+)"), "alb"),
    (re.compile(r"^Interface for NAT Gateway (nat-\w+)"), "nat"),
    (re.compile(r"^VPC Endpoint Interface (vpce-\w+)"), "endpoint"),
    (re.compile(r"Transit Gateway Attachment (tgw-attach-\w+)"), "tgw"),
    (re.compile(r"^AWS Lambda VPC ENI"), "lambda"),
)
_NLB_DESCRIPTION = re.compile(r"^ELB (net/\S+)")  # no NLB kind in the model: unknown, resource named
_TYPE_KINDS: dict[str, InterfaceKind] = {
    "nat_gateway": "nat",
    "vpc_endpoint": "endpoint",
    "transit_gateway": "tgw",
    "gateway_load_balancer_endpoint": "firewall",
    "lambda": "lambda",
}


def _paginate(client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every page of a Describe call, turning AWS errors into flowsleuth errors."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    try:
        yield from client.get_paginator(operation).paginate(**kwargs)
    except NoCredentialsError:
        raise FlowsleuthError("no AWS credentials found: pass --profile or set AWS_PROFILE / AWS_ACCESS_KEY_ID") from None
    except EndpointConnectionError as e:
        raise SourceError(f"cannot reach the EC2 endpoint: {e}", transient=True) from None
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        action = "ec2:" + "".join(p.capitalize() for p in operation.split("_"))
        if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            raise FlowsleuthError(f"not allowed to call {action}: grant it (see docs/topology.md for the full list)") from None
        transient = code in ("RequestLimitExceeded", "Throttling", "ServiceUnavailable", "InternalError")
        raise SourceError(f"{action} failed: {code}: {e.response.get('Error', {}).get('Message', '')}", transient=transient) from None
    except BotoCoreError as e:
        raise SourceError(f"EC2 call {operation} failed: {e}") from None


def _items(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [item for page in _paginate(client, operation, **kwargs) for item in page.get(key, [])]


def _tags(obj: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in obj.get("Tags", []) or []}


def interface_kind(eni: dict[str, Any]) -> tuple[InterfaceKind, str | None]:
    """Kind and resource id of an ENI from its InterfaceType, description and attachment.

    InterfaceType decides when it is specific (a Gateway Load Balancer endpoint's
    description also reads "VPC Endpoint Interface vpce-..."); the description names the
    resource (``ELB app/<name>/<id>``, ``Interface for NAT Gateway nat-...``).
    """
    desc = eni.get("Description") or ""
    desc_kind: InterfaceKind | None = None
    resource: str | None = None
    for pattern, kind in _DESCRIPTION_KINDS:
        m = pattern.search(desc)
        if m:
            desc_kind, resource = kind, (m.group(1) if m.groups() else None)
            break
    type_kind = _TYPE_KINDS.get(eni.get("InterfaceType") or "interface")
    if type_kind:
        return type_kind, resource
    if desc_kind:
        return desc_kind, resource
    instance = (eni.get("Attachment") or {}).get("InstanceId")
    if instance:
        return "instance", instance
    m = _NLB_DESCRIPTION.search(desc)
    return "unknown", (m.group(1) if m else None)


def _route(r: dict[str, Any]) -> Route | None:
    dest = r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock") or r.get("DestinationPrefixListId")
    target = next((r[k] for k in _ROUTE_TARGETS if r.get(k)), None)
    if not dest or not target:
        return None
    return Route(destination=dest, target=target)


def _nacl_entry(e: dict[str, Any]) -> NaclEntry:
    ports = e.get("PortRange") or {}
    return NaclEntry(
        rule_number=int(e["RuleNumber"]),
        egress=bool(e["Egress"]),
        action="allow" if e.get("RuleAction") == "allow" else "deny",
        cidr=e.get("CidrBlock") or e.get("Ipv6CidrBlock") or "0.0.0.0/0",
        protocol=str(e.get("Protocol", "-1")),
        port_from=ports.get("From"),
        port_to=ports.get("To"),
    )


def _subnet_role(route_table: RouteTable | None) -> str | None:
    if route_table is None:
        return None
    default = {r.target for r in route_table.routes if r.destination in ("0.0.0.0/0", "::/0")}
    if any(t.startswith("igw-") for t in default):
        return "public"
    if any(t.startswith("nat-") for t in default):
        return "private"
    if any(t.startswith("tgw-") for t in default):
        return "tgw"
    return "isolated"


def _make_client(*, region: str, profile: str | None, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise UsageError(f"AWS profile {profile!r} not found in ~/.aws/config; check --profile") from None
    # Attempts follow AWS_MAX_ATTEMPTS / the profile (default 3); adaptive mode backs off on throttling.
    cfg = Config(retries={"mode": "adaptive"}, user_agent_extra="flowsleuth-topology")
    return session.client("ec2", region_name=region, endpoint_url=endpoint_url, config=cfg)


def _tgw_details(client: Any, vpc_filter: list[dict[str, Any]], topo: Topology) -> None:
    """TGW attachments of our VPCs and the CIDRs the TGW route tables reach (optional)."""
    try:
        kw = {"Filters": [{"Name": "resource-id", "Values": topo.vpc_ids}]} if vpc_filter else {}
        atts = _items(client, "describe_transit_gateway_attachments", "TransitGatewayAttachments", **kw)
        topo.extra["transit_gateway_attachments"] = [
            {k: a.get(k) for k in ("TransitGatewayAttachmentId", "TransitGatewayId", "ResourceId", "State")} for a in atts
        ]
        cidrs: list[str] = []
        tgw_ids = sorted({a["TransitGatewayId"] for a in atts if a.get("TransitGatewayId")})
        if tgw_ids:
            rts = _items(
                client, "describe_transit_gateway_route_tables", "TransitGatewayRouteTables",
                Filters=[{"Name": "transit-gateway-id", "Values": tgw_ids}],
            )  # fmt: skip
            tables = []
            for rt in rts:
                resp = client.search_transit_gateway_routes(
                    TransitGatewayRouteTableId=rt["TransitGatewayRouteTableId"],
                    Filters=[{"Name": "state", "Values": ["active"]}],
                )
                routes = [r for r in resp.get("Routes", []) if r.get("DestinationCidrBlock")]
                cidrs.extend(r["DestinationCidrBlock"] for r in routes)
                tables.append({
                    "tgw_id": rt.get("TransitGatewayId"),
                    "route_table_id": rt["TransitGatewayRouteTableId"],
                    "route_table": [
                        {"destination": r["DestinationCidrBlock"],
                         "attachment": next((a.get("TransitGatewayAttachmentId") for a in r.get("TransitGatewayAttachments", []) or []), None)}
                        for r in routes
                    ],
                })  # fmt: skip
            topo.extra["transit_gateways"] = tables  # same shape as the simulator's extra["transit_gateway"]
        for c in cidrs:
            if c not in topo.transit_gateway_cidrs:
                topo.transit_gateway_cidrs.append(c)
    except FlowsleuthError as e:
        log.warning("transit gateway details skipped: %s", e)
    except Exception as e:  # noqa: BLE001 - optional part of the snapshot; say why it is missing
        log.warning("transit gateway details skipped: %s: %s", type(e).__name__, e)


def read_from_aws(
    *,
    region: str,
    profile: str | None = None,
    endpoint_url: str | None = None,
    vpc_ids: list[str] | None = None,
    client: Any = None,
) -> Topology:
    """A ``source='api'`` snapshot of subnets, interfaces, routes, NACLs, endpoints and TGW CIDRs."""
    if not region:
        raise UsageError("--region is required to read the topology from AWS")
    ec2 = client or _make_client(region=region, profile=profile, endpoint_url=endpoint_url)
    taken_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    vf = [{"Name": "vpc-id", "Values": list(vpc_ids)}] if vpc_ids else []
    topo = Topology(taken_at=taken_at, source="api", region=region)

    raw_subnets = _items(ec2, "describe_subnets", "Subnets", Filters=vf)
    raw_rts = _items(ec2, "describe_route_tables", "RouteTables", Filters=vf)
    raw_enis = _items(ec2, "describe_network_interfaces", "NetworkInterfaces", Filters=vf)
    raw_nacls = _items(ec2, "describe_network_acls", "NetworkAcls", Filters=vf)
    raw_eps = _items(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=vf)
    raw_nats = _items(ec2, "describe_nat_gateways", "NatGateways", Filter=vf) if vf else _items(ec2, "describe_nat_gateways", "NatGateways")

    main_rt: dict[str, str] = {}
    for rt in raw_rts:
        table = RouteTable(route_table_id=rt["RouteTableId"], vpc_id=rt.get("VpcId"))
        for a in rt.get("Associations", []) or []:
            if a.get("Main"):
                table.main = True
                main_rt[table.vpc_id or ""] = table.route_table_id
            elif a.get("SubnetId"):
                table.subnet_ids.append(a["SubnetId"])
        table.routes = [r for r in (_route(x) for x in rt.get("Routes", []) or []) if r is not None]
        topo.route_tables.append(table)
    rt_of = {s: t.route_table_id for t in topo.route_tables for s in t.subnet_ids}
    rt_by_id = {t.route_table_id: t for t in topo.route_tables}

    for n in raw_nacls:
        nacl = Nacl(
            nacl_id=n["NetworkAclId"], vpc_id=n.get("VpcId"),
            subnet_ids=[a["SubnetId"] for a in n.get("Associations", []) or [] if a.get("SubnetId")],
            entries=sorted((_nacl_entry(e) for e in n.get("Entries", []) or []), key=lambda e: (e.egress, e.rule_number)),
        )  # fmt: skip
        topo.nacls.append(nacl)
    nacl_of = {s: n.nacl_id for n in topo.nacls for s in n.subnet_ids}

    for s in raw_subnets:
        vpc = s.get("VpcId")
        rt_id = rt_of.get(s["SubnetId"]) or main_rt.get(vpc or "")
        topo.subnets.append(
            Subnet(
                subnet_id=s["SubnetId"], cidr=s.get("CidrBlock") or "", az=s.get("AvailabilityZone"),
                az_id=s.get("AvailabilityZoneId"), vpc_id=vpc, role=_subnet_role(rt_by_id.get(rt_id or "")),
                route_table_id=rt_id, nacl_id=nacl_of.get(s["SubnetId"]), name=_tags(s).get("Name"), source="api",
            )
        )  # fmt: skip
        if s.get("OwnerId") and not topo.account_id:
            topo.account_id = s["OwnerId"]
        for assoc in s.get("Ipv6CidrBlockAssociationSet", []) or []:
            topo.extra.setdefault("subnet_ipv6_cidrs", {}).setdefault(s["SubnetId"], []).append(assoc.get("Ipv6CidrBlock"))

    nat_by_eni = {a["NetworkInterfaceId"]: g["NatGatewayId"] for g in raw_nats for a in g.get("NatGatewayAddresses", []) or [] if a.get("NetworkInterfaceId")}
    az_by_subnet = {s.subnet_id: (s.az, s.az_id) for s in topo.subnets}
    lbs: dict[str, LoadBalancer] = {}
    for e in raw_enis:
        kind, resource = interface_kind(e)
        eni_id = e["NetworkInterfaceId"]
        if kind in ("nat", "unknown") and eni_id in nat_by_eni:
            kind, resource = "nat", nat_by_eni[eni_id]
        az, az_id = az_by_subnet.get(e.get("SubnetId", ""), (e.get("AvailabilityZone"), None))
        ip = e.get("PrivateIpAddress") or next((a.get("Ipv6Address") for a in e.get("Ipv6Addresses", []) or []), "") or ""
        topo.interfaces.append(
            Interface(
                interface_id=eni_id, private_ip=ip, kind=kind, subnet_id=e.get("SubnetId"), vpc_id=e.get("VpcId"),
                az=az or e.get("AvailabilityZone"), az_id=az_id, resource_id=resource, description=e.get("Description") or None,
                public_ip=(e.get("Association") or {}).get("PublicIp"), confidence=1.0, source="api", seen_at=taken_at,
            )
        )  # fmt: skip
        if kind == "alb" and resource:
            lb = lbs.setdefault(resource, LoadBalancer(name=resource))
            lb.node_ips.append(ip)
            if e.get("SubnetId") and e["SubnetId"] not in lb.subnet_ids:
                lb.subnet_ids.append(e["SubnetId"])
    topo.load_balancers = sorted(lbs.values(), key=lambda lb: lb.name)

    for ep in raw_eps:
        service = ep.get("ServiceName") or ""
        etype = ep.get("VpcEndpointType") or "Gateway"
        topo.endpoints.append(
            Endpoint(
                endpoint_id=ep["VpcEndpointId"], service=service.rsplit(".", 1)[-1] if etype == "Gateway" else service,
                endpoint_type=cast(EndpointType, etype if etype in ("Gateway", "Interface", "GatewayLoadBalancer") else "Interface"),
                vpc_id=ep.get("VpcId"), route_table_ids=list(ep.get("RouteTableIds", []) or []),
                interface_ids=list(ep.get("NetworkInterfaceIds", []) or []),
            )
        )  # fmt: skip

    topo.vpc_ids = sorted({s.vpc_id for s in topo.subnets if s.vpc_id} | set(vpc_ids or []))
    # CIDRs our own route tables send to a TGW (other subnets' reach is evidence too).
    for t in topo.route_tables:
        for r in t.routes:
            if r.target.startswith("tgw-") and _is_cidr(r.destination) and r.destination not in topo.transit_gateway_cidrs:
                topo.transit_gateway_cidrs.append(r.destination)
    _tgw_details(ec2, vf, topo)
    log.info(
        "EC2 snapshot of %s: %d subnets, %d interfaces, %d route tables, %d NACLs, %d endpoints",
        region, len(topo.subnets), len(topo.interfaces), len(topo.route_tables), len(topo.nacls), len(topo.endpoints),
    )  # fmt: skip
    return topo


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True
