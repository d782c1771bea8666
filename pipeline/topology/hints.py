"""Root-cause hints from a configuration snapshot, kept apart from what the logs show.

Each hint reads "the logs show X; the configuration snapshot shows Y": X restates the
finding (from its entity), Y is a fact read from the snapshot (route table and its
default route, the NACL rule that decides the traffic, a gateway endpoint's route-table
associations, a missing route to a Transit Gateway CIDR). A topology inferred from
logs alone has no configuration, so it gives no hints. Hints never guess beyond the
snapshot: when it does not explain the finding, they say so or stay silent.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from typing import cast

from ..findings import Finding
from .lookup import Resolver, parse_ip
from .model import Endpoint, Nacl, Route, RouteTable, Subnet, Topology
from .nacl import DEFAULT_RULE_NUMBER, EPHEMERAL_PORTS, decide_range, describe_entry, protocol_name, protocol_number

log = logging.getLogger(__name__)

_DEFAULT_DESTS = ("0.0.0.0/0", "::/0")


class _Snapshot:
    """Indexes over one topology, and how to name its parts in a sentence."""

    def __init__(self, topology: Topology) -> None:
        self.topo = topology
        self.resolver = Resolver(topology)
        self.route_tables = {r.route_table_id: r for r in topology.route_tables}
        self.nacls = {n.nacl_id: n for n in topology.nacls}
        self.main_rt = {r.vpc_id: r for r in topology.route_tables if r.main}
        self.rt_of = {s: r for r in topology.route_tables for s in r.subnet_ids}
        self.nacl_of = {s: n for n in topology.nacls for s in n.subnet_ids}
        self.alb_subnets = {i.subnet_id for i in topology.interfaces if i.kind == "alb" and i.subnet_id}
        self.alb_subnets |= {s for lb in topology.load_balancers for s in lb.subnet_ids}
        when = f", taken {topology.taken_at}" if topology.taken_at else ""
        self.says = f"the configuration snapshot ({topology.source}{when}) shows"

    def route_table(self, subnet: Subnet) -> RouteTable | None:
        rt = self.route_tables.get(subnet.route_table_id or "") or self.rt_of.get(subnet.subnet_id)
        return rt or self.main_rt.get(subnet.vpc_id)

    def nacl(self, subnet: Subnet) -> Nacl | None:
        return self.nacls.get(subnet.nacl_id or "") or self.nacl_of.get(subnet.subnet_id)

    def label(self, subnet: Subnet) -> str:
        what = "ALB" if subnet.subnet_id in self.alb_subnets else subnet.role
        where = subnet.az_id or subnet.az
        inner = ", ".join(x for x in (what, where) if x)
        return f"{subnet.subnet_id} ({inner})" if inner else subnet.subnet_id


def has_configuration(topology: Topology) -> bool:
    """True when the topology holds configuration (routes, NACLs, endpoints), not just inference."""
    return bool(topology.route_tables or topology.nacls or topology.endpoints)


def _default_route(rt: RouteTable) -> Route | None:
    return next((r for r in rt.routes if r.destination in _DEFAULT_DESTS), None)


def _best_route(rt: RouteTable, ip: str) -> Route | None:
    """Longest-prefix match of ``ip`` among the table's CIDR routes (prefix lists ignored)."""
    a = parse_ip(ip)
    best: tuple[int, Route] | None = None
    for r in rt.routes:
        try:
            net = ipaddress.ip_network(r.destination, strict=False)
        except ValueError:
            continue
        if a is not None and a.version == net.version and a in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, r)
    return best[1] if best else None


def _subnets_for(snap: _Snapshot, finding: Finding, keys: Iterable[str]) -> list[Subnet]:
    """Subnets named by (or holding) the entity values under ``keys``, in that order, once each."""
    out: list[Subnet] = []
    for key in keys:
        value = finding.entity.get(key)
        if not value:
            continue
        if key == "subnet_id":
            s = snap.resolver.subnet(value)
        elif key == "interface_id":
            i = snap.resolver.interface(value)
            s = snap.resolver.subnet(i.subnet_id) if i and i.subnet_id else None
        else:
            s = snap.resolver.subnet_for_ip(value)
        if s and s not in out:
            out.append(s)
    return out


