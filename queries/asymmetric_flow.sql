/*
id: asymmetric_flow
title: Responses leaving by a different path than requests arrived (asymmetric routing)
sources: [vpc_flow, alb_access, topo_interfaces]
version: 1
status: stable
severity: high
chart: path_sankey
config_checks: [lb_path_routes]
config_summary: "responses from {srcaddr|node_ip|interface_id|where} returning on a different path than requests came in"
requires: [srcaddr, dstaddr, srcport, dstport, interface_id]
requires_any: [[pkt_dstaddr], ["topology:nat"], ["topology:firewall"], ["topology:tgw"]]   # relays recognisable by packet addresses or named by the topology
params:
  window_minutes: {type: int, default: 5, min: 1, max: 1440, doc: "Length of one counting window; a response matches requests in the same or an adjacent window."}
  min_connections: {type: int, default: 3, min: 1, doc: "Fewest connections in a window whose responses show up at an interface their requests never crossed."}
  min_share: {type: float, default: 0.2, min: 0, max: 1, doc: "Smallest share of the service's connections in the window that deviate."}
  ephemeral_min: {type: int, default: 1024, min: 0, max: 65535, doc: "Lowest client (ephemeral) port considered for responses."}
  ephemeral_max: {type: int, default: 65535, min: 0, max: 65535, doc: "Highest client (ephemeral) port considered for responses."}
entity: [srcaddr, srcport, node_ip, interface_id, subnet_id, az_id, via_interface_id, nat_interface_id]
summary: "Responses from {srcaddr}:{srcport} for {deviating_connections} of {connections} connections ({share_pct}%) left through {via_label}, which never saw the requests{alb_text}"
hint: "The responder's subnet routes return traffic to a different next hop than the one requests arrive through: typically a load-balancer (public) subnet associated with a private route table whose default route points at the NAT gateway, so responses to internet clients go through the NAT and clients time out. Check the route table association of subnet {subnet_id}."
description: |
  Pairs each TCP connection's two directions across interfaces. A response that leaves by a
  path its request did not take shows up at a relay interface (NAT gateway, firewall
  endpoint, Transit Gateway attachment: an interface recording packets not addressed to it,
  i.e. records whose pkt-srcaddr/pkt-dstaddr differ from srcaddr/dstaddr, or topology kind
  nat/firewall/tgw) as traffic from a socket to an ephemeral port, while that relay carried
  none of the connection's requests (same or adjacent window) and another interface (the
  responder's own) did record the request. Matching uses pkt-srcaddr/pkt-dstaddr when logged
  (NAT gateway records name the client there, as in AWS's NAT gateway example) and address +
  both ports otherwise. Fires per responding address:port and relay when at least
  `min_connections` connections and `min_share` of that service's connections in a window
  deviate; consecutive windows merge. Evidence adds the responder's ALB request count (when
  it is an ALB node: node_ip in the access-log object names) against its usual count, since
  a node whose responses go astray stops completing requests.
  Legitimate egress through a NAT gateway (instance ephemeral port -> internet :443) does not
  fire: the NAT records both directions of those connections.
  Needs either v3+ fields (pkt-srcaddr/pkt-dstaddr) to recognise relays, or a topology
  naming them (kind nat, firewall or tgw: a topology file, or interface-type in v11 logs);
  with v2-only flow logs and no such topology the runner reports it cannot run. With v2
  records the relay's records are matched by address and both ports.
  Misses: UDP; asymmetric paths through an interface that is not flow-logged; traffic too
  thin for `min_connections`.
false_positives:
  - "Flow-log records lost on the request side (SKIPDATA on the responder's interface) can make a burst of responses look unmatched; the capture_gap detector flags such windows."
  - "Deliberately asymmetric designs (inspection appliances in one direction only)."
runbook:
  - "Show the route table associated with {subnet_id}: `aws ec2 describe-route-tables --filters Name=association.subnet-id,Values={subnet_id}`; a 0.0.0.0/0 (or ::/0) route to a NAT gateway instead of the internet gateway on a load balancer subnet is the classic cause."
  - "Identify {via_interface_id}: `aws ec2 describe-network-interfaces --network-interface-ids {via_interface_id}` (InterfaceType nat_gateway, description)."
  - "Check CloudTrail in the hour before the window for ReplaceRouteTableAssociation / AssociateRouteTable / ReplaceRoute on that subnet."
  - "Compare the ALB's per-node request counts (evidence alb_requests vs alb_requests_expected, its usual count for that many windows) and the load balancer's TargetConnectionErrorCount / client-side timeouts."
references:
  - https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html
  - https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
  - https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html
*/
WITH f AS (
    -- only what the matching needs: this CTE is read several times (one scan of the lake)
    SELECT
        "start" - "start" % (60 * $window_minutes) AS b,
        interface_id, srcport, dstport,
        coalesce(pkt_srcaddr, srcaddr) AS psrc,
        coalesce(pkt_dstaddr, dstaddr) AS pdst,
        pkt_dstaddr IS NOT NULL AS has_pkt,
        coalesce(pkt_srcaddr <> srcaddr OR pkt_dstaddr <> dstaddr, false) AS relayed
    FROM vpc_flow
    WHERE start_time >= $since - INTERVAL '1 minute' * $window_minutes
      AND start_time < $until + INTERVAL '1 minute' * $window_minutes
      AND action = 'ACCEPT' AND protocol = 6
      AND srcport IS NOT NULL AND dstport IS NOT NULL
),
relays AS (
    -- interfaces that forward traffic not addressed to themselves (NAT gateways, firewalls,
    -- Transit Gateway attachments): their records show packet addresses that differ from
    -- srcaddr/dstaddr (v3+ fields); the topology names them when given
    SELECT DISTINCT interface_id FROM f WHERE relayed
    UNION
    SELECT interface_id FROM topo_interfaces WHERE kind IN ('nat', 'firewall', 'tgw')
),
rf AS (
    SELECT * FROM f WHERE interface_id IN (SELECT interface_id FROM relays)
),
odd_resp AS (
    -- what a relay carried from a socket to an ephemeral port without carrying that
    -- connection's request (same or adjacent window): candidate responses
    SELECT DISTINCT r.b, r.interface_id, r.psrc AS addr, r.srcport AS port, r.pdst AS client, r.dstport AS cport, r.has_pkt
    FROM rf AS r
    WHERE r.dstport BETWEEN $ephemeral_min AND $ephemeral_max
      AND r.b >= epoch($since) - 60 * $window_minutes AND r.b < epoch($until)
      AND NOT EXISTS (
        SELECT 1 FROM rf AS q
        WHERE q.interface_id = r.interface_id AND q.pdst = r.psrc AND q.dstport = r.srcport AND q.srcport = r.dstport
          AND q.b BETWEEN r.b - 60 * $window_minutes AND r.b + 60 * $window_minutes)
),
odd_req AS (
    -- requests to those addresses' sockets, at any interface
    SELECT DISTINCT f.b, f.interface_id, f.pdst AS addr, f.dstport AS port, f.psrc AS client, f.srcport AS cport
    FROM f
    WHERE (f.pdst, f.dstport) IN (SELECT DISTINCT (addr, port) FROM odd_resp)
),
deviating AS (
    -- responses whose own request was recorded at another interface
    SELECT DISTINCT r.b, r.addr, r.port, r.interface_id, r.client, r.cport
    FROM odd_resp AS r
    JOIN odd_req AS q
      ON q.addr = r.addr AND q.port = r.port AND q.cport = r.cport AND q.interface_id <> r.interface_id
     AND (NOT r.has_pkt OR q.client = r.client)
     AND q.b BETWEEN r.b - 60 * $window_minutes AND r.b + 60 * $window_minutes
),
dev_agg AS (
    SELECT b, addr, port, interface_id AS via_interface_id, count(*) AS deviating_connections
    FROM deviating
    GROUP BY b, addr, port, interface_id
),
svc_window AS (
    -- every connection of the service in the window, and the interface recording most of them
    SELECT b, addr, port, count(DISTINCT (client, cport)) AS connections, mode(interface_id ORDER BY interface_id) AS interface_id
    FROM odd_req
    GROUP BY b, addr, port
),
hits AS (
    SELECT to_timestamp(d.b) AS bucket, d.*, s.connections, s.interface_id,
           {'addr': d.addr, 'port': d.port, 'via': d.via_interface_id} AS isl_key
    FROM dev_agg AS d
    JOIN svc_window AS s USING (b, addr, port)
    WHERE d.deviating_connections >= $min_connections
      AND d.deviating_connections / s.connections >= $min_share
      AND to_timestamp(d.b) >= time_bucket(INTERVAL '1 minute' * $window_minutes, $since)
),
-- @block bucket_islands
spans AS (
    SELECT addr, port, via_interface_id, island,
           min(bucket) AS window_start,
           max(bucket) + INTERVAL '1 minute' * $window_minutes AS window_end,
           mode(interface_id ORDER BY interface_id) AS interface_id,
           CAST(sum(deviating_connections) AS BIGINT) AS deviating_connections,
           CAST(sum(connections) AS BIGINT) AS connections,
           count(*) AS windows
    FROM islands
    GROUP BY addr, port, via_interface_id, island
),
samples AS (
    SELECT s.addr, s.port, s.via_interface_id, s.island,
           list_slice(list({'source_uri': v.source_uri, 'source_line': v.source_line, 'start_time': v.start_time,
                            'interface_id': v.interface_id, 'srcaddr': v.srcaddr, 'srcport': v.srcport,
                            'dstaddr': v.dstaddr, 'pkt_dstaddr': v.pkt_dstaddr, 'dstport': v.dstport}
                           ORDER BY v.start_time, v.source_line), 1, 5) AS samples
    FROM spans AS s
    JOIN vpc_flow AS v
      ON v.interface_id = s.via_interface_id AND coalesce(v.pkt_srcaddr, v.srcaddr) = s.addr AND v.srcport = s.port
     AND v.start_time >= s.window_start AND v.start_time < s.window_end
    WHERE v.start_time >= $since AND v.start_time < $until
    GROUP BY ALL
),
iface_loc AS (
    SELECT interface_id, mode(subnet_id ORDER BY subnet_id) AS subnet_id, mode(az_id ORDER BY az_id) AS az_id,
           bool_or(pkt_dstaddr <> dstaddr OR pkt_srcaddr <> srcaddr) AS relays
    FROM vpc_flow
    -- a join, not IN: with no spans (the usual case) the lake is not read at all
    JOIN (SELECT interface_id FROM spans UNION SELECT via_interface_id FROM spans) AS k USING (interface_id)
    WHERE start_time >= $since AND start_time < $until
    GROUP BY interface_id
),
alb_node AS (
    SELECT s.addr, s.island, s.port, s.via_interface_id,
           count(a.event_time) AS alb_requests
    FROM spans AS s
    LEFT JOIN alb_access AS a
      ON a.node_ip = s.addr AND a.event_time >= s.window_start AND a.event_time < s.window_end
    GROUP BY ALL
),
alb_norm AS (
    -- the node's usual request count per window over the whole range
    SELECT node_ip, median(n) AS alb_requests_median
    FROM (
        SELECT node_ip, time_bucket(INTERVAL '1 minute' * $window_minutes, event_time) AS b, count(*) AS n
        FROM alb_access
        WHERE event_time >= $since AND event_time < $until AND node_ip IN (SELECT addr FROM spans)
        GROUP BY ALL
    ) AS x
    GROUP BY node_ip
)
SELECT
    s.window_start, s.window_end,
    s.addr AS srcaddr, CAST(s.port AS VARCHAR) AS srcport,
    CASE WHEN n.alb_requests_median IS NOT NULL THEN s.addr END AS node_ip,
    s.interface_id, o.subnet_id, o.az_id, s.via_interface_id,
    CASE WHEN t.kind = 'nat' THEN s.via_interface_id END AS nat_interface_id,
    v.subnet_id AS via_subnet_id,
    coalesce(t.kind, CASE WHEN v.relays THEN 'relay' END, 'interface') AS via_kind,
    coalesce(t.kind, CASE WHEN v.relays THEN 'relay' END, 'interface') || ' ' || s.via_interface_id AS via_label,
    s.deviating_connections, s.connections, s.windows,
    round(100.0 * s.deviating_connections / s.connections, 1) AS share_pct,
    CASE WHEN n.alb_requests_median IS NOT NULL THEN a.alb_requests END AS alb_requests,
    CASE WHEN n.alb_requests_median IS NOT NULL
         THEN '; as an ALB node it logged ' || CAST(a.alb_requests AS VARCHAR) || ' requests against a usual '
              || CAST(CAST(n.alb_requests_median * s.windows AS BIGINT) AS VARCHAR)
         ELSE '' END AS alb_text,
    CASE WHEN n.alb_requests_median IS NOT NULL THEN CAST(n.alb_requests_median * s.windows AS BIGINT) END AS alb_requests_expected,
    x.samples
FROM spans AS s
LEFT JOIN samples AS x ON x.addr = s.addr AND x.port = s.port AND x.via_interface_id = s.via_interface_id AND x.island = s.island
LEFT JOIN iface_loc AS o ON o.interface_id = s.interface_id
LEFT JOIN iface_loc AS v ON v.interface_id = s.via_interface_id
LEFT JOIN (SELECT interface_id, any_value(kind) AS kind FROM topo_interfaces GROUP BY interface_id) AS t
  ON t.interface_id = s.via_interface_id AND t.kind <> 'unknown'
LEFT JOIN alb_node AS a ON a.addr = s.addr AND a.port = s.port AND a.via_interface_id = s.via_interface_id AND a.island = s.island
LEFT JOIN alb_norm AS n ON n.node_ip = s.addr
ORDER BY s.window_start, s.addr
