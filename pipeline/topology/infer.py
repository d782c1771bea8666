"""Infer a topology from the logs themselves, when no snapshot of the configuration exists.

Flow logs v3+ name the interface's subnet, VPC and instance; v4+ the AZ id; v5 the
direction and path; v11 the interface type. Each interface's own address is the one it
shows on nearly every record; NAT gateways show themselves by relaying (packet-level
addresses differ from the interface-level ones); ALB nodes by their address appearing
as ``node_ip`` in the ALB logs. Everything is a handful of GROUP BYs in DuckDB.
What the logs cannot tell (subnet CIDRs, AZ names, route tables, NACLs) stays empty.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import duckdb

from .model import Interface, InterfaceKind, LoadBalancer, Subnet, Topology

log = logging.getLogger(__name__)

#: Interface types logged by flow logs v11 (``interface-type``) mapped to our kinds.
INTERFACE_TYPE_KINDS: dict[str, InterfaceKind] = {
    "nat_gateway": "nat",
    "vpc_endpoint": "endpoint",
    "transit_gateway": "tgw",
    "gateway_load_balancer_endpoint": "firewall",
    "load_balancer": "alb",
    "lambda": "lambda",
}

#: SQL predicate text for "this column holds a private (RFC 1918, CGNAT, ULA) address".
_PRIVATE_RE = r"^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|f[cd])"

# Confidence of each inference, stated once so docs/topology.md can quote them.
CONF_INTERFACE_TYPE = 0.99  # v11 interface-type says so
CONF_INSTANCE = 0.95  # records carry an instance id
CONF_ALB_NODE = 0.95  # own address is an ALB node_ip
CONF_NAT = 0.9  # relays private sources to public destinations, no instance
CONF_NAT_RELAY_ONLY = 0.7  # relays, but no private->public evidence
CONF_NAT_PAIRED = 0.8  # v2: private -> it -> public flows pair up (same port, packets, bytes, minute)
MIN_RELAY_PAIRS, MIN_RELAY_PAIR_SOURCES = 10, 2
CONF_ALB_TARGETS = 0.7  # talks to ALB targets on their ports, no node_ip evidence
CONF_ENDPOINT = 0.6  # no instance, only answers :443 from private addresses
CONF_TGW_LOGS = 0.9  # named as tgw-src/dst-eni in Transit Gateway flow logs
CONF_UNKNOWN = 0.5  # seen, kind unknown
CONF_SUBNET = 0.99  # subnet id and AZ id are logged; only the CIDR is unknown


#: Records inside the optional [since, until) window (bound parameters, NULL = open).
_WINDOW = (
    "($since::TIMESTAMPTZ IS NULL OR start_time >= $since::TIMESTAMPTZ) "
    "AND ($until::TIMESTAMPTZ IS NULL OR start_time < $until::TIMESTAMPTZ)"
)


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> set[str]:
    try:
        return {r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()}
    except duckdb.Error:
        return set()


def _col(cols: set[str], name: str) -> str:
    """A column reference, or a typed NULL when the lake never wrote that column."""
    return name if name in cols else "NULL::VARCHAR"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params) if params else con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=False)) for r in cur.fetchall()]


def _flow_base(cols: set[str]) -> str:
    """The interface-level flow records, with every column we use present (NULL if absent)."""
    c = {n: _col(cols, n) for n in (
        "interface_id", "srcaddr", "dstaddr", "pkt_srcaddr", "pkt_dstaddr", "instance_id",
        "subnet_id", "vpc_id", "az_id", "flow_direction", "interface_type", "pkt_dst_aws_service", "account_id",
    )}  # fmt: skip
    tp = "traffic_path" if "traffic_path" in cols else "NULL::BIGINT"
    dstport = "dstport" if "dstport" in cols else "NULL::BIGINT"
    srcport = "srcport" if "srcport" in cols else "NULL::BIGINT"
    end_time = "end_time" if "end_time" in cols else "NULL::TIMESTAMPTZ"
    nums = {n: (n if n in cols else "NULL::BIGINT") for n in ("packets", "bytes", "start")}
    return f"""
        SELECT {c['interface_id']} AS interface_id, {c['srcaddr']} AS srcaddr, {c['dstaddr']} AS dstaddr,
               nullif({c['pkt_srcaddr']}, '-') AS pkt_srcaddr, nullif({c['pkt_dstaddr']}, '-') AS pkt_dstaddr,
               nullif({c['instance_id']}, '-') AS instance_id, nullif({c['subnet_id']}, '-') AS subnet_id,
               nullif({c['vpc_id']}, '-') AS vpc_id, nullif({c['az_id']}, '-') AS az_id,
               nullif({c['flow_direction']}, '-') AS flow_direction,
               nullif({c['interface_type']}, '-') AS interface_type,
               nullif({c['pkt_dst_aws_service']}, '-') AS pkt_dst_aws_service, {tp} AS traffic_path,
               {srcport} AS srcport, {dstport} AS dstport, {end_time} AS end_time,
               nullif({c['account_id']}, '-') AS account_id,
               {nums['packets']} AS packets, {nums['bytes']} AS bytes, {nums['start']} AS "start"
        FROM vpc_flow
        WHERE {c['interface_id']} LIKE 'eni-%' AND {c['srcaddr']} IS NOT NULL AND {c['srcaddr']} <> '-' AND {_WINDOW}
    """


def _interface_stats(con: duckdb.DuckDBPyConnection, cols: set[str], has_alb: bool, window: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per interface: its own address, attributes and the evidence for its kind."""
    # An ALB log object's key names its account: a node address only marks interfaces of that
    # account (other accounts' VPCs in the bucket reuse the same private ranges).
    nodes = (
        "SELECT DISTINCT node_ip, nullif(regexp_extract(source_uri, 'AWSLogs/(aws-account-id=)?([0-9]{12})/', 2), '') AS account "
        "FROM alb_access WHERE node_ip IS NOT NULL"
        if has_alb
        else "SELECT NULL::VARCHAR AS node_ip, NULL::VARCHAR AS account WHERE false"
    )
    targets = (
        "SELECT DISTINCT target_ip, target_port FROM alb_access WHERE target_ip IS NOT NULL AND target_ip <> '-'"
        if has_alb
        else "SELECT NULL::VARCHAR AS target_ip, NULL::BIGINT AS target_port WHERE false"
    )
    # One pass over the records aggregates them per (interface, src, dst, direction): a few
    # thousand rows even for millions of records. Everything after works on that.
    # ``f`` is read by ``pairs`` and ``attrs``: NOT MATERIALIZED lets each read only its own
    # columns straight from the lake (materialising all 16 columns of every record first
    # cost ~2x the whole inference: 9.7 s -> 5.6 s at 3.9M records, same output).
    sql = f"""
    WITH f AS NOT MATERIALIZED ({_flow_base(cols)}),
    pairs AS MATERIALIZED (
        SELECT f.interface_id, f.srcaddr, f.dstaddr, f.flow_direction, count(*) AS n,
               count(*) FILTER (WHERE (f.pkt_srcaddr IS NOT NULL AND f.pkt_srcaddr <> f.srcaddr)
                                   OR (f.pkt_dstaddr IS NOT NULL AND f.pkt_dstaddr <> f.dstaddr)) AS relayed,
               any_value(f.pkt_dstaddr) FILTER (WHERE f.pkt_dstaddr <> f.dstaddr) AS relayed_to,
               count(*) FILTER (WHERE f.srcport = 443) AS from_443,
               count(*) FILTER (WHERE f.dstport = 443) AS to_443,
               count(t.target_ip) AS to_alb_target
        FROM f LEFT JOIN ({targets}) t ON f.dstaddr = t.target_ip AND f.dstport = t.target_port
        GROUP BY ALL
    ),
    addr AS (
        SELECT interface_id, addr, sum(n) AS hits, sum(n * w) AS score FROM (
            SELECT interface_id, srcaddr AS addr, n,
                   CASE flow_direction WHEN 'egress' THEN 2 WHEN 'ingress' THEN 0 ELSE 1 END AS w FROM pairs
            UNION ALL
            SELECT interface_id, dstaddr, n,
                   CASE flow_direction WHEN 'ingress' THEN 2 WHEN 'egress' THEN 0 ELSE 1 END FROM pairs
        ) GROUP BY ALL
    ),
    own AS (
        SELECT interface_id,
               arg_max(addr, (score, regexp_matches(addr, '{_PRIVATE_RE}'), hits)) AS private_ip,
               max(hits) AS own_hits
        FROM addr GROUP BY interface_id
    ),
    attrs_g AS (
        -- the interface attributes per combination seen: a handful of rows per interface; the
        -- most frequent value of each (mode over the records) is taken from their counts
        -- (mode() over every record split into one scan per column: ~3x the time)
        SELECT interface_id, instance_id, subnet_id, vpc_id, az_id, interface_type, account_id,
               count(*) AS n, max(end_time) AS last_end,
               count(*) FILTER (WHERE pkt_dstaddr IS NULL AND instance_id IS NULL) AS v2_shaped
        FROM f GROUP BY ALL
    ),
    attr_votes AS (
        {_ATTR_VOTES}
    ),
    attrs AS (
        SELECT g.interface_id, g.records,
               v.instance_id, v.subnet_id, v.vpc_id, v.az_id, v.interface_type, v.account_id,
               g.last_seen, g.v2_shaped
        FROM (SELECT interface_id, sum(n) AS records, strftime(max(last_end), '%Y-%m-%dT%H:%M:%SZ') AS last_seen,
                     sum(v2_shaped) AS v2_shaped
              FROM attrs_g GROUP BY interface_id) AS g
        LEFT JOIN (SELECT interface_id, {_ATTR_PICKS} FROM attr_votes GROUP BY interface_id) AS v USING (interface_id)
    ),
    evidence_sums AS (
        SELECT p.interface_id,
               sum(p.relayed) AS relayed,
               -- Interface endpoints answer HTTPS from inside the VPC and never start a connection.
               sum(CASE WHEN p.srcaddr = own.private_ip AND regexp_matches(p.dstaddr, '{_PRIVATE_RE}') THEN p.from_443
                        WHEN p.dstaddr = own.private_ip AND regexp_matches(p.srcaddr, '{_PRIVATE_RE}') THEN p.to_443
                        ELSE 0 END) = sum(p.n) AS serves_https_only
        FROM pairs p JOIN own USING (interface_id)
        GROUP BY p.interface_id
    ),
    -- The two distinct counts each aggregate only the few pairs they count: as FILTERed
    -- DISTINCT aggregates above, every pair went through their distinct hash tables.
    relayed_private AS (
        SELECT interface_id, count(DISTINCT srcaddr) AS relayed_private_sources
        FROM pairs
        WHERE relayed_to IS NOT NULL AND regexp_matches(srcaddr, '{_PRIVATE_RE}')
          AND NOT regexp_matches(relayed_to, '{_PRIVATE_RE}')
        GROUP BY interface_id
    ),
    alb_target_peers AS (
        SELECT p.interface_id, count(DISTINCT p.dstaddr) AS alb_targets
        FROM pairs p JOIN own USING (interface_id)
        WHERE p.srcaddr = own.private_ip AND p.to_alb_target > 0
        GROUP BY p.interface_id
    ),
    evidence AS (
        SELECT e.interface_id, e.relayed, coalesce(r.relayed_private_sources, 0) AS relayed_private_sources,
               coalesce(a.alb_targets, 0) AS alb_targets, e.serves_https_only
        FROM evidence_sums e
        LEFT JOIN relayed_private r USING (interface_id)
        LEFT JOIN alb_target_peers a USING (interface_id)
    ),
    node_ips AS ({nodes})
    SELECT attrs.*, evidence.* EXCLUDE (interface_id), own.private_ip, own.own_hits,
           EXISTS (SELECT 1 FROM node_ips n WHERE n.node_ip = own.private_ip
                   AND (n.account IS NULL OR attrs.account_id IS NULL OR n.account = attrs.account_id)) AS is_alb_node
    FROM attrs JOIN own USING (interface_id) JOIN evidence USING (interface_id)
    ORDER BY interface_id
    """
    rows = _rows(con, sql, window)
    pairs = _relay_pairs(con, cols, [r["interface_id"] for r in rows if r["v2_shaped"]], window)
    for r in rows:
        r["relay_pairs"], r["relay_pair_sources"] = pairs.get(r["interface_id"], (0, 0))
    return rows