def _az_subnets(snap: _Snapshot, finding: Finding) -> list[Subnet]:
    az, az_id = finding.entity.get("az"), finding.entity.get("az_id")
    if not (az or az_id):
        return []
    return [s for s in snap.topo.subnets if (az_id and s.az_id == az_id) or (az and s.az == az)]


def _lb_node_ips(snap: _Snapshot, finding: Finding) -> list[str]:
    name = (finding.entity.get("load_balancer") or "").replace(".", "/")
    lbs = [lb for lb in snap.topo.load_balancers if not name or lb.name == name or name.endswith(lb.name)]
    return [ip for lb in lbs for ip in lb.node_ips if ip]


_ALTERNATIVES = re.compile(r"\{([^{}]*)\}")
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def _fill_summary(template: str, fields: dict[str, str]) -> str:
    """``{a|b|'text'}``: the first non-empty of fields a, b or the text; ``[...]``: left out
    when a field in it is empty (a detector's ``config_summary``)."""

    def pick(m: re.Match[str]) -> str:
        for alt in m.group(1).split("|"):
            alt = alt.strip()
            if alt.startswith("'") and alt.endswith("'"):
                return alt[1:-1]
            if fields.get(alt):
                return fields[alt]
        return ""

    def optional(m: re.Match[str]) -> str:
        names = [a.strip() for g in _ALTERNATIVES.findall(m.group(1)) for a in g.split("|")]
        return _ALTERNATIVES.sub(pick, m.group(1)) if all(fields.get(n) for n in names if not n.startswith("'")) else ""

    return _ALTERNATIVES.sub(pick, _OPTIONAL.sub(optional, template))


def _logs_show(finding: Finding) -> str:
    """'the logs show ...' from the detector's ``config_summary``: the entity's fields plus
    ``dst`` (address:port) and ``where`` (AZ, AZ id or subnet)."""
    e = {k: str(v) for k, v in finding.entity.items() if v not in (None, "")}
    dst = e.get("dstaddr", "")
    e["dst"] = f"{dst}:{e['dstport']}" if dst and e.get("dstport") else dst
    e["where"] = e.get("az") or e.get("az_id") or e.get("subnet_id") or ""
    from ..detect.catalog import shipped_detector  # detect imports topology

    det = shipped_detector(finding.detector)
    template = det.config_summary if det else ""
    return "the logs show " + (_fill_summary(template, e) if template else (finding.title or finding.detector))


def _route_hints(snap: _Snapshot, finding: Finding, subnets: list[Subnet], *, always: bool) -> list[str]:
    """The subnet's route table and default route; flagged when an ALB subnet defaults to a NAT."""
    out = []
    for s in subnets:
        rt = snap.route_table(s)
        if rt is None:
            continue
        default = _default_route(rt)
        target = default.target if default else "no default route"
        dest = f"{default.destination} → {default.target}" if default else "no 0.0.0.0/0 route"
        alb_to_nat = s.subnet_id in snap.alb_subnets and target.startswith("nat-")
        if not (always or alb_to_nat):
            continue
        fact = f"{snap.says} {snap.label(s)} is associated with {rt.route_table_id}{' (the main route table)' if rt.main and s.subnet_id not in rt.subnet_ids else ''} whose {dest}"
        if alb_to_nat:
            fact += "; a load balancer subnet whose default route points at a NAT gateway sends responses to internet clients through the NAT (asymmetric path): associate it with the route table that routes 0.0.0.0/0 to the internet gateway"
        out.append(f"{_logs_show(finding)}; {fact}")
    return out


