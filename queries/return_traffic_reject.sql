/*
id: return_traffic_reject
title: Return traffic REJECTed (stateless NACL missing the ephemeral range)
sources: [vpc_flow, topo_interfaces]
severity: high
requires: [action, srcaddr, srcport, dstport, start]
params:
  window_minutes: {type: int, default: 5, doc: "Length of one counting window, in minutes."}
  baseline_windows: {type: int, default: 24, doc: "Earlier windows of the same subnet that form its baseline."}
  min_history_windows: {type: int, default: 6, doc: "Windows of flow-log history needed before a window can be judged."}
  min_rejects: {type: int, default: 10, doc: "Fewest distinct REJECTed return connections in one subnet in a window."}
  spike_ratio: {type: float, default: 4.0, doc: "A window fires at this multiple of the subnet's baseline mean per window."}
  ephemeral_min: {type: int, default: 1024, doc: "Lowest client (ephemeral) port; AWS NACL guidance uses 1024-65535."}
  ephemeral_max: {type: int, default: 65535, doc: "Highest client (ephemeral) port."}
  well_known_max: {type: int, default: 1023, doc: "Source ports up to this are service ports without further evidence."}
  min_listener_clients: {type: int, default: 5, doc: "A higher source port counts as a service port when the address ACCEPTed at least this many inbound connections on it."}
  dominant_share: {type: float, default: 0.5, doc: "Share above which one interface / address / port is named in the entity."}
  private_pattern: {type: str, default: '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|f[cd][0-9a-f]{2}:)', doc: "Regular expression for our own (private) addresses; addresses of interfaces in the topology count as ours too."}
entity: [subnet_id, az_id, interface_id, srcaddr, srcport]
summary: "{rejects} responses from port {top_port} of {servers} server(s) in {place} to {peers} client(s) were REJECTed ({ratio}x its baseline of {baseline_mean} per {window_minutes} min)"
hint: "Servers in {place} answer on port {top_port} but their replies to ephemeral ports are refused: a stateless network ACL is missing the outbound (or inbound, on the client's subnet) allow rule for ports {ephemeral_min}-{ephemeral_max}. Clients behind a load balancer see timeouts (ALB 504s): look for an az_5xx_spike finding in the same AZ and window."
description: |
  Security groups are stateful and never drop replies; network ACLs are stateless, so a NACL
  without an ephemeral-port rule drops the replies of a service that accepted the request.
  This detector keeps REJECTed flows sent by our own (private) addresses from a service port
  (<= well_known_max, or a port on which that address ACCEPTed inbound connections from at least
  min_listener_clients client ports in the window) to an ephemeral port, counts distinct
  connections per subnet (per interface when the flow logs carry no subnet_id) per window, and
  fires on a spike over the subnet's own baseline. Consecutive windows merge into one finding.
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
WITH first_seen AS (
    SELECT min(start) AS first_start
    FROM vpc_flow
    WHERE start_time >= $since - to_minutes($window_minutes * $baseline_windows) AND start_time < $until
),
rejected AS (
    SELECT
        coalesce(subnet_id, interface_id) AS place,
        subnet_id, az_id, interface_id, srcaddr, srcport, dstaddr, dstport, protocol,
        start // ($window_minutes * 60) AS w,
        source_uri, source_line
    FROM vpc_flow
    WHERE action = 'REJECT'
      AND coalesce(log_status, 'OK') = 'OK'
      AND start_time >= $since - to_minutes($window_minutes * $baseline_windows)
      AND start_time < $until
      AND dstport BETWEEN $ephemeral_min AND $ephemeral_max
      AND (regexp_matches(srcaddr, $private_pattern) OR srcaddr IN (SELECT private_ip FROM topo_interfaces))
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
        min(r.subnet_id) AS subnet_id, min(r.az_id) AS az_id, min(r.interface_id) AS interface_id,
        count(*) AS records, min(r.source_uri) AS source_uri, min(r.source_line) AS source_line
    FROM rejected AS r
    LEFT JOIN listening AS l ON l.addr = r.srcaddr AND l.port = r.srcport
    WHERE r.srcport <= $well_known_max OR l.addr IS NOT NULL
    GROUP BY r.place, r.w, r.srcaddr, r.srcport, r.dstaddr, r.dstport, r.protocol
),
per_window AS (
    SELECT place, w, count(*) AS rejects FROM conns GROUP BY place, w
),
scored AS (
    SELECT
        p.*,
        least($baseline_windows, p.w - f.first_start // ($window_minutes * 60)) AS history,
        coalesce(sum(p.rejects) OVER (
            PARTITION BY p.place ORDER BY p.w
            RANGE BETWEEN $baseline_windows PRECEDING AND 1 PRECEDING
        ), 0) AS baseline_total
    FROM per_window AS p CROSS JOIN first_seen AS f
),
firing AS (
    SELECT *, baseline_total / history AS baseline_mean,
           w - row_number() OVER (PARTITION BY place ORDER BY w) AS island
    FROM scored
    WHERE history >= $min_history_windows
      AND rejects >= $min_rejects
      AND rejects >= $spike_ratio * (baseline_total / history)
      AND w >= epoch($since)::BIGINT // ($window_minutes * 60)
),
islands AS (
    SELECT place, island, min(w) AS w_first, max(w) AS w_last,
           sum(rejects)::BIGINT AS rejects, max(rejects) AS peak_rejects,
           arg_min(baseline_mean, w) AS baseline_mean
    FROM firing
    GROUP BY place, island
),
detail AS (
    SELECT
        i.place, i.island,
        mode(c.subnet_id ORDER BY c.subnet_id) AS subnet_id, mode(c.az_id ORDER BY c.az_id) AS az_id,
        mode(c.interface_id ORDER BY c.interface_id) AS top_interface, mode(c.srcaddr ORDER BY c.srcaddr) AS top_server, mode(c.srcport ORDER BY c.srcport) AS top_port,
        count(DISTINCT c.srcaddr) AS servers, count(DISTINCT c.dstaddr) AS peers,
        sum(c.records)::BIGINT AS records,
        list(DISTINCT c.dstaddr ORDER BY c.dstaddr)[1:10] AS sample_peers,
        list({'source_uri': c.source_uri, 'source_line': c.source_line, 'srcaddr': c.srcaddr,
              'srcport': c.srcport, 'dstaddr': c.dstaddr, 'dstport': c.dstport}
             ORDER BY c.source_uri, c.source_line)[1:5] AS samples
    FROM islands AS i
    JOIN conns AS c ON c.place = i.place AND c.w BETWEEN i.w_first AND i.w_last
    GROUP BY i.place, i.island
),
shares AS (
    SELECT i.place, i.island,
           count_if(c.interface_id = d.top_interface) AS iface_count,
           count_if(c.srcaddr = d.top_server) AS server_count,
           count_if(c.srcport = d.top_port) AS port_count
    FROM islands AS i
    JOIN detail AS d ON d.place = i.place AND d.island = i.island
    JOIN conns AS c ON c.place = i.place AND c.w BETWEEN i.w_first AND i.w_last
    GROUP BY i.place, i.island
)
SELECT
    to_timestamp(i.w_first * $window_minutes * 60) AS window_start,
    to_timestamp((i.w_last + 1) * $window_minutes * 60) AS window_end,
    d.subnet_id,
    d.az_id,
    CASE WHEN s.iface_count > $dominant_share * i.rejects THEN d.top_interface END AS interface_id,
    CASE WHEN s.server_count > $dominant_share * i.rejects THEN d.top_server END AS srcaddr,
    CASE WHEN s.port_count > $dominant_share * i.rejects THEN d.top_port END AS srcport,
    i.place,
    i.rejects,
    d.records,
    i.peak_rejects,
    round(i.baseline_mean, 2) AS baseline_mean,
    round(i.peak_rejects / greatest(i.baseline_mean, 1), 1) AS ratio,
    d.servers,
    d.peers,
    d.top_port,
    d.sample_peers,
    d.samples
FROM islands AS i
JOIN detail AS d ON d.place = i.place AND d.island = i.island
JOIN shares AS s ON s.place = i.place AND s.island = i.island
ORDER BY window_start, i.place
