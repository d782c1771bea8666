"""The topology contract: what ``topology.json`` holds (written by the simulator, by
``flowsleuth topology`` from EC2 APIs, or inferred from logs) and what detectors and
the report read. JSON keys are the dataclass field names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from ..errors import UsageError

InterfaceKind = Literal["alb", "nat", "instance", "endpoint", "tgw", "firewall", "lambda", "unknown"]
TopologySource = Literal["logs", "api", "file", "simulator"]
EndpointType = Literal["Gateway", "Interface", "GatewayLoadBalancer"]


@dataclass
class Subnet:
    subnet_id: str
    cidr: str
    az: str | None = None  # e.g. us-east-1a (AZ names differ per account)
    az_id: str | None = None  # e.g. use1-az1 (stable across accounts)
    vpc_id: str | None = None
    role: str | None = None  # public, private, firewall, tgw, ... (free text)
    route_table_id: str | None = None
    nacl_id: str | None = None
    name: str | None = None
    # Added: provenance, as on Interface. ``cidr`` is "" when only logs know the subnet.
    confidence: float = 1.0
    source: TopologySource | None = None


@dataclass
class Interface:
    interface_id: str
    private_ip: str
    kind: InterfaceKind = "unknown"
    subnet_id: str | None = None
    vpc_id: str | None = None
    az: str | None = None
    az_id: str | None = None
    resource_id: str | None = None  # instance id, app/<lb>/<id>, nat-..., vpce-..., tgw-attach-...
    description: str | None = None
    public_ip: str | None = None
    confidence: float = 1.0  # 1.0 from API/file; lower when inferred from logs
    source: TopologySource = "file"
    # Added: when a snapshot last saw this interface, and addresses it held in older
    # snapshots (interfaces churn; old flow records still name the old address).
    # ``private_ip`` is "" when unknown (e.g. a TGW attachment ENI seen only in TGW logs).
    seen_at: str | None = None
    previous_ips: list[str] = field(default_factory=list)


@dataclass
class Route:
    destination: str  # CIDR or prefix list id (pl-...)
    target: str  # local, igw-..., nat-..., vpce-..., tgw-..., eni-..., vpce (firewall)


@dataclass
class RouteTable:
    route_table_id: str
    vpc_id: str | None = None
    subnet_ids: list[str] = field(default_factory=list)
    main: bool = False
    routes: list[Route] = field(default_factory=list)


@dataclass
class NaclEntry:
    rule_number: int
    egress: bool
    action: Literal["allow", "deny"]
    cidr: str
    protocol: str = "-1"  # -1 all, 6 tcp, 17 udp
    port_from: int | None = None
    port_to: int | None = None


@dataclass
class Nacl:
    nacl_id: str
    vpc_id: str | None = None
    subnet_ids: list[str] = field(default_factory=list)
    entries: list[NaclEntry] = field(default_factory=list)


@dataclass
class Endpoint:
    endpoint_id: str
    service: str  # s3, dynamodb, or an interface endpoint service name
    endpoint_type: EndpointType = "Gateway"
    vpc_id: str | None = None
    route_table_ids: list[str] = field(default_factory=list)
    interface_ids: list[str] = field(default_factory=list)


@dataclass
class LoadBalancer:
    name: str  # app/<name>/<id>
    node_ips: list[str] = field(default_factory=list)
    subnet_ids: list[str] = field(default_factory=list)


@dataclass
class Topology:
    taken_at: str | None = None  # ISO 8601 UTC of the snapshot
    source: TopologySource = "file"
    region: str | None = None
    account_id: str | None = None
    vpc_ids: list[str] = field(default_factory=list)
    subnets: list[Subnet] = field(default_factory=list)
    interfaces: list[Interface] = field(default_factory=list)
    route_tables: list[RouteTable] = field(default_factory=list)
    nacls: list[Nacl] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    load_balancers: list[LoadBalancer] = field(default_factory=list)
    transit_gateway_cidrs: list[str] = field(default_factory=list)  # CIDRs reachable through a TGW
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Topology:
        def build(klass: type, item: dict[str, Any]) -> Any:
            names = {f.name for f in fields(klass)}
            return klass(**{k: v for k, v in item.items() if k in names})

        try:
            topo = build(cls, d)
            topo.subnets = [build(Subnet, s) for s in d.get("subnets", [])]
            topo.interfaces = [build(Interface, i) for i in d.get("interfaces", [])]
            topo.route_tables = []
            for rt in d.get("route_tables", []):
                r = build(RouteTable, rt)
                r.routes = [build(Route, x) for x in rt.get("routes", [])]
                topo.route_tables.append(r)
            topo.nacls = []
            for n in d.get("nacls", []):
                nacl = build(Nacl, n)
                nacl.entries = [build(NaclEntry, e) for e in n.get("entries", [])]
                topo.nacls.append(nacl)
            topo.endpoints = [build(Endpoint, e) for e in d.get("endpoints", [])]
            topo.load_balancers = [build(LoadBalancer, lb) for lb in d.get("load_balancers", [])]
        except (TypeError, AttributeError) as e:
            raise UsageError(f"topology file is not in flowsleuth's topology.json shape: {e}") from e
        return topo

    @classmethod
    def load(cls, path: str | Path) -> Topology:
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise UsageError(f"topology file {str(p)!r} not found") from None
        except json.JSONDecodeError as e:
            raise UsageError(f"topology file {str(p)!r} is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise UsageError(f"topology file {str(p)!r} must hold a JSON object")
        return cls.from_dict(data)
