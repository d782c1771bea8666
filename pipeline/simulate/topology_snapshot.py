"""The simulated environment as a ``pipeline.topology.Topology``, misconfigurations included.

The snapshot is what EC2's Describe* APIs would have returned while the incidents were
active: the ALB subnet associated with its AZ's app route table (asymmetric_route), an
app route table without the DynamoDB prefix-list route (endpoint_route_missing), a NACL
without the outbound ephemeral range (nacl_ephemeral) or with an outbound deny
(nacl_deny_destination). Faults outside VPC objects (TGW route table, firewall rules,
endpoint policy, target health-check matcher) are described under ``extra``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from ..topology import Endpoint, Interface, LoadBalancer, Nacl, NaclEntry, Route, RouteTable, Subnet, Topology
from .environment import Env, Host
from .faults import Faults


def _service(h: Host) -> str:
    return h.description.rsplit(" ", 1)[-1]  # "VPC Endpoint Interface <service>"


def build_topology(env: Env, faults: Faults, taken_at: int) -> Topology:
    """The environment as EC2's APIs would describe it at ``taken_at``, with ``faults`` applied."""
    ids = env.ids
    asym, eph = faults.get("asymmetric_route"), faults.get("nacl_ephemeral")
    ddb_missing, deny = faults.get("endpoint_route_missing"), faults.get("nacl_deny_destination")
    strict_acl = "acl-" + hashlib.sha256(ids["acl_app"].encode()).hexdigest()[:17] if eph else None
    endpoint_ids: dict[str, str] = {}  # interface-endpoint service -> vpce id (from its first ENI)
    for h in env.endpoint_enis:
        endpoint_ids.setdefault(_service(h), "vpce-" + h.eni[4:])

    subnets: list[Subnet] = []
    acl: str | None
    for s in [*env.public_subnets, *env.app_subnets, *env.tgw_subnets, env.fw_subnet, env.api_subnet]:
        if s.role == "public":
            rtb = ids[f"rtb_app{s.az}"] if asym and env.public_subnets.index(s) == asym.index else ids["rtb_public"]
            acl = ids["acl_public"]
        elif s.role == "private-app":
            rtb = ids[f"rtb_app{s.az}"]
            acl = strict_acl if eph and env.app_subnets.index(s) == eph.index else ids["acl_app"]
        elif s.role == "tgw":
            rtb, acl = ids["rtb_tgw"], ids["acl_app"]
        else:
            rtb, acl = (ids["rtb_fw"] if s.role == "firewall" else ids["rtb_api"]), ids["acl_api"]
        subnets.append(Subnet(s.subnet_id, s.cidr, env.azs[s.az], env.az_ids[s.az], s.vpc_id, s.role, rtb, acl,
                              name=f"{s.role}-{env.azs[s.az][-1]}"))  # fmt: skip

    interfaces = []
    for h in env.hosts:
        if h.kind == "alb":
            resource = env.load_balancer
        elif h.kind == "nat":
            resource = ids["nat"]
        elif h.kind == "firewall":
            resource = ids["firewall"]
        elif h.kind == "tgw":
            resource = ids["tgw_attach_app"]
        elif h.kind == "endpoint":
            resource = endpoint_ids[_service(h)]
        else:
            resource = h.instance_id or ""
        interfaces.append(Interface(h.eni, h.ip, h.kind, h.subnet.subnet_id, h.subnet.vpc_id, env.azs[h.subnet.az],  # type: ignore[arg-type]
                                    env.az_ids[h.subnet.az], resource, h.description or None, h.public_ip,
                                    source="simulator"))  # fmt: skip

    by_rtb: dict[str, list[str]] = {}
    for sn in subnets:
        by_rtb.setdefault(sn.route_table_id or "", []).append(sn.subnet_id)
    local = Route(env.vpc_cidr, "local")
    route_tables = [
        RouteTable(ids["rtb_public"], env.vpc_id, by_rtb.get(ids["rtb_public"], []), False,
                   [local, Route("0.0.0.0/0", ids["igw"]), Route("::/0", ids["igw"])]),
        RouteTable(ids["rtb_tgw"], env.vpc_id, by_rtb.get(ids["rtb_tgw"], []), True, [local]),
        RouteTable(ids["rtb_fw"], env.api_vpc_id, by_rtb.get(ids["rtb_fw"], []), False,
                   [Route(env.api_cidr, "local"), Route(env.vpc_cidr, ids["tgw"])]),
        RouteTable(ids["rtb_api"], env.api_vpc_id, by_rtb.get(ids["rtb_api"], []), True,
                   [Route(env.api_cidr, "local"), Route(env.vpc_cidr, ids["firewall"])]),
    ]  # fmt: skip
    for i in range(len(env.app_subnets)):
        rid = ids[f"rtb_app{i}"]
        routes = [local, Route("0.0.0.0/0", ids["nat"]), Route("::/0", ids["eigw"]), Route(ids["pl_s3"], ids["vpce_s3"])]
        if not (ddb_missing and ddb_missing.index == i):
            routes.append(Route(ids["pl_ddb"], ids["vpce_ddb"]))
        routes.append(Route(env.api_cidr, ids["tgw"]))
        route_tables.append(RouteTable(rid, env.vpc_id, by_rtb.get(rid, []), False, routes))

    def allow_all(egress: bool) -> list[NaclEntry]:
        return [NaclEntry(100, egress, "allow", "0.0.0.0/0"), NaclEntry(32767, egress, "deny", "0.0.0.0/0")]

    app_in = [NaclEntry(100, False, "allow", env.vpc_cidr), NaclEntry(110, False, "allow", "0.0.0.0/0", "6", 1024, 65535),
              NaclEntry(32767, False, "deny", "0.0.0.0/0")]  # fmt: skip
    app_out = allow_all(True)
    if deny:
        app_out = [NaclEntry(90, True, "deny", f"{env.probe_ip}/32"), *app_out]
    app_subnet_ids = [s.subnet_id for s in subnets if s.nacl_id == ids["acl_app"]]
    nacls = [
        Nacl(ids["acl_public"], env.vpc_id, [s.subnet_id for s in subnets if s.nacl_id == ids["acl_public"]],
             allow_all(False) + allow_all(True)),
        Nacl(ids["acl_app"], env.vpc_id, app_subnet_ids, app_in + app_out),
        Nacl(ids["acl_api"], env.api_vpc_id, [s.subnet_id for s in subnets if s.nacl_id == ids["acl_api"]],
             allow_all(False) + allow_all(True)),
    ]  # fmt: skip
    if strict_acl:  # outbound only to named service ports: replies to ephemeral ports are denied
        strict_out = [NaclEntry(100, True, "allow", "0.0.0.0/0", "6", 443, 443),
                      NaclEntry(110, True, "allow", "0.0.0.0/0", "6", 80, 80),
                      NaclEntry(120, True, "allow", env.api_cidr, "6", env.api_port, env.api_port),
                      NaclEntry(32767, True, "deny", "0.0.0.0/0")]  # fmt: skip
        if deny:
            strict_out.insert(0, NaclEntry(90, True, "deny", f"{env.probe_ip}/32"))
        nacls.append(Nacl(strict_acl, env.vpc_id, [s.subnet_id for s in subnets if s.nacl_id == strict_acl], app_in + strict_out))

    app_rtbs = [ids[f"rtb_app{i}"] for i in range(len(env.app_subnets))]
    endpoints = [
        Endpoint(ids["vpce_s3"], "s3", "Gateway", env.vpc_id, app_rtbs),
        Endpoint(ids["vpce_ddb"], "dynamodb", "Gateway", env.vpc_id,
                 [r for i, r in enumerate(app_rtbs) if not (ddb_missing and ddb_missing.index == i)]),
        Endpoint(ids["firewall"], "network-firewall", "GatewayLoadBalancer", env.api_vpc_id, [], [env.firewall.eni]),
    ]  # fmt: skip
    for svc, vpce in endpoint_ids.items():
        enis = [h.eni for h in env.endpoint_enis if _service(h) == svc]
        endpoints.append(Endpoint(vpce, f"com.amazonaws.{env.region}.{svc}", "Interface", env.vpc_id, [], enis))

    tgw_routes = [{"destination": env.vpc_cidr, "attachment": ids["tgw_attach_app"]}]
    if not faults.get("tgw_route_missing"):
        tgw_routes.append({"destination": env.api_cidr, "attachment": ids["tgw_attach_api"]})
    firewall_rules = ["pass tcp any any -> any any (flow:established; sid:1;)"]
    if faults.get("firewall_drop"):
        firewall_rules.insert(0, f"drop http any any -> {env.api_host.ip} {env.api_port} (msg:\"legacy rule\"; sid:100;)")
    return Topology(
        taken_at=datetime.fromtimestamp(taken_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        source="simulator",
        region=env.region,
        account_id=env.account,
        vpc_ids=[env.vpc_id, env.api_vpc_id],
        subnets=subnets,
        interfaces=interfaces,
        route_tables=route_tables,
        nacls=nacls,
        endpoints=endpoints,
        load_balancers=[LoadBalancer(env.load_balancer, [h.ip for h in env.alb_nodes], [h.subnet.subnet_id for h in env.alb_nodes])],
        transit_gateway_cidrs=[env.api_cidr],
        extra={
            "prefix_lists": {ids["pl_s3"]: {"service": "s3", "cidrs": list(env.s3_ranges)},
                             ids["pl_ddb"]: {"service": "dynamodb", "cidrs": list(env.dynamodb_ranges)}},
            "transit_gateway": {"tgw_id": ids["tgw"], "route_table": tgw_routes},
            "network_firewall_rules": firewall_rules,
            "s3_endpoint_policy": "Allow s3:GetObject on the app bucket except the reports/ prefix"
            if faults.get("s3_endpoint_policy") else "Allow s3:* on the app buckets",
            "target_group": {"arn": env.target_group, "port": env.app_port, "health_check_interval": env.hc_interval,
                             "unhealthy_threshold": env.hc_unhealthy_threshold, "matcher": "200"},
            "listener_port": env.listener_port,
            "alb_node_ipv6": {h.eni: h.ipv6 for h in env.alb_nodes},
            "vpc_ipv6_cidr": env.ipv6_prefix,
            "api_endpoint": {"ip": env.api_host.ip, "port": env.api_port},
            "probe_destination": env.probe_ip,
            "flow_logs": [{"flow_log_id": fl.flow_log_id, "vpc_id": fl.vpc_id, "format": " ".join(fl.fields)} for fl in env.flow_logs],
        },
    )  # fmt: skip