_ATTRS = ("instance_id", "subnet_id", "vpc_id", "az_id", "interface_type", "account_id")
#: (interface, attribute, value, records): how often each interface showed each value
_ATTR_VOTES = "\n        UNION ALL\n        ".join(
    f"SELECT interface_id, '{a}' AS attr, {a} AS val, sum(n) AS votes FROM attrs_g WHERE {a} IS NOT NULL GROUP BY ALL"
    for a in _ATTRS
)
#: the most frequent value per attribute (ties: the smallest value)
_ATTR_PICKS = ", ".join(f"first(val ORDER BY votes DESC, val) FILTER (WHERE attr = '{a}') AS {a}" for a in _ATTRS)


def _relay_pairs(
    con: duckdb.DuckDBPyConnection, cols: set[str], interfaces: list[str], window: dict[str, Any]
) -> dict[str, tuple[int, int]]:
    """NAT gateways without packet-level fields (default v2 format): a flow from a private
    source to the interface on port P leaves it again, from its own address to a public one on
    the same P, with the same packets and bytes in the same minute. Only ``interfaces`` (those
    with records lacking pkt-dstaddr and instance-id) can show it; none: no query."""
    if not interfaces:
        return {}
    sql = f"""
    WITH f AS NOT MATERIALIZED ({_flow_base(cols)})
    SELECT i.interface_id, count(*) AS relay_pairs, count(DISTINCT i.srcaddr) AS relay_pair_sources
    FROM f AS i JOIN f AS o
      ON o.interface_id = i.interface_id AND o.srcaddr = i.dstaddr AND o.dstport = i.dstport
     AND o.packets = i.packets AND o.bytes = i.bytes AND o.dstaddr <> i.srcaddr
     AND o."start" BETWEEN i."start" - 5 AND i."start" + 60
    WHERE i.pkt_dstaddr IS NULL AND i.instance_id IS NULL AND o.pkt_dstaddr IS NULL
      AND i.srcaddr <> i.dstaddr AND regexp_matches(i.srcaddr, '{_PRIVATE_RE}')
      AND NOT regexp_matches(o.dstaddr, '{_PRIVATE_RE}')
      AND list_contains($interfaces, i.interface_id)
    GROUP BY i.interface_id
    """
    return {r["interface_id"]: (r["relay_pairs"], r["relay_pair_sources"]) for r in _rows(con, sql, {**window, "interfaces": interfaces})}