def _nacl_flow_hints(snap: _Snapshot, finding: Finding, *, src: str | None, src_subnets: list[Subnet], dst: str | None, port: int | None, protocol: int) -> list[str]:
    """Which NACL rules decide ``src -> dst:port`` leaving src's subnet and entering dst's."""
    out = []
    ports = (port, port) if port is not None else EPHEMERAL_PORTS
    span = str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"
    legs: list[tuple[Subnet, bool, str]] = []  # (subnet, egress?, peer address)
    if dst:
        legs += [(s, True, dst) for s in src_subnets]
    dst_subnet = snap.resolver.subnet_for_ip(dst) if dst else None
    src_subnet = snap.resolver.subnet_for_ip(src) if src else None
    if dst_subnet and src and dst_subnet not in src_subnets and src_subnet != dst_subnet:
        legs.append((dst_subnet, False, src))
    # One sentence per (NACL, direction, peer), naming every subnet of ours it applies to.
    grouped: dict[tuple[str, bool, str], list[Subnet]] = {}
    for subnet, egress, peer in legs:
        nacl = snap.nacl(subnet)
        if nacl is not None:
            grouped.setdefault((nacl.nacl_id, egress, peer), []).append(subnet)
    for (nacl_id, egress, peer), subnets in grouped.items():
        nacl = snap.nacls[nacl_id]
        names = [snap.label(x) for x in subnets[:3]] + ([f"{len(subnets) - 3} more"] if len(subnets) > 3 else [])
        on = ", ".join(names)
        way = "outbound" if egress else "inbound"
        toward = "to" if egress else "from"
        segments = decide_range(nacl, egress=egress, addr=peer, protocol=protocol, low=ports[0], high=ports[1])
        denied = [d for d in segments if not d.allowed]
        if not denied:
            continue
        if len(segments) == 1:
            fact = f"{nacl.nacl_id} on {on} decides {way} {protocol_name(protocol)} {span} {toward} {peer} by {describe_entry(segments[0].entry)}"
        else:
            parts = "; ".join(
                f"{d.low}-{d.high} by {describe_entry(d.entry)}" if d.low != d.high else f"{d.low} by {describe_entry(d.entry)}"
                for d in denied
            )
            fact = f"{nacl.nacl_id} on {on} denies {way} {protocol_name(protocol)} {toward} {peer} on ports {parts}"
        if port is None and any(d.entry is None or d.entry.rule_number >= DEFAULT_RULE_NUMBER for d in denied):
            fact += " (no rule allows the ephemeral range 1024-65535 that return traffic uses)"
        out.append(f"{_logs_show(finding)}; {snap.says} {fact}")
    return out


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _alb_nacl_hints(snap: _Snapshot, finding: Finding) -> list[str]:
    """NACLs between the load balancer's nodes and the subnets of the finding's AZ."""
    protocol = protocol_number(finding.entity.get("protocol") or 6)
    out = []
    az_subnets = _az_subnets(snap, finding)
    nodes = _lb_node_ips(snap, finding)
    local = [ip for ip in nodes if snap.resolver.subnet_for_ip(ip) in az_subnets]
    for s in az_subnets:
        if s.subnet_id in snap.alb_subnets:
            continue  # the targets' subnets answer the nodes on ephemeral ports
        for node in (local or nodes)[:1]:
            out += _nacl_flow_hints(snap, finding, src=None, src_subnets=[s], dst=node, port=None, protocol=protocol)
    return out


