/*
id: reject_burst
title: REJECT burst to one destination
sources: [vpc_flow, topo_interfaces]
version: 1
status: stable
severity: high
chart: reject_destinations
config_checks: [nacl]
config_summary: "a burst of REJECTed flows [from {srcaddr} ]to {dst|where}"
requires: [action, srcaddr, dstaddr, srcport, dstport, start]
lookback: [window_minutes, baseline_windows]
params:
  window_minutes: {type: int, default: 5, min: 1, max: 1440, doc: "Length of one counting window, in minutes."}
  baseline_windows: {type: int, default: 24, min: 1, doc: "How many earlier windows of the same destination form its baseline (read before --since too)."}
  min_history_windows: {type: int, default: 6, min: 0, doc: "Windows of flow-log history before a burst needed to judge it against its baseline; with less (but at least one), only a burst of 2 x min_rejects to a destination that had fewer than min_rejects in all its history fires."}
  min_rejects: {type: int, default: 10, min: 1, doc: "Fewest distinct REJECTed connections to one destination in a window."}
  spike_ratio: {type: float, default: 4.0, min: 0, doc: "A window fires when its REJECTs reach this multiple of the destination's baseline mean per window."}
  dominant_share: {type: float, default: 0.5, min: 0, max: 1, doc: "Share of the REJECTs above which one port / interface / subnet is named in the entity."}
  max_ports: {type: int, default: 5, min: 1, doc: "Windows whose REJECTs spread over more destination ports than this are a scan (see port_scan), not a deny."}
  include_external_sources: {type: bool, default: false, doc: "Also count REJECTs whose source is outside the private ranges (internet scanners: noisy)."}
entity: [dstaddr, dstport, interface_id, subnet_id]
summary: "{rejects} REJECTed connections to {dstaddr} (port {top_port}) from {sources} of our addresses, {ratio}x the baseline of {baseline_mean} per {window_minutes} min"
hint: "Traffic from our own addresses to {dstaddr} started being refused: most likely an outbound NACL deny rule or a security-group change on the sending interfaces. Check the NACL of subnet {busiest_subnet} and the security groups of interface {busiest_interface} (the busiest senders) for rules matching {dstaddr}:{top_port}."
description: |
  Counts distinct REJECTed connections (5-tuples, not records) per destination address per
  window, keeping only initiator-shaped flows (destination port <= source port: the client side
  of a connection; REJECTed return traffic belongs to return_traffic_reject) sent by our own
  private addresses, spread over at most max_ports destination ports (more is a scan).
  A burst from a single source address (one host's retries) is reported with severity low.
  Windows with at least min_rejects form episodes (consecutive windows, one quiet window in
  between tolerated). An episode is judged against the baseline_windows windows *before it
  started* (missing windows count as zero; the burst never inflates its own baseline): it
  fires when one of its windows reaches spike_ratio times that mean, provided there is at
  least one window of data before the episode and min_history_windows of data before that
  window; with less (an analyst pulled only the incident's hour), a window of at least
  2 x min_rejects to a destination that had fewer than min_rejects in all the history there
  is fires at once. A firing episode is one finding, from its
  first loud window to its last (`judged_by`, `history_windows` say how it was judged).
  The port, interface and subnet are named when one carries at least dominant_share of the
  REJECTs.
  Misses: REJECTs of internet clients (a security-group change on a public listener shows as
  ALB errors instead, see az_5xx_spike), bursts smaller than min_rejects, a deny that was already
  in place for the whole baseline (or since the first window of data), a burst smaller than
  2 x min_rejects in a short history, and flows that never reach a logged interface.
false_positives:
  - "A newly deployed workload that immediately talks to a destination that was always blocked."
  - "A host retrying aggressively against an address that was always denied: its own baseline absorbs it after baseline_windows."
runbook:
  - "List the REJECTed flows to {dstaddr} between {window_start} and {window_end}: srcaddr, interface_id, subnet_id, dstport, tcp_flags."
  - "Compare with the same flows in the hour before {window_start}: were they ACCEPTed (a rule changed) or absent (new traffic)?"
  - "Open the NACL of subnet {busiest_subnet} (and of the other sending subnets): look for an outbound DENY matching {dstaddr} or its CIDR ahead of the allow rules."
  - "Check CloudTrail for ReplaceNetworkAclEntry / CreateNetworkAclEntry / RevokeSecurityGroupEgress around {window_start}."
references:
  - https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
  - https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html
*/
WITH conns AS (  -- one row per REJECTed connection per window, wherever it was recorded
    SELECT
        dstaddr, dstport, srcaddr, srcport, protocol,
        start // ($window_minutes * 60) AS w,
        min(interface_id) AS interface_id,
        min(subnet_id) AS subnet_id,
        count(*) AS records,
        min(source_uri) AS source_uri,
        min(source_line) AS source_line
    FROM vpc_flow
    WHERE action = 'REJECT'
      AND coalesce(log_status, 'OK') = 'OK'
      AND start_time >= $since - to_minutes($window_minutes * $baseline_windows)
      AND start_time < $until
      AND dstport <= srcport
      AND ($include_external_sources OR is_ours(srcaddr))
    GROUP BY dstaddr, dstport, srcaddr, srcport, protocol, w
),
per_window AS (
    SELECT dstaddr, w, count(*) AS rejects, sum(records)::BIGINT AS records, count(DISTINCT dstport) AS ports
    FROM conns
    GROUP BY dstaddr, w
),
ep_windows AS (  -- windows at or above min_rejects (and not a scan) are loud; the baseline counts REJECTs
                 -- (base_b: the records, for the evidence)
    SELECT dstaddr AS k, w, rejects >= $min_rejects AND ports <= $max_ports AS loud, rejects AS base_a, records AS base_b
    FROM per_window
),
-- @block spike_episodes
islands AS (  -- an episode with a firing window is reported whole, from its first loud window
    SELECT k AS dstaddr, island, w_first, w_last, counted AS rejects, counted_b AS records, peak AS peak_rejects,
           baseline_mean, ratio, history_windows, judged_by
    FROM spike_islands
),
dom_items AS (  -- what the evidence may name: does one port, interface or subnet carry the REJECTs?
    SELECT dstaddr AS k, w, dstport AS a1, interface_id AS a2, subnet_id AS a3 FROM conns
),
-- @block dominant
detail AS (
    SELECT
        i.dstaddr, i.island,
        count(DISTINCT c.srcaddr) AS sources,
        count(DISTINCT c.dstport) AS ports,
        list({'source_uri': c.source_uri, 'source_line': c.source_line, 'srcaddr': c.srcaddr, 'dstport': c.dstport}
             ORDER BY c.source_uri, c.source_line)[1:5] AS samples,
        list(DISTINCT c.srcaddr ORDER BY c.srcaddr)[1:10] AS sample_sources
    FROM islands AS i
    JOIN conns AS c ON c.dstaddr = i.dstaddr AND c.w BETWEEN i.w_first AND i.w_last
    GROUP BY i.dstaddr, i.island, i.w_first, i.w_last
)
SELECT
    to_timestamp(i.w_first * $window_minutes * 60) AS window_start,
    to_timestamp((i.w_last + 1) * $window_minutes * 60) AS window_end,
    i.dstaddr,
    -- one sending host's retries are that host's problem, not an outage: low, never high
    CASE WHEN d.sources <= 1 THEN 'low' END AS severity,
    m.named1 AS dstport,
    m.named2 AS interface_id,
    m.named3 AS subnet_id,
    i.rejects,
    i.records,
    i.peak_rejects,
    i.baseline_mean,
    i.history_windows,
    i.judged_by,
    i.ratio,
    d.sources,
    d.ports,
    m.a1 AS top_port,
    coalesce(m.a3, 'unknown (v2 flow logs)') AS busiest_subnet,
    m.a2 AS busiest_interface,
    d.sample_sources,
    d.samples
FROM islands AS i
JOIN detail AS d ON d.dstaddr = i.dstaddr AND d.island = i.island
JOIN dominant AS m ON m.k = i.dstaddr AND m.island = i.island
ORDER BY window_start, i.dstaddr