def _classify(row: dict[str, Any]) -> tuple[InterfaceKind, float, str | None]:
    """Kind, confidence and resource id for one interface's evidence row."""
    itype = row.get("interface_type")
    if itype in INTERFACE_TYPE_KINDS:
        return INTERFACE_TYPE_KINDS[itype], CONF_INTERFACE_TYPE, row.get("instance_id")
    if row.get("instance_id"):
        return "instance", CONF_INSTANCE, row["instance_id"]
    if row.get("is_alb_node"):
        return "alb", CONF_ALB_NODE, None
    if row.get("relayed"):
        return "nat", CONF_NAT if row.get("relayed_private_sources") else CONF_NAT_RELAY_ONLY, None
    if row.get("relay_pairs", 0) >= MIN_RELAY_PAIRS and row.get("relay_pair_sources", 0) >= MIN_RELAY_PAIR_SOURCES:
        return "nat", CONF_NAT_PAIRED, None
    if row.get("alb_targets"):
        return "alb", CONF_ALB_TARGETS, None
    if row.get("serves_https_only"):
        return "endpoint", CONF_ENDPOINT, None
    return "unknown", CONF_UNKNOWN, None


def _load_balancers(con: duckdb.DuckDBPyConnection) -> list[LoadBalancer]:
    rows = _rows(
        con,
        """
        SELECT coalesce(nullif(elb, '-'), replace(load_balancer, '.', '/')) AS name, node_ip
        FROM alb_access
        WHERE node_ip IS NOT NULL AND coalesce(nullif(elb, '-'), load_balancer) IS NOT NULL
        GROUP BY ALL ORDER BY name, node_ip
        """,
    )
    lbs: dict[str, LoadBalancer] = {}
    for r in rows:
        lbs.setdefault(r["name"], LoadBalancer(name=r["name"])).node_ips.append(r["node_ip"])
    return list(lbs.values())