def _nacl_hints(snap: _Snapshot, finding: Finding, *, returning: bool = False) -> list[str]:
    """NACLs on the way from the finding's sources to its destination; ``returning``: the
    flows are replies (to ephemeral ports; without a named client, to the load balancer)."""
    e = finding.entity
    protocol = protocol_number(e.get("protocol") or 6)
    src_subnets = _subnets_for(snap, finding, ("srcaddr", "interface_id", "subnet_id"))
    named = snap.nacls.get(e.get("nacl_id", ""))
    if named is not None:  # the detector named the NACL: evaluate it on its subnets
        src_subnets += [x for x in snap.topo.subnets if x.subnet_id in named.subnet_ids and x not in src_subnets]
    if not src_subnets and returning:
        src_subnets = _az_subnets(snap, finding)
    # An interface named in the entity may be the destination's; and traffic inside one
    # subnet never crosses its NACL. Either way the destination's subnet is no source leg.
    dst_subnet = snap.resolver.subnet_for_ip(e.get("dstaddr", ""))
    src_subnets = [s for s in src_subnets if s != dst_subnet]
    port = _int(e.get("dstport"))
    if returning and (port is None or port < EPHEMERAL_PORTS[0]):
        port = None  # the return leg goes to the client's ephemeral port: check the whole range
    dst = e.get("dstaddr")
    if dst is None and returning:
        # No client named: the load balancer nodes are the clients of subnets behind them.
        out = []
        for sub in src_subnets:
            if sub.subnet_id not in snap.alb_subnets:
                for node in _lb_node_ips(snap, finding)[:1]:
                    out += _nacl_flow_hints(snap, finding, src=None, src_subnets=[sub], dst=node, port=None, protocol=protocol)
        return out
    return _nacl_flow_hints(snap, finding, src=e.get("srcaddr"), src_subnets=src_subnets, dst=dst, port=port, protocol=protocol)


def _service_matches(endpoint: Endpoint, service: str) -> bool:
    s = service.strip().lower()
    ep = endpoint.service.lower()
    return ep == s or ep.endswith("." + s) or s.endswith("." + ep)


def _endpoint_hints(snap: _Snapshot, finding: Finding) -> list[str]:
    e = finding.entity
    service = (e.get("service") or e.get("pkt_dst_aws_service") or e.get("pkt_src_aws_service") or "s3").lower()
    subnets = _subnets_for(snap, finding, ("subnet_id", "interface_id", "srcaddr"))
    out = []
    for s in subnets:
        rt = snap.route_table(s)
        eps = [ep for ep in snap.topo.endpoints if ep.endpoint_type == "Gateway" and _service_matches(ep, service) and (ep.vpc_id in (None, s.vpc_id))]
        if rt is None:
            continue
        if not eps:
            out.append(f"{_logs_show(finding)}; {snap.says} no {service} gateway endpoint in {s.vpc_id or 'the VPC'}")
            continue
        for ep in eps:
            assoc = ", ".join(ep.route_table_ids) or "no route table"
            if rt.route_table_id in ep.route_table_ids:
                out.append(
                    f"{_logs_show(finding)}; {snap.says} {ep.endpoint_id} ({service}, gateway) is associated with {rt.route_table_id}, "
                    f"the route table of {snap.label(s)}, so routing does not explain it (check DNS, the endpoint policy, or a proxy)"
                )
            else:
                out.append(
                    f"{_logs_show(finding)}; {snap.says} {ep.endpoint_id} ({service}, gateway) is associated with {assoc} "
                    f"but not with {rt.route_table_id}, the route table of {snap.label(s)}"
                )
    return out


def _tgw_hints(snap: _Snapshot, finding: Finding) -> list[str]:
    dst = finding.entity.get("dstaddr")
    a = parse_ip(dst)
    if a is None:
        return []
    tgw_net = None
    for c in snap.topo.transit_gateway_cidrs:
        try:
            net = ipaddress.ip_network(c, strict=False)
        except ValueError:
            continue
        if a.version == net.version and a in net:
            tgw_net = c
            break
    if tgw_net is None:
        return []
    out = []
    subnets = _subnets_for(snap, finding, ("srcaddr", "interface_id", "subnet_id"))
    if not subnets:
        # No source named: check the TGW's own route table behind every VPC route to it.
        for rt in snap.topo.route_tables:
            best = _best_route(rt, str(a))
            if best and best.target.startswith("tgw-"):
                out += _tgw_route_table_hints(snap, finding, rt, best, str(a))
        return out[:1]
    for s in subnets:
        srt = snap.route_table(s)
        if srt is None:
            continue
        best = _best_route(srt, str(a))
        if best and best.target.startswith("tgw-"):
            out += _tgw_route_table_hints(snap, finding, srt, best, str(a))
            continue
        via = f"its longest match for {a} is {best.destination} → {best.target}" if best else f"it has no route covering {a}"
        out.append(
            f"{_logs_show(finding)}; {snap.says} {tgw_net} is reachable through the transit gateway, "
            f"but {srt.route_table_id}, the route table of {snap.label(s)}, has no route to it through a tgw-: {via}"
        )
    return out


