/*
id: return_traffic_reject
title: Return traffic REJECTed (stateless NACL missing the ephemeral range)
sources: [vpc_flow, topo_interfaces, topo_subnets]
version: 1
status: stable
severity: high
config_checks: [return_nacl, source_routes]
config_summary: "REJECTed return traffic from {srcaddr|subnet_id|where|'the subnet'}[ (source port {srcport})] to {dst|'its clients'}"
requires: [action, srcaddr, srcport, dstport, start]
lookback: [window_minutes, baseline_windows]
params:
  window_minutes: {type: int, default: 5, min: 1, max: 1440, doc: "Length of one counting window, in minutes."}
  baseline_windows: {type: int, default: 24, min: 1, doc: "Earlier windows of the same subnet that form its baseline."}
  min_history_windows: {type: int, default: 6, min: 0, doc: "Windows of flow-log history before an episode needed to judge it against its baseline; with less (at least one), only 2 x min_rejects where the history held fewer than min_rejects fires."}
  min_rejects: {type: int, default: 10, min: 1, doc: "Fewest distinct REJECTed return connections in one subnet in a window."}
  spike_ratio: {type: float, default: 4.0, min: 0, doc: "A window fires at this multiple of the subnet's baseline mean per window."}
  ephemeral_min: {type: int, default: 1024, min: 0, max: 65535, doc: "Lowest client (ephemeral) port; AWS NACL guidance uses 1024-65535."}
  ephemeral_max: {type: int, default: 65535, min: 0, max: 65535, doc: "Highest client (ephemeral) port."}
  well_known_max: {type: int, default: 1023, min: 0, max: 65535, doc: "Source ports up to this are service ports without further evidence."}
  min_listener_clients: {type: int, default: 5, min: 1, doc: "A higher source port counts as a service port when the address ACCEPTed at least this many inbound connections on it."}
  dominant_share: {type: float, default: 0.5, min: 0, max: 1, doc: "Share above which one interface / address / port is named in the entity."}
entity: [subnet_id, az_id, src_net, interface_id, srcaddr, srcport]
summary: "{rejects} responses from port {top_port} of {servers} server(s) in {place} to {peers} client(s) were REJECTed ({ratio}x its baseline of {baseline_mean} per {window_minutes} min)"
hint: "Servers in {place} answer on port {top_port} but their replies to ephemeral ports are refused: a stateless network ACL is missing the outbound (or inbound, on the client's subnet) allow rule for ports {ephemeral_min}-{ephemeral_max}. Clients behind a load balancer see timeouts (ALB 504s): look for an az_5xx_spike finding in the same AZ and window."
description: |
  Security groups are stateful and never drop replies; network ACLs are stateless, so a NACL
  without an ephemeral-port rule drops the replies of a service that accepted the request.
  This detector keeps REJECTed flows sent by our own (private) addresses from a service port
  (<= well_known_max, or a port on which that address ACCEPTed inbound connections from at least
  min_listener_clients client ports in the window) to an ephemeral port, counts distinct
  connections per subnet per window (the subnet from the flow logs, else the topology's subnet
  of the interface; without either, v2 logs and no topology, the servers' /24 (/64 for IPv6)
  and source port stand in: `src_net`), and judges each episode of windows with at least
  min_rejects against the baseline before the episode started (so the fault never inflates
  its own baseline: at least one window of data before it, a window at spike_ratio times
  that mean, and min_history_windows of data before that window; or, sooner, a window of
  at least 2 x min_rejects where the whole history held fewer than min_rejects). An episode
  is one finding. "Ours" is the private pattern, the topology's addresses, and addresses the
  lake shows as an instance interface's own side (egress srcaddr, ingress dstaddr: VPC IPv6).
  Misses: replies dropped on the client side (recorded at the client's interface as an inbound
  REJECT from a public address), services on unusual high ports that accepted fewer than
  min_listener_clients connections, and subnets whose flow logs are not enabled.
false_positives:
  - "Replies to scanners that probed with a spoofed or vanished source are normally not REJECTed; an over-tight NACL that has always dropped them is absorbed by the baseline."
  - "A deliberate NACL change that blocks a client range (the replies to it are REJECTed)."
runbook:
  - "List REJECTed flows with srcaddr in {place} and srcport {top_port} between {window_start} and {window_end}: which interfaces, which destinations (ALB nodes? NAT?)."
  - "Open the network ACL associated with subnet {subnet_id}: is there an outbound ALLOW for TCP {ephemeral_min}-{ephemeral_max} to the clients' CIDRs?"
  - "Check the ALB access logs for 504/502 (target_status_code '-') on targets in {az_id} in the same window."
  - "Check CloudTrail for ReplaceNetworkAclAssociation / ReplaceNetworkAclEntry / DeleteNetworkAclEntry before {window_start}."
references:
  - https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html#nacl-ephemeral-ports
  - https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
*/
WITH rejected AS (
    -- the place is the subnet (flow logs v3+, or the topology's subnet of the interface), else
    -- the servers' network (/24, /64) and port: one NACL, one finding, without subnet_id
    SELECT
        coalesce(v.subnet_id, t.subnet_id, usual_net(v.srcaddr) || ' port ' || CAST(v.srcport AS VARCHAR)) AS place,
        coalesce(v.subnet_id, t.subnet_id) AS subnet_id, coalesce(v.az_id, t.az_id) AS az_id,
        CASE WHEN coalesce(v.subnet_id, t.subnet_id) IS NULL THEN usual_net(v.srcaddr) END AS src_net,
        v.interface_id, v.srcaddr, v.srcport, v.dstaddr, v.dstport, v.protocol,
        v.start // ($window_minutes * 60) AS w,
        v.source_uri, v.source_line
    FROM vpc_flow AS v
    LEFT JOIN (
        SELECT i.interface_id, min(i.subnet_id) AS subnet_id, min(coalesce(i.az_id, s.az_id)) AS az_id
        FROM topo_interfaces AS i LEFT JOIN topo_subnets AS s ON s.subnet_id = i.subnet_id
        WHERE i.subnet_id IS NOT NULL
        GROUP BY i.interface_id
    ) AS t ON t.interface_id = v.interface_id
    WHERE v.action = 'REJECT'
      AND coalesce(v.log_status, 'OK') = 'OK'
      AND v.start_time >= $since - to_minutes($window_minutes * $baseline_windows)
      AND v.start_time < $until
      AND v.dstport BETWEEN $ephemeral_min AND $ephemeral_max
      AND is_ours(v.srcaddr)
),
high_ports AS (
    SELECT DISTINCT srcaddr AS addr, srcport AS port FROM rejected WHERE srcport > $well_known_max
),
listening AS (  -- high ports the address demonstrably serves on: it ACCEPTed inbound connections there
    SELECT h.addr, h.port
    FROM high_ports AS h
    JOIN vpc_flow AS v ON v.dstaddr = h.addr AND v.dstport = h.port
    WHERE v.action = 'ACCEPT'
      AND v.start_time >= $since - to_minutes($window_minutes * $baseline_windows)
      AND v.start_time < $until
      AND v.srcport > v.dstport
    GROUP BY h.addr, h.port
    HAVING count(DISTINCT v.srcport) >= $min_listener_clients
),
conns AS (  -- one row per REJECTed reply connection per window
    SELECT
        r.place, r.w, r.srcaddr, r.srcport, r.dstaddr, r.dstport, r.protocol,
        min(r.subnet_id) AS subnet_id, min(r.az_id) AS az_id, min(r.interface_id) AS interface_id, min(r.src_net) AS src_net,
        count(*) AS records, min(r.source_uri) AS source_uri, min(r.source_line) AS source_line
    FROM rejected AS r
    LEFT JOIN listening AS l ON l.addr = r.srcaddr AND l.port = r.srcport
    WHERE r.srcport <= $well_known_max OR l.addr IS NOT NULL
    GROUP BY r.place, r.w, r.srcaddr, r.srcport, r.dstaddr, r.dstport, r.protocol
),
per_window AS (
    SELECT place, w, count(*) AS rejects FROM conns GROUP BY place, w
),
ep_windows AS (  -- windows at or above min_rejects are loud; the baseline counts REJECTs
    SELECT place AS k, w, rejects >= $min_rejects AS loud, rejects AS base_a, 0 AS base_b
    FROM per_window
),
-- @block spike_episodes
islands AS (  -- an episode with a firing window is reported whole, from its first loud window
    SELECT k AS place, island, w_first, w_last, counted AS rejects, peak AS peak_rejects,
           baseline_mean, ratio, history_windows, judged_by
    FROM spike_islands
),
dom_items AS (  -- what the evidence may name: does one interface, server or source port carry the REJECTs?
    SELECT place AS k, w, interface_id AS a1, srcaddr AS a2, srcport AS a3 FROM conns
),
-- @block dominant
detail AS (
    SELECT
        i.place, i.island,
        mode(c.subnet_id ORDER BY c.subnet_id) AS subnet_id, mode(c.az_id ORDER BY c.az_id) AS az_id,
        mode(c.src_net ORDER BY c.src_net) AS src_net,
        count(DISTINCT c.srcaddr) AS servers, count(DISTINCT c.dstaddr) AS peers,
        sum(c.records)::BIGINT AS records,
        list(DISTINCT c.dstaddr ORDER BY c.dstaddr)[1:10] AS sample_peers,
        list({'source_uri': c.source_uri, 'source_line': c.source_line, 'srcaddr': c.srcaddr,
              'srcport': c.srcport, 'dstaddr': c.dstaddr, 'dstport': c.dstport}
             ORDER BY c.source_uri, c.source_line)[1:5] AS samples
    FROM islands AS i
    JOIN conns AS c ON c.place = i.place AND c.w BETWEEN i.w_first AND i.w_last
    GROUP BY i.place, i.island
)
SELECT
    to_timestamp(i.w_first * $window_minutes * 60) AS window_start,
    to_timestamp((i.w_last + 1) * $window_minutes * 60) AS window_end,
    d.subnet_id,
    d.az_id,
    d.src_net,
    m.named1 AS interface_id,
    m.named2 AS srcaddr,
    m.named3 AS srcport,
    i.place,
    i.rejects,
    d.records,
    i.peak_rejects,
    i.baseline_mean,
    i.history_windows,
    i.judged_by,
    i.ratio,
    d.servers,
    d.peers,
    m.a3 AS top_port,
    d.sample_peers,
    d.samples
FROM islands AS i
JOIN detail AS d ON d.place = i.place AND d.island = i.island
JOIN dominant AS m ON m.k = i.place AND m.island = i.island
ORDER BY window_start, i.place
