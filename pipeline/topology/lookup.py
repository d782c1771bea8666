"""Resolve addresses and ids to interfaces, subnets and AZs, and enrich findings with them.

A flow record names ``10.0.1.37``; an engineer needs "the ALB node in us-east-1b, in
subnet-B". ``Resolver`` answers that from a ``Topology`` (longest-prefix CIDR match
for subnets, IPv4 and IPv6); ``enrich_finding`` writes the answer into a finding's
``evidence["topology"]``, and fills ``az``/``az_id``/``subnet_id`` into the entity when
the detector left them out and the map knows them.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
from typing import Any

from ..findings import Finding
from .model import Interface, LoadBalancer, Subnet, Topology

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Entity keys that hold an address (``target`` may be ``ip:port``).
ADDRESS_KEYS: tuple[str, ...] = ("srcaddr", "dstaddr", "target", "client_ip", "target_ip", "node_ip", "pkt_srcaddr", "pkt_dstaddr")
#: Which entity key decides the AZ/subnet added to the entity, in order of preference.
PRIMARY_KEYS: tuple[str, ...] = ("interface_id", "subnet_id", "srcaddr", "target", "target_ip", "node_ip", "dstaddr", "az_id", "az")


def parse_ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from ``ip``, ``ip:port`` or ``[v6]:port``; None when it is not one."""
    if not value:
        return None
    v = value.strip()
    if v.startswith("[") and "]" in v:
        v = v[1 : v.index("]")]
    elif v.count(":") == 1:
        v = v.split(":", 1)[0]
    try:
        return ipaddress.ip_address(v)
    except ValueError:
        return None


