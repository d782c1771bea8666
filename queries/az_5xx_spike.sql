/*
id: az_5xx_spike
title: ALB 5XX spike concentrated in one Availability Zone
sources: [alb_access, vpc_flow, topo_interfaces, topo_subnets]
version: 1
status: stable
severity: high
chart: az_5xx_heatmap
config_checks: [alb_subnet_routes, alb_nacl]
config_summary: "a 5XX spike at {load_balancer|'the load balancer'} concentrated in {where|'one AZ'}"
requires: [elb_status_code]
lookback: [baseline_hours, 60]   # reads baseline_hours before $since
params:
  window_minutes: {type: int, default: 5, min: 1, max: 1440, doc: "Length of one counting window; windows start every minute (hopping), so a burst is never split by a bucket boundary."}
  baseline_hours: {type: int, default: 24, min: 1, doc: "How far before --since to read for each AZ's own baseline error rate."}
  min_errors: {type: int, default: 10, min: 1, doc: "Fewest 5XX responses in one AZ within one window (any window_minutes span starting on a minute) to consider."}
  min_rate: {type: float, default: 0.05, min: 0, doc: "Smallest 5XX rate (5XX / requests) in the AZ and window to consider."}
  min_ratio: {type: float, default: 3.0, min: 0, doc: "How many times the AZ's rate must exceed both the other AZs' rate in the same window and its own median rate."}
  rate_floor: {type: float, default: 0.01, min: 0, doc: "Rates below this count as this when comparing (a near-zero baseline does not make every blip a spike)."}
entity: [az, az_id, subnet_id, target_net, node_ip, load_balancer, elb_status_code]
summary: "{errors_5xx} of {requests} requests ({rate_pct}%) failed with 5XX (mostly {elb_status_code}) in {az_label} behind {load_balancer}, other AZs {peer_rate_pct}%, its own baseline {baseline_rate_pct}%; flow logs between the ALB nodes and those targets: {flow_rejects_nodes_targets} REJECTed, {flow_syn_only_nodes_targets} SYN-only records"
hint: "5XX concentrated in one AZ points at something local to that AZ: a subnet's NACL or route table, or the targets there. ELB-generated 504s (target set, target_status_code '-') mean the targets did not answer in time; check the flow-log evidence (REJECTed or unanswered traffic between ALB nodes and targets in that AZ; see return_traffic_reject) and the NACLs of the targets' subnets."
description: |
  Counts ALB requests and 5XX responses per load balancer, Availability Zone and window
  (`window_minutes` long, one starting every minute),
  separating ELB-generated errors (502/503/504 with target_status_code null) from 5XX the
  targets returned. A request's AZ is its target's AZ (target_ip looked up in the topology
  views, else in the flow logs: the az_id/subnet_id of the interface recording that address
  most often), or, when no target is logged (503), the AZ of the ALB node that handled it
  (node_ip, from the log object's name). Fires when an AZ's 5XX rate is at least `min_ratio`
  times the other AZs' rate in the same window AND `min_ratio` times its own median rate
  over the range (plus `baseline_hours` before it). Overlapping and nearby windows merge
  into one finding, whose window runs from the first to the last minute with 5XX.
  When neither topology nor flow logs name the target's AZ, requests are grouped by the
  target's subnet (flow logs v3) or else by the target's network (`target_net`: its /24, or
  /64 for IPv6: one AZ's subnet in the usual layouts; with cross-zone load balancing every
  ALB node sends to every AZ, so the node says nothing about where the failing targets
  are); requests without a target (503) by their ALB node's AZ, else the node's IP. The
  evidence says which (`az_resolved_by`).
  Deliberately silent on a spike spread evenly over every AZ: that is an application or
  target-group problem, not an AZ one. Misses: a single-AZ load balancer (no peers), spikes
  below `min_errors` within any `window_minutes`, and AZ failures with no traffic at all
  (nothing is logged). Without AZ information, targets of several AZs in one /24 (subnets
  smaller than /24) are one group, and one AZ's targets spread over several /24s are several.
false_positives:
  - "A deploy rolling through one AZ at a time produces short per-AZ 5XX bursts."
  - "A single unhealthy target in an AZ with few targets can dominate that AZ's rate."
runbook:
  - "Compare per-AZ rates in the evidence (per_az); note whether errors are ELB-generated (elb_5xx) or from targets (target_5xx)."
  - "For ELB 504s: look at flow logs between the ALB nodes and the targets in {az_label} for the window (flow_rejects_nodes_targets, flow_syn_only_nodes_targets); REJECTs of target responses (srcport = app port, dstport ephemeral) mean a NACL missing the ephemeral-port rule."
  - "Check `aws ec2 describe-network-acls --filters Name=association.subnet-id,Values=<target subnet>` and the subnet's route table for recent changes (CloudTrail: ReplaceNetworkAclEntry, ReplaceRouteTableAssociation)."
  - "Check `aws elbv2 describe-target-health` for targets in {az_label}; if all are unhealthy, 503s follow."
references:
  - https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
  - https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html
  - https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
*/
WITH req AS (
    -- requests pre-aggregated per minute, node and target: the AZ is looked up per pair
    SELECT
        time_bucket(INTERVAL '1 minute', event_time) AS minute,
        coalesce(elb, load_balancer) AS load_balancer,
        node_ip, target_ip,
        count(*) AS requests,
        count(*) FILTER (WHERE elb_status_code BETWEEN 500 AND 599) AS errors_5xx,
        count(*) FILTER (WHERE elb_status_code BETWEEN 500 AND 599 AND target_status_code IS NULL) AS elb_5xx,
        count(*) FILTER (WHERE target_status_code BETWEEN 500 AND 599) AS target_5xx,
        count(*) FILTER (WHERE elb_status_code = 504) AS elb_504,
        count(*) FILTER (WHERE elb_status_code = 503 AND target_status_code IS NULL) AS elb_503
    FROM alb_access
    WHERE event_time >= $since - INTERVAL '1 hour' * $baseline_hours AND event_time < $until
      AND elb_status_code IS NOT NULL
    GROUP BY ALL
),
addrs AS (
    SELECT node_ip AS ip FROM req WHERE node_ip IS NOT NULL
    UNION
    SELECT target_ip FROM req WHERE target_ip IS NOT NULL
),
topo_loc AS (
    SELECT i.private_ip AS ip,
           arg_max(coalesce(i.az, s.az), i.confidence) AS az,
           arg_max(coalesce(i.az_id, s.az_id), i.confidence) AS az_id,
           arg_max(i.subnet_id, i.confidence) AS subnet_id
    FROM topo_interfaces AS i
    LEFT JOIN topo_subnets AS s ON s.subnet_id = i.subnet_id
    WHERE i.private_ip IN (SELECT ip FROM addrs)
    GROUP BY i.private_ip
),
flow_seen AS (
    -- which subnet / AZ records each address as a sender: its own interface records all
    -- its traffic, a relay (NAT) only some, so the most frequent one wins
    SELECT srcaddr AS ip, az_id, subnet_id, count(*) AS n
    FROM vpc_flow
    WHERE start_time >= $since - INTERVAL '1 hour' * $baseline_hours AND start_time < $until
      AND (az_id IS NOT NULL OR subnet_id IS NOT NULL) AND srcaddr IN (SELECT ip FROM addrs)
    GROUP BY ALL
),
flow_loc AS (
    SELECT ip, arg_max(az_id, n) AS az_id, arg_max(subnet_id, n) AS subnet_id
    FROM flow_seen GROUP BY ip
),
loc AS (
    SELECT a.ip,
           t.az AS az,
           coalesce(t.az_id, f.az_id, s.az_id) AS az_id,
           coalesce(t.subnet_id, f.subnet_id) AS subnet_id,
           CASE WHEN t.az IS NOT NULL OR t.az_id IS NOT NULL THEN 'topology'
                WHEN f.az_id IS NOT NULL OR s.az_id IS NOT NULL THEN 'flow logs (az_id of the interface)'
                WHEN coalesce(t.subnet_id, f.subnet_id) IS NOT NULL THEN 'subnet only (no AZ known)'
           END AS how
    FROM addrs AS a
    LEFT JOIN topo_loc AS t ON t.ip = a.ip
    LEFT JOIN flow_loc AS f ON f.ip = a.ip
    LEFT JOIN topo_subnets AS s ON s.subnet_id = f.subnet_id
),
placed AS (
    -- a request belongs to its target's AZ: the target's location, else the target's network
    -- (/24, /64: with cross-zone load balancing every ALB node sends to every AZ, so the node
    -- says nothing about where the failing targets are); without a target (503), the node's
    SELECT r.*,
           CASE WHEN lt.how IS NOT NULL THEN lt.az WHEN r.target_ip IS NULL THEN ln.az END AS az,
           CASE WHEN lt.how IS NOT NULL THEN lt.az_id WHEN r.target_ip IS NULL THEN ln.az_id END AS az_id,
           CASE WHEN lt.how IS NOT NULL AND lt.az IS NULL AND lt.az_id IS NULL THEN lt.subnet_id
                WHEN lt.how IS NULL AND r.target_ip IS NULL AND ln.az IS NULL AND ln.az_id IS NULL THEN ln.subnet_id
           END AS fallback_subnet,
           CASE WHEN lt.how IS NULL AND r.target_ip IS NOT NULL THEN usual_net(r.target_ip) END AS target_net,
           CASE WHEN lt.how IS NULL AND (r.target_ip IS NOT NULL OR ln.how IS NULL) THEN r.node_ip END AS fallback_node,
           CASE WHEN lt.how IS NOT NULL THEN 'target address, ' || lt.how
                WHEN r.target_ip IS NOT NULL THEN 'target network (no AZ or subnet known for the target: no topology, flow logs lack az_id/subnet_id)'
                ELSE 'ALB node address (no target), ' || ln.how END AS how
    FROM req AS r
    LEFT JOIN loc AS lt ON lt.ip = r.target_ip
    LEFT JOIN loc AS ln ON ln.ip = r.node_ip
),
keyed AS (
    -- where the AZ is known, one row keyed by it; where it is not, the request counts in two
    -- groupings, each judged against its own peers: by target network (an AZ's failing
    -- targets, whichever node sent to them) and by ALB node IP (one node failing)
    SELECT *, 'az' AS dim, coalesce(az_id, az, fallback_subnet) AS az_key
    FROM placed WHERE coalesce(az_id, az, fallback_subnet) IS NOT NULL
    UNION ALL
    SELECT * REPLACE (NULL::VARCHAR AS fallback_node), 'target_net' AS dim, target_net AS az_key
    FROM placed WHERE target_net IS NOT NULL
    UNION ALL
    SELECT * REPLACE (NULL::VARCHAR AS target_net,
                      'ALB node IP (no AZ known: no topology, flow logs lack az_id/subnet_id)' AS how),
           'node' AS dim, fallback_node AS az_key
    FROM placed WHERE fallback_node IS NOT NULL
),
per_min AS (
    SELECT load_balancer, dim, minute, az_key,
           any_value(az) AS az, any_value(az_id) AS az_id, any_value(fallback_subnet) AS subnet_id,
           any_value(target_net) AS target_net, any_value(fallback_node) AS node_ip,
           arg_max(how, requests) AS how,
           CAST(sum(requests) AS BIGINT) AS requests,
           CAST(sum(errors_5xx) AS BIGINT) AS errors_5xx,
           CAST(sum(elb_5xx) AS BIGINT) AS elb_5xx,
           CAST(sum(target_5xx) AS BIGINT) AS target_5xx,
           CAST(sum(elb_504) AS BIGINT) AS elb_504,
           CAST(sum(elb_503) AS BIGINT) AS elb_503
    FROM keyed
    GROUP BY load_balancer, dim, minute, az_key
),
hops AS (
    -- every minute counts in the windows starting at it and in the window_minutes - 1 before
    SELECT load_balancer, dim, az_key, minute, requests, errors_5xx, unnest(range(0, $window_minutes)) AS k
    FROM per_min
),
per_az AS (
    -- hopping windows: window_minutes long, one starting every minute, so a short burst is
    -- never split by a bucket boundary
    SELECT load_balancer, dim, az_key, minute - INTERVAL '1 minute' * k AS bucket,
           sum(requests) AS requests, sum(errors_5xx) AS errors_5xx
    FROM hops
    GROUP BY ALL
),
with_peers AS (
    SELECT p.*,
           errors_5xx / requests AS rate,
           sum(requests) OVER w - requests AS peer_requests,
           sum(errors_5xx) OVER w - errors_5xx AS peer_errors,
           median(errors_5xx / requests) OVER (PARTITION BY load_balancer, az_key) AS baseline_rate
    FROM per_az AS p
    WINDOW w AS (PARTITION BY load_balancer, dim, bucket)
),
hits AS (
    SELECT *, {'lb': load_balancer, 'az': az_key} AS isl_key
    FROM with_peers
    WHERE bucket >= $since AND bucket < $until
      AND peer_requests > 0
      AND errors_5xx >= $min_errors
      AND rate >= $min_rate
      AND rate >= $min_ratio * greatest(peer_errors / peer_requests, $rate_floor)
      AND rate >= $min_ratio * greatest(baseline_rate, $rate_floor)
),
-- @block bucket_islands
raw_spans AS (
    SELECT load_balancer, dim, az_key, island,
           min(bucket) AS span_start,
           max(bucket) + INTERVAL '1 minute' * $window_minutes AS span_end,
           any_value(baseline_rate) AS baseline_rate,
           CAST(max(errors_5xx) AS BIGINT) AS peak_window_errors,
           count(*) AS windows
    FROM islands
    GROUP BY load_balancer, dim, az_key, island
),
spans AS (
    -- the finding's window: from the first to the last minute with 5XX in the fired windows
    SELECT r.load_balancer, r.dim, r.az_key, r.island, r.baseline_rate, r.peak_window_errors, r.windows,
           min(m.minute) AS window_start, max(m.minute) + INTERVAL '1 minute' AS window_end
    FROM raw_spans AS r
    JOIN per_min AS m
      ON m.load_balancer = r.load_balancer AND m.dim = r.dim AND m.az_key = r.az_key
     AND m.minute >= r.span_start AND m.minute < r.span_end AND m.errors_5xx > 0
    GROUP BY ALL
),
span_az_totals AS (
    -- every AZ's totals over each finding's window
    SELECT s.load_balancer, s.az_key AS span_key, s.island, a.az_key,
           any_value(a.az) AS az, any_value(a.az_id) AS az_id, any_value(a.subnet_id) AS subnet_id,
           any_value(a.target_net) AS target_net, any_value(a.node_ip) AS node_ip,
           arg_max(a.how, a.requests) AS how,
           CAST(sum(a.requests) AS BIGINT) AS requests, CAST(sum(a.errors_5xx) AS BIGINT) AS errors_5xx,
           CAST(sum(a.elb_5xx) AS BIGINT) AS elb_5xx, CAST(sum(a.target_5xx) AS BIGINT) AS target_5xx,
           CAST(sum(a.elb_504) AS BIGINT) AS elb_504, CAST(sum(a.elb_503) AS BIGINT) AS elb_503
    FROM spans AS s
    JOIN per_min AS a ON a.load_balancer = s.load_balancer AND a.dim = s.dim
         AND a.minute >= s.window_start AND a.minute < s.window_end
    GROUP BY s.load_balancer, s.az_key, s.island, a.az_key
),
span_az AS (
    SELECT load_balancer, span_key AS az_key, island,
           list({'az': az_key, 'requests': requests, 'errors_5xx': errors_5xx,
                 'rate': round(errors_5xx / requests, 4)} ORDER BY az_key) AS per_az,
           CAST(sum(requests) FILTER (WHERE az_key <> span_key) AS BIGINT) AS peer_requests,
           CAST(sum(errors_5xx) FILTER (WHERE az_key <> span_key) AS BIGINT) AS peer_errors
    FROM span_az_totals
    GROUP BY ALL
),
own AS (
    SELECT load_balancer, span_key AS az_key, island, az, az_id, subnet_id, target_net, node_ip,
           how AS az_resolved_by, requests, errors_5xx, elb_5xx, target_5xx, elb_504, elb_503
    FROM span_az_totals
    WHERE az_key = span_key
),
az_targets AS (
    SELECT DISTINCT load_balancer, az_key, target_ip FROM keyed WHERE target_ip IS NOT NULL AND az_key IS NOT NULL
),
lb_nodes AS (
    SELECT DISTINCT load_balancer, node_ip FROM req WHERE node_ip IS NOT NULL
),
suspicious_flows AS (
    -- REJECTed or SYN-only records between an ALB node and a target
    SELECT start_time, srcaddr, dstaddr, action, tcp_flags
    FROM vpc_flow
    WHERE start_time >= $since AND start_time < $until
      AND (action = 'REJECT' OR tcp_flags = 2)
      AND srcaddr IN (SELECT ip FROM addrs) AND dstaddr IN (SELECT ip FROM addrs)
),
flow_corr AS (
    SELECT s.load_balancer, s.az_key, s.island,
           count(*) FILTER (WHERE f.action = 'REJECT') AS flow_rejects_nodes_targets,
           count(*) FILTER (WHERE f.tcp_flags = 2) AS flow_syn_only_nodes_targets
    FROM spans AS s
    JOIN az_targets AS t ON t.load_balancer = s.load_balancer AND t.az_key = s.az_key
    JOIN lb_nodes AS n ON n.load_balancer = s.load_balancer
    JOIN suspicious_flows AS f
      ON ((f.srcaddr = t.target_ip AND f.dstaddr = n.node_ip) OR (f.srcaddr = n.node_ip AND f.dstaddr = t.target_ip))
     AND f.start_time >= s.window_start - INTERVAL '1 minute' * $window_minutes AND f.start_time < s.window_end
    GROUP BY ALL
),
pair_key AS (
    SELECT DISTINCT load_balancer, node_ip, target_ip, az_key FROM keyed
),
samples AS (
    SELECT s.load_balancer, s.az_key, s.island,
           list_slice(list({'source_uri': a.source_uri, 'source_line': a.source_line, 'event_time': a.event_time,
                            'elb_status_code': a.elb_status_code, 'target_ip': a.target_ip, 'node_ip': a.node_ip}
                           ORDER BY a.event_time), 1, 5) AS samples,
           mode(a.elb_status_code ORDER BY a.elb_status_code) AS elb_status_code
    FROM spans AS s
    JOIN alb_access AS a
      ON coalesce(a.elb, a.load_balancer) = s.load_balancer
     AND a.event_time >= s.window_start AND a.event_time < s.window_end
     AND a.elb_status_code BETWEEN 500 AND 599
    JOIN pair_key AS k
      ON k.load_balancer = s.load_balancer AND k.az_key = s.az_key
     AND k.node_ip IS NOT DISTINCT FROM a.node_ip AND k.target_ip IS NOT DISTINCT FROM a.target_ip
    WHERE a.event_time >= $since AND a.event_time < $until
    GROUP BY ALL
)
SELECT
    s.window_start, s.window_end, o.az, o.az_id, o.subnet_id, o.target_net, o.node_ip, s.load_balancer,
    CAST(x.elb_status_code AS VARCHAR) AS elb_status_code,
    coalesce(o.az || ' (' || o.az_id || ')', o.az, o.az_id, 'subnet ' || o.subnet_id,
             'targets in ' || o.target_net, 'ALB node ' || o.node_ip) AS az_label,
    o.az_resolved_by, s.windows, s.peak_window_errors, o.requests, o.errors_5xx, o.elb_5xx, o.target_5xx, o.elb_504, o.elb_503,
    round(100.0 * o.errors_5xx / o.requests, 1) AS rate_pct,
    a.peer_requests, a.peer_errors,
    round(100.0 * a.peer_errors / nullif(a.peer_requests, 0), 2) AS peer_rate_pct,
    round(100.0 * s.baseline_rate, 2) AS baseline_rate_pct,
    a.per_az,
    coalesce(c.flow_rejects_nodes_targets, 0) AS flow_rejects_nodes_targets,
    coalesce(c.flow_syn_only_nodes_targets, 0) AS flow_syn_only_nodes_targets,
    x.samples
FROM spans AS s
JOIN own AS o USING (load_balancer, az_key, island)
LEFT JOIN span_az AS a USING (load_balancer, az_key, island)
LEFT JOIN flow_corr AS c USING (load_balancer, az_key, island)
LEFT JOIN samples AS x USING (load_balancer, az_key, island)
ORDER BY s.window_start, s.load_balancer, az_label