def tgw_route_tables(topology: Topology) -> list[dict[str, object]]:
    """Transit Gateway route tables recorded under ``extra`` (by the EC2 reader or the simulator).

    Shape: ``{"tgw_id": ..., "route_table": [{"destination": CIDR, "attachment": id}, ...]}``,
    under ``extra["transit_gateways"]`` (a list) or ``extra["transit_gateway"]`` (one).
    """
    extra = topology.extra or {}
    tables = list(extra.get("transit_gateways") or [])
    if isinstance(extra.get("transit_gateway"), dict):
        tables.append(extra["transit_gateway"])
    return [t for t in tables if isinstance(t, dict) and isinstance(t.get("route_table"), list)]


def _tgw_route_table_hints(snap: _Snapshot, finding: Finding, rt: RouteTable, vpc_route: Route, dst: str) -> list[str]:
    """The VPC routes to the TGW; does the TGW's own route table know where to send it?"""
    a = parse_ip(dst)
    out = []
    for table in tgw_route_tables(snap.topo):
        if table.get("tgw_id") and table["tgw_id"] != vpc_route.target:
            continue
        covered = False
        routes = cast(list[dict[str, object]], table["route_table"])
        for r in routes:
            try:
                net = ipaddress.ip_network(str(r.get("destination")), strict=False)
            except ValueError:
                continue
            covered = covered or (a is not None and a.version == net.version and a in net)
        if not covered:
            dests = ", ".join(str(r.get("destination")) for r in routes) or "nothing"
            out.append(
                f"{_logs_show(finding)}; {snap.says} {rt.route_table_id} sends {vpc_route.destination} to {vpc_route.target}, "
                f"but the transit gateway's route table has no route covering {dst} (it routes only {dests})"
            )
    return out


def config_hints(finding: Finding, topology: Topology) -> list[str]:
    """Hints for one finding from the snapshot's routes, NACLs, endpoints and TGW CIDRs."""
    if not has_configuration(topology):
        return []
    snap = _Snapshot(topology)
    from ..detect.catalog import shipped_detector  # detect imports topology

    det = shipped_detector(finding.detector)
    hints: list[str] = []
    for name, check in CHECKS.items():  # in this order, whatever the header's order
        if det and name in det.config_checks:
            hints += check(snap, finding)
    seen: set[str] = set()
    unique = [h for h in hints if not (h in seen or seen.add(h))]  # type: ignore[func-returns-value]
    log.debug("%d configuration hints for %s", len(unique), finding.id)
    return unique


def _lb_path_routes(snap: _Snapshot, finding: Finding) -> list[str]:
    """The misrouted load-balancer subnet if there is one; else the first subnet's route."""
    subnets = _subnets_for(snap, finding, ("srcaddr", "node_ip", "subnet_id", "interface_id", "dstaddr"))
    return _route_hints(snap, finding, subnets, always=False) or _route_hints(snap, finding, subnets[:1], always=True)


#: ``config_checks:`` names in a detector's header -> the hints they produce, run in this order.
CHECKS: dict[str, Callable[[_Snapshot, Finding], list[str]]] = {
    "lb_path_routes": _lb_path_routes,
    "alb_subnet_routes": lambda snap, f: _route_hints(
        snap, f, [s for s in _az_subnets(snap, f) if s.subnet_id in snap.alb_subnets], always=False
    ),
    "nacl": _nacl_hints,
    "alb_nacl": _alb_nacl_hints,
    "return_nacl": lambda snap, f: _nacl_hints(snap, f, returning=True),
    "endpoint": lambda snap, f: _endpoint_hints(snap, f),
    "tgw": lambda snap, f: _tgw_hints(snap, f),
    "source_routes": lambda snap, f: _route_hints(
        snap, f, _subnets_for(snap, f, ("srcaddr", "subnet_id", "interface_id")), always=False
    ),
}
