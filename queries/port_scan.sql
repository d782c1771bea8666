/*
id: port_scan
title: One of our hosts probing many ports or hosts
sources: [vpc_flow, topo_interfaces]
version: 1
status: stable
severity: low
requires: [action, srcaddr, dstaddr, srcport, dstport, start]
params:
  window_minutes: {type: int, default: 5, min: 1, max: 1440, doc: "Length of one counting window, in minutes."}
  min_ports: {type: int, default: 20, min: 1, doc: "Distinct destination ports from one source in a window that make it a scan."}
  min_hosts: {type: int, default: 20, min: 1, doc: "Distinct destination hosts from one source in a window that make it a sweep."}
  min_rejected_share: {type: float, default: 0.5, min: 0, max: 1, doc: "Share of the probed (host, port) targets that must be REJECTed."}
  include_external_sources: {type: bool, default: false, doc: "Also report internet sources. Off by default: the internet scans every public interface all day."}
entity: [srcaddr, interface_id]
summary: "{srcaddr} probed {targets} targets ({ports} ports on {hosts} hosts), {rejected_share} REJECTed, between {window_start} and {window_end}"
hint: "A host of ours is scanning: an inventory or vulnerability scanner, a misconfigured service discovery, or a compromised instance moving laterally. Identify the workload behind {srcaddr} and whether the scan was planned."
description: |
  Counts, per source address and window, the distinct (destination host, port, protocol)
  targets of initiator-shaped flows (destination port <= source port, so REJECTed replies of a
  busy server are not mistaken for a scan) and fires when one source reaches min_ports ports or
  min_hosts hosts with at least min_rejected_share of them REJECTed. By default only our own
  (private) sources are considered; internet scanners hit public interfaces all day and are
  not an incident (set include_external_sources to see them). Consecutive windows merge.
  The finding names the interface that recorded the most probed targets (the scanner's own;
  each victim records only its own probes).
  Misses: slow scans below the thresholds per window, scans that are ACCEPTed and answered by
  RST (not REJECTed), scans from a low fixed source port (e.g. 53), and hosts outside logged subnets.
false_positives:
  - "Planned vulnerability or inventory scanners (allow-list them by raising the thresholds or filtering their address)."
  - "Service discovery or monitoring agents that probe many ports through a restrictive security group."
runbook:
  - "Identify the instance or task behind {srcaddr} (interface {interface_id}, instance_id in the flow logs) and its owner."
  - "List its flows between {window_start} and {window_end}: which ports and hosts, and which were ACCEPTed (reachable services)."
  - "If the scan was not planned, isolate the instance (restrictive security group) and preserve its disk for forensics."
references:
  - https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
  - https://attack.mitre.org/techniques/T1046/
*/
WITH targets AS (
    SELECT
        srcaddr, dstaddr, dstport, protocol,
        start // ($window_minutes * 60) AS w,
        bool_or(action = 'REJECT') AS rejected,
        -- list_distinct(list()): one pass; list(DISTINCT) adds a second aggregation of every record
        list_distinct(list(interface_id)) AS ifaces,
        min(source_uri) AS source_uri,
        min(source_line) AS source_line
    FROM vpc_flow
    WHERE coalesce(log_status, 'OK') = 'OK'
      AND start_time >= $since AND start_time < $until
      AND dstport <= srcport
      AND ($include_external_sources OR is_ours(srcaddr))
    GROUP BY srcaddr, dstaddr, dstport, protocol, w
),
per_window AS (
    SELECT srcaddr, w, count(*) AS targets, count(DISTINCT dstport) AS ports, count(DISTINCT dstaddr) AS hosts,
           count_if(rejected) AS rejected
    FROM targets
    GROUP BY srcaddr, w
),
firing AS (
    SELECT *, w - row_number() OVER (PARTITION BY srcaddr ORDER BY w) AS island
    FROM per_window
    WHERE (ports >= $min_ports OR hosts >= $min_hosts)
      AND rejected >= $min_rejected_share * targets
),
islands AS (
    SELECT srcaddr, island, min(w) AS w_first, max(w) AS w_last
    FROM firing
    GROUP BY srcaddr, island
),
iface_rank AS (
    -- the scanner's own interface records every probe; each victim's only its own: name the
    -- interface that recorded the most targets (ties: the smallest id)
    SELECT i.srcaddr, i.island, x.iface, count(*) AS n
    FROM islands AS i
    JOIN targets AS t ON t.srcaddr = i.srcaddr AND t.w BETWEEN i.w_first AND i.w_last,
         unnest(t.ifaces) AS x(iface)
    GROUP BY ALL
),
best_iface AS (
    SELECT srcaddr, island, first(iface ORDER BY n DESC, iface) AS interface_id
    FROM iface_rank
    GROUP BY srcaddr, island
)
SELECT
    to_timestamp(i.w_first * $window_minutes * 60) AS window_start,
    to_timestamp((i.w_last + 1) * $window_minutes * 60) AS window_end,
    i.srcaddr,
    any_value(b.interface_id) AS interface_id,
    count(*) AS targets,
    count(DISTINCT t.dstport) AS ports,
    count(DISTINCT t.dstaddr) AS hosts,
    count_if(t.rejected) AS rejected,
    round(count_if(t.rejected) / count(*), 3) AS rejected_share,
    list(DISTINCT t.dstport ORDER BY t.dstport)[1:20] AS sample_ports,
    list(DISTINCT t.dstaddr ORDER BY t.dstaddr)[1:10] AS sample_hosts,
    list(DISTINCT t.dstaddr || ':' || t.dstport ORDER BY t.dstaddr || ':' || t.dstport) FILTER (WHERE NOT t.rejected)[1:10] AS accepted_targets,
    list({'source_uri': t.source_uri, 'source_line': t.source_line, 'dstaddr': t.dstaddr, 'dstport': t.dstport}
         ORDER BY t.source_uri, t.source_line)[1:5] AS samples
FROM islands AS i
JOIN targets AS t ON t.srcaddr = i.srcaddr AND t.w BETWEEN i.w_first AND i.w_last
JOIN best_iface AS b ON b.srcaddr = i.srcaddr AND b.island = i.island
GROUP BY i.srcaddr, i.island, i.w_first, i.w_last
ORDER BY window_start, i.srcaddr