def _tgw_interfaces(con: duckdb.DuckDBPyConnection, cols: set[str], window: dict[str, Any]) -> list[Interface]:
    """Attachment ENIs named by Transit Gateway flow logs (their address is not logged)."""
    need = {"tgw_src_eni", "tgw_src_subnet_id", "tgw_src_az_id", "tgw_src_vpc_id"}
    if not need <= cols:
        return []
    sql = f"""
        SELECT eni, mode(subnet_id) AS subnet_id, mode(az_id) AS az_id, mode(vpc_id) AS vpc_id, mode(att) AS att
        FROM (
            SELECT tgw_src_eni AS eni, tgw_src_subnet_id AS subnet_id, tgw_src_az_id AS az_id,
                   tgw_src_vpc_id AS vpc_id, tgw_attachment_id AS att FROM vpc_flow WHERE {_WINDOW}
            UNION ALL
            SELECT tgw_dst_eni, tgw_dst_subnet_id, tgw_dst_az_id, tgw_dst_vpc_id, NULL FROM vpc_flow WHERE {_WINDOW}
        ) WHERE eni LIKE 'eni-%' GROUP BY eni ORDER BY eni
    """
    return [
        Interface(
            interface_id=r["eni"], private_ip="", kind="tgw", subnet_id=r["subnet_id"], vpc_id=r["vpc_id"],
            az_id=r["az_id"], resource_id=r["att"], confidence=CONF_TGW_LOGS, source="logs",
        )
        for r in _rows(con, sql, window)
    ]