class Resolver:
    """Lookups over one topology. Build once per run; lookups are dict/CIDR scans."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._subnets = {s.subnet_id: s for s in topology.subnets}
        self._interfaces = {i.interface_id: i for i in topology.interfaces}
        self._by_ip: dict[str, Interface] = {}
        # Older addresses first, then current ones by last sighting: the newest holder wins.
        for i in sorted(topology.interfaces, key=lambda i: i.seen_at or ""):
            for old in i.previous_ips:
                self._by_ip.setdefault(self._norm(old), i)
        for i in sorted(topology.interfaces, key=lambda i: i.seen_at or ""):
            for ip in (i.private_ip, i.public_ip):
                if ip:
                    self._by_ip[self._norm(ip)] = i
        nets: list[tuple[IPNetwork, Subnet]] = []
        for s in topology.subnets:
            cidrs = [s.cidr, *topology.extra.get("subnet_ipv6_cidrs", {}).get(s.subnet_id, [])]
            for c in cidrs:
                try:
                    nets.append((ipaddress.ip_network(c, strict=False), s))
                except (ValueError, TypeError):
                    continue  # "" when only the logs know the subnet
        self._nets = sorted(nets, key=lambda n: n[0].prefixlen, reverse=True)
        self._lb_by_ip = {ip: lb for lb in topology.load_balancers for ip in lb.node_ips}

    @staticmethod
    def _norm(ip: str) -> str:
        a = parse_ip(ip)
        return str(a) if a else ip

    def interface(self, interface_id: str) -> Interface | None:
        return self._interfaces.get(interface_id)

    def subnet(self, subnet_id: str) -> Subnet | None:
        return self._subnets.get(subnet_id)

    def address(self, ip: str) -> Interface | None:
        """The interface holding ``ip`` (private or public; older snapshots' addresses too)."""
        a = parse_ip(ip)
        return self._by_ip.get(str(a)) if a else None

    def load_balancer(self, ip: str) -> LoadBalancer | None:
        """The load balancer whose node has ``ip``, per the ALB logs or the API."""
        a = parse_ip(ip)
        return self._lb_by_ip.get(str(a)) if a else None

    def subnet_for_ip(self, ip: str) -> Subnet | None:
        """The most specific subnet whose CIDR holds ``ip``; else the subnet of the interface holding it."""
        a = parse_ip(ip)
        if a is None:
            return None
        for net, s in self._nets:
            if a.version == net.version and a in net:
                return s
        iface = self._by_ip.get(str(a))
        return self._subnets.get(iface.subnet_id) if iface and iface.subnet_id else None

    def describe(self, key: str, value: str) -> dict[str, Any] | None:
        """Topology context of one entity value, or None when the map knows nothing of it."""
        iface: Interface | None = None
        subnet: Subnet | None = None
        lb: LoadBalancer | None = None
        if key in ("az", "az_id"):
            return self._describe_az(key, value)
        if key == "load_balancer":
            return self._describe_load_balancer(value)
        if key == "interface_id":
            iface = self.interface(value)
        elif key == "subnet_id":
            subnet = self.subnet(value)
        elif key in ADDRESS_KEYS:
            iface = self.address(value)
            subnet = self.subnet_for_ip(value)
            lb = self.load_balancer(value)
        else:
            return None
        if iface and iface.subnet_id and not subnet:
            subnet = self.subnet(iface.subnet_id)
        if not (iface or subnet or lb):
            return None
        kind = iface.kind if iface else ("alb" if lb else None)
        resource = (iface.resource_id if iface else None) or (lb.name if lb else None)
        out: dict[str, Any] = {
            "az": (iface.az if iface else None) or (subnet.az if subnet else None),
            "az_id": (iface.az_id if iface else None) or (subnet.az_id if subnet else None),
            "subnet_id": (iface.subnet_id if iface else None) or (subnet.subnet_id if subnet else None),
            "vpc_id": (iface.vpc_id if iface else None) or (subnet.vpc_id if subnet else None),
            "kind": kind,
            "resource": resource,
            "interface_id": iface.interface_id if iface else None,
            "subnet_role": subnet.role if subnet else None,
            "route_table_id": subnet.route_table_id if subnet else None,
            # "file" is the field's default: a snapshot's own interfaces carry the snapshot's source.
            "source": (iface.source if iface.source != "file" else self.topology.source)
            if iface
            else ((subnet.source or self.topology.source) if subnet else self.topology.source),
            "confidence": iface.confidence if iface else (subnet.confidence if subnet else None),
        }
        return {k: v for k, v in out.items() if v is not None}


    def _describe_az(self, key: str, value: str) -> dict[str, Any] | None:
        """The other name of an AZ (name <-> id), when the subnets agree on one."""
        other = "az_id" if key == "az" else "az"
        names = {getattr(s, other) for s in self.topology.subnets if getattr(s, key) == value and getattr(s, other)}
        return {other: names.pop()} if len(names) == 1 else None

    def _describe_load_balancer(self, value: str) -> dict[str, Any] | None:
        name = value.replace(".", "/") if value.startswith("app.") else value
        lb = next((lb for lb in self.topology.load_balancers if lb.name == name), None)
        if lb is None:
            return None
        return {"kind": "alb", "resource": lb.name, "node_ips": list(lb.node_ips), "subnet_ids": list(lb.subnet_ids)}


def enrich_finding(finding: Finding, resolver: Resolver) -> Finding:
    """A copy of ``finding`` with ``evidence["topology"]`` naming what each entity value is.

    ``evidence["topology"]`` maps entity key -> {az, az_id, subnet_id, vpc_id, kind,
    resource, interface_id, subnet_role, route_table_id, source, confidence} (known
    fields only). Entity values are left as the detector set them; ``az``, ``az_id``
    and ``subnet_id`` are added when missing, taken from the first of PRIMARY_KEYS the
    map resolves. The finding id does not change.
    """
    context: dict[str, dict[str, Any]] = {}
    for key, value in finding.entity.items():
        d = resolver.describe(key, value)
        if d:
            context[key] = d
    evidence = copy.deepcopy(finding.evidence)
    entity = dict(finding.entity)
    if context:
        evidence["topology"] = context
        primary = next((context[k] for k in PRIMARY_KEYS if k in context and "subnet_id" in context[k]), None)
        primary = primary or next((context[k] for k in PRIMARY_KEYS if k in context), None)
        if primary:
            for k in ("az", "az_id", "subnet_id"):
                if k not in entity and primary.get(k):
                    entity[k] = str(primary[k])
    return Finding(
        detector=finding.detector, severity=finding.severity, window_start=finding.window_start,
        window_end=finding.window_end, entity=entity, title=finding.title, summary=finding.summary,
        evidence=evidence, hint=finding.hint, state=finding.state, id=finding.id,
    )  # fmt: skip
