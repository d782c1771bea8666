/*
# The per-run preparation: the runner executes these statements once, in order, after the
# topology views are registered and before any detector runs. Each statement stands alone
# (separated by a line ending in `;`), is plain SQL, and is bound with the runner's
# $since, $until, $lookback_minutes (the longest look-back any chosen detector declares
# under `lookback`) and the settings below (override: --param run.NAME=VALUE).
params:
  private_pattern: {type: str, default: '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|f[cd][0-9a-f]{2}:)', doc: "Regular expression for our own (private) addresses: RFC 1918, RFC 6598 and IPv6 ULA. Addresses of interfaces in the topology, and addresses the flow logs (v5: instance_id, flow-direction) show as an instance interface's own side (VPC IPv6, non-RFC 1918 VPC ranges), count as ours too."}
*/

-- flow_first_seen(first_start): the earliest flow record start (epoch seconds) the run reads,
-- look-back included: how much history there is to judge a baseline against.
CREATE OR REPLACE TEMP TABLE flow_first_seen AS
SELECT min(start) AS first_start
FROM vpc_flow
WHERE start_time >= $since - to_minutes($lookback_minutes) AND start_time < $until;

-- flow_our_addrs(ip): every address of the flow records the run reads that is ours: it matches
-- private_pattern, or a topology interface has it, or the logs show it as the instance side of
-- records at an instance interface (egress srcaddr, ingress dstaddr; not relayed; at interfaces
-- with a handful of such addresses: a forwarding appliance shows thousands). Read by is_ours().
CREATE OR REPLACE TEMP TABLE flow_our_addrs AS
WITH instance_side AS (
    -- distinct (interface, address) pairs; each part reads only its own columns of the lake
    -- (a shared CTE of every record's seven columns cost twice as much)
    SELECT interface_id, CASE WHEN flow_direction = 'egress' THEN srcaddr ELSE dstaddr END AS ip
    FROM vpc_flow
    WHERE start_time >= $since - to_minutes($lookback_minutes) AND start_time < $until
      AND instance_id IS NOT NULL AND flow_direction IN ('egress', 'ingress')
      AND coalesce(pkt_srcaddr = srcaddr AND pkt_dstaddr = dstaddr, true)
    GROUP BY interface_id, CASE WHEN flow_direction = 'egress' THEN srcaddr ELSE dstaddr END
),
own_interfaces AS (
    SELECT interface_id FROM instance_side GROUP BY interface_id HAVING count(DISTINCT ip) <= 64
),
addrs AS (
    SELECT srcaddr AS ip FROM vpc_flow
    WHERE start_time >= $since - to_minutes($lookback_minutes) AND start_time < $until
    UNION
    SELECT dstaddr AS ip FROM vpc_flow
    WHERE start_time >= $since - to_minutes($lookback_minutes) AND start_time < $until
)
SELECT ip FROM addrs
WHERE regexp_matches(ip, $private_pattern)
   OR ip IN (SELECT private_ip FROM topo_interfaces WHERE private_ip IS NOT NULL)
   OR ip IN (SELECT ip FROM instance_side WHERE interface_id IN (SELECT interface_id FROM own_interfaces));