def _gateway_endpoint_use(con: duckdb.DuckDBPyConnection, cols: set[str], window: dict[str, Any]) -> list[dict[str, Any]]:
    """Subnets whose egress went through a gateway endpoint (traffic-path 7), per service."""
    if "traffic_path" not in cols:
        return []
    sql = f"""
        SELECT subnet_id, vpc_id, coalesce(pkt_dst_aws_service, 'unknown') AS service, count(*) AS flows
        FROM ({_flow_base(cols)}) WHERE traffic_path = 7 AND subnet_id IS NOT NULL
        GROUP BY ALL ORDER BY subnet_id, service
    """
    return _rows(con, sql, window)


def infer_from_lake(
    con: duckdb.DuckDBPyConnection, *, since: datetime | None = None, until: datetime | None = None
) -> Topology:
    """A ``source='logs'`` topology from the lake views ``vpc_flow`` and ``alb_access``.

    ``since``/``until`` (UTC, half-open) limit the flow records read; default: all of them.

    Works on whatever the lake holds: v2-only flow logs give interfaces and addresses
    but no subnets; a lake with only ALB logs gives load balancers and node IPs; an
    empty lake gives an empty topology. Never raises for missing columns or views.
    """
    flow_cols = _columns(con, "vpc_flow")
    alb_cols = _columns(con, "alb_access")
    has_alb = {"node_ip", "target_ip", "target_port", "elb", "load_balancer"} <= alb_cols
    # taken_at / seen_at are event times (the last record), not wall-clock: the same lake
    # gives the same topology, and a reused address resolves to the interface seen last.
    topo = Topology(source="logs")

    lbs = _load_balancers(con) if has_alb else []
    node_lb = {ip: lb.name for lb in lbs for ip in lb.node_ips}
    window = {"since": since, "until": until}
    stats = _interface_stats(con, flow_cols, has_alb, window) if {"interface_id", "srcaddr", "dstaddr"} <= flow_cols else []

    for r in stats:
        kind, conf, resource = _classify(r)
        if kind == "alb":
            resource = node_lb.get(r["private_ip"], resource)
        topo.interfaces.append(
            Interface(
                interface_id=r["interface_id"], private_ip=r["private_ip"] or "", kind=kind,
                subnet_id=r["subnet_id"], vpc_id=r["vpc_id"], az_id=r["az_id"], resource_id=resource,
                confidence=conf, source="logs", seen_at=r["last_seen"],
            )
        )
    topo.taken_at = max((i.seen_at for i in topo.interfaces if i.seen_at), default=None)
    known = {i.interface_id for i in topo.interfaces}
    topo.interfaces.extend(i for i in _tgw_interfaces(con, flow_cols, window) if i.interface_id not in known)

    subnets: dict[str, Subnet] = {}
    for i in topo.interfaces:
        if i.subnet_id and i.subnet_id not in subnets:
            subnets[i.subnet_id] = Subnet(
                subnet_id=i.subnet_id, cidr="", az_id=i.az_id, vpc_id=i.vpc_id, confidence=CONF_SUBNET, source="logs"
            )
    topo.subnets = sorted(subnets.values(), key=lambda s: s.subnet_id)
    topo.vpc_ids = sorted({i.vpc_id for i in topo.interfaces if i.vpc_id})

    for lb in lbs:
        lb.subnet_ids = sorted({i.subnet_id for i in topo.interfaces if i.kind == "alb" and i.private_ip in lb.node_ips and i.subnet_id})
    topo.load_balancers = lbs
    use = _gateway_endpoint_use(con, flow_cols, window)
    if use:
        topo.extra["gateway_endpoint_use"] = use
    log.info(
        "inferred from logs: %d interfaces, %d subnets, %d load balancers",
        len(topo.interfaces), len(topo.subnets), len(topo.load_balancers),
    )
    return topo
