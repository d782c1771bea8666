/*
id: unanswered_flow
title: Connections from our hosts go unanswered
sources: [vpc_flow, topo_interfaces]
version: 1
status: stable
severity: high
chart: conversation
config_checks: [nacl, tgw, source_routes]
config_summary: "connections from {srcaddr|where|'the VPC'} to {dst} that were never answered"
requires: [action, srcaddr, dstaddr, srcport, dstport, start]
lookback: [window_minutes, baseline_windows]
params:
  window_minutes: {type: int, default: 5, min: 1, max: 1440, doc: "Length of one counting window, in minutes (by the connection's first SYN)."}
  baseline_windows: {type: int, default: 24, min: 1, doc: "Earlier windows of the same destination that form its baseline."}
  min_history_windows: {type: int, default: 6, min: 0, doc: "Windows of flow-log history before an episode needed to judge it against its baseline; with less (at least one), only 2 x min_failed at a destination that answered before fires."}
  min_failed: {type: int, default: 10, min: 1, doc: "Fewest failed connection attempts to one destination and port in a window."}
  min_clients: {type: int, default: 1, min: 1, doc: "Fewest distinct client addresses (of ours) among the failed attempts."}
  min_failed_share: {type: float, default: 0.8, min: 0, max: 1, doc: "Share of the destination's attempts in the window that must fail."}
  max_baseline_failed_share: {type: float, default: 0.5, min: 0, max: 1, doc: "Destinations that failed at least this often in their baseline are chronically dead, not an incident."}
  header_bytes: {type: int, default: 60, min: 0, doc: "Bytes per IPv4 packet treated as headers when estimating payload (IPv4 + TCP with options)."}
  header_bytes_ipv6: {type: int, default: 80, min: 0, doc: "Bytes per IPv6 packet treated as headers when estimating payload (40-byte IPv6 header + TCP with timestamps)."}
  min_request_bytes: {type: int, default: 1, min: 0, doc: "Estimated payload the client must send for a handshake-only connection to count as an unanswered request."}
entity: [dstaddr, dstport]
summary: "{failed} of {attempts} TCP connections from {clients} of our hosts to {dstaddr}:{dstport} went unanswered ({kind}: {no_reverse} never got a reply, {no_answer_data} completed the handshake but the request got no data back)"
hint: "{kind_hint}"
description: |
  Pre-aggregates every TCP record into connections (the 5-tuple, both directions, every
  interface that recorded it, keyed by a direction-independent hash of the two endpoints) and finds who opened each one (the side whose tcp_flags carry
  SYN without ACK). A connection opened by one of our private addresses fails in one of two ways:
  - no_reverse: no record in the opposite direction anywhere (SYN-only, retransmitted): a
    missing route (Transit Gateway, peering, a black-holed prefix) or a drop before the server.
  - no_answer_data: the handshake completed (SYN-ACK seen) and the client sent a payload, but the
    server sent back no payload (estimated as bytes - header_bytes x packets <= 0): a firewall
    (Network Firewall, appliance) that passes SYNs but drops the request.
  Failures are counted per destination address and port per window; a window fires when enough
  attempts fail, most of that destination's attempts fail, and the destination was healthy in its
  baseline (chronically dead destinations are not an incident). The baseline is the
  baseline_windows before the episode (consecutive failing windows) started, so a long outage
  never makes itself look chronic (at least one window of data before it is needed); a
  window fires once min_history_windows of data precede it, or sooner with 2 x min_failed at
  a destination that answered most attempts before. An episode is
  one finding. Payload is estimated with header_bytes per IPv4 packet and
  header_bytes_ipv6 per IPv6 packet. Connections are keyed by their real ends (pkt-srcaddr/
  pkt-dstaddr where logged), so a connection relayed by a NAT gateway is one connection with
  the NAT's records as more evidence, never a failure "to" the NAT's own address; without
  packet-level fields (v2) the hop between an inside host and a NAT interface's own address
  (topology kind nat, from a file or inferred) is left out for the same reason. "Our" clients: the private pattern, the topology's
  addresses, and addresses the flow logs show as an instance interface's own side (VPC IPv6).
  Connections with a REJECT record in either direction are left to reject_burst and
  return_traffic_reject, which name the cause directly.
  Without tcp_flags (v2 flow logs) only no_reverse is judged: the opener is the side whose
  records are initiator-shaped (source port above destination port, at least two packets:
  retransmits), and only at a destination that answered most attempts before the episode.
  Misses: destinations reached only by UDP; firewall drops (no_answer_data) in v2 flow logs;
  connections whose SYN interval fell outside the time window; internet clients that our
  services do not answer (out of scope: only our own clients are considered).
false_positives:
  - "A server that was decommissioned while clients still try it (no reply at all)."
  - "Long-poll or upload protocols where the server legitimately sends no payload (caught by the baseline if usual)."
runbook:
  - "List TCP flows to {dstaddr}:{dstport} between {window_start} and {window_end} with tcp_flags, packets, bytes and the interfaces that recorded them."
  - "For no_reverse: check the route table of the clients' subnets ({client_subnets}) for a route to {dstaddr} (TGW, peering) and the TGW route table for the return path."
  - "For no_answer_data: check firewall rules and logs (Network Firewall alert/flow logs) on the path to {dstaddr}:{dstport} for dropped application traffic."
  - "Compare with the same destination before {window_start}: which change (route, firewall policy, NACL) happened in between?"
references:
  - https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
  - https://docs.aws.amazon.com/vpc/latest/tgw/tgw-troubleshooting.html
*/
WITH relay_own AS (  -- relay interfaces (NAT gateways) and their own address, from the topology
    SELECT interface_id, private_ip FROM topo_interfaces WHERE kind = 'nat' AND coalesce(private_ip, '') <> ''
),
oriented AS (  -- each TCP record keyed by its connection: a hash that is the same in both directions.
               -- Connections are judged by their real ends: pkt-srcaddr/pkt-dstaddr where logged (at a
               -- NAT gateway srcaddr/dstaddr are the relay's own address), so the records of one
               -- connection at every interface it crossed share one key
    SELECT
        xor(hash(src, srcport), hash(dst, dstport)) AS conn,
        hash(src, srcport) < hash(dst, dstport) AS lo_is_src,
        src AS srcaddr, srcport, dst AS dstaddr, dstport, tcp_flags, start,
        bytes - (CASE WHEN contains(src, ':') THEN $header_bytes_ipv6 ELSE $header_bytes END) * packets AS payload,
        -- the opener's records: SYN without ACK; without tcp_flags (v2), the initiator-shaped
        -- records (source port above destination port) with at least two packets (retransmits)
        CASE WHEN tcp_flags IS NOT NULL THEN (tcp_flags & 2) = 2 AND (tcp_flags & 16) = 0
             ELSE srcport > dstport AND packets >= 2 END AS is_syn,
        rejected
    FROM (
        SELECT coalesce(v.pkt_srcaddr, v.srcaddr) AS src, coalesce(v.pkt_dstaddr, v.dstaddr) AS dst,
               v.srcport, v.dstport, v.tcp_flags, v.start, v.bytes, v.packets, v.action = 'REJECT' AS rejected,
               -- without packet-level fields (v2), the hop between an inside host and a NAT
               -- gateway's own address is the relay seen once more: its other hop, and the
               -- host's own interface, name the real far end
               r.interface_id IS NOT NULL AND v.pkt_dstaddr IS NULL
                 AND ((v.dstaddr = r.private_ip AND is_ours(v.srcaddr))
                      OR (v.srcaddr = r.private_ip AND is_ours(v.dstaddr))) AS relay_hop
        FROM vpc_flow AS v
        LEFT JOIN relay_own AS r ON r.interface_id = v.interface_id
        WHERE v.protocol = 6
          AND coalesce(v.log_status, 'OK') = 'OK'
          AND v.start_time >= $since - to_minutes($window_minutes * $baseline_windows)
          AND v.start_time < $until
    ) AS x
    WHERE NOT relay_hop
),
legs AS (  -- the one big aggregate: an integer key, numbers, and the opener's endpoints
    SELECT
        conn,
        min(start) AS t0,
        bool_or(is_syn AND lo_is_src) AS a_opened,
        bool_or(is_syn AND NOT lo_is_src) AS b_opened,
        bool_or(rejected) AS any_rejected,
        count(*) FILTER (WHERE lo_is_src) AS ab_records,
        count(*) FILTER (WHERE NOT lo_is_src) AS ba_records,
        sum(payload) FILTER (WHERE lo_is_src) AS ab_payload,
        sum(payload) FILTER (WHERE NOT lo_is_src) AS ba_payload,
        bit_or(tcp_flags) FILTER (WHERE lo_is_src) AS ab_flags,
        bit_or(tcp_flags) FILTER (WHERE NOT lo_is_src) AS ba_flags,
        any_value(srcaddr) FILTER (WHERE is_syn) AS client,
        any_value(srcport) FILTER (WHERE is_syn) AS client_port,
        any_value(dstaddr) FILTER (WHERE is_syn) AS server,
        any_value(dstport) FILTER (WHERE is_syn) AS server_port
    FROM oriented
    GROUP BY conn
),
conns AS (  -- connections opened by exactly one side, seen from the opener's side
    SELECT
        client, client_port, server, server_port,
        CASE WHEN a_opened THEN ba_records ELSE ab_records END AS rev_records,
        coalesce(CASE WHEN a_opened THEN ba_flags ELSE ab_flags END, 0) AS rev_flags,
        CASE WHEN a_opened THEN ab_flags ELSE ba_flags END IS NULL AS flagless,
        coalesce(CASE WHEN a_opened THEN ab_payload ELSE ba_payload END, 0) AS fwd_payload,
        coalesce(CASE WHEN a_opened THEN ba_payload ELSE ab_payload END, 0) AS rev_payload,
        t0,
        t0 // ($window_minutes * 60) AS w
    FROM legs
    WHERE a_opened <> b_opened
      AND NOT any_rejected  -- REJECTed either way: reject_burst / return_traffic_reject explain it
),
judged AS (
    SELECT
        *,
        rev_records = 0 AS no_reverse,
        rev_records > 0 AND (rev_flags & 18) = 18 AND (rev_flags & 4) = 0
            AND fwd_payload >= $min_request_bytes AND rev_payload <= 0 AS no_answer_data
    FROM conns
    WHERE is_ours(client)
),
per_window AS (
    SELECT
        server, server_port, w,
        count(*) AS attempts,
        count_if(no_reverse) AS no_reverse,
        count_if(no_answer_data) AS no_answer_data,
        count_if(no_reverse OR no_answer_data) AS failed,
        count_if(flagless AND no_reverse) AS flagless_failed
    FROM judged
    GROUP BY server, server_port, w
),
failed_clients AS (  -- distinct clients of the failed attempts, apart: only those rows enter the
                     -- DISTINCT (as a FILTERed DISTINCT in per_window it cost twice per_window itself)
    SELECT server, server_port, w, count(DISTINCT client) AS clients
    FROM judged
    WHERE no_reverse OR no_answer_data
    GROUP BY server, server_port, w
),
ep_windows AS (  -- windows where most attempts fail are loud; the baseline counts attempts and failures
    SELECT p.server || ' ' || p.server_port AS k, p.w,
           p.failed >= $min_failed AND coalesce(c.clients, 0) >= $min_clients AND p.failed >= $min_failed_share * p.attempts AS loud,
           p.attempts AS base_a, p.failed AS base_b
    FROM per_window AS p
    LEFT JOIN failed_clients AS c ON c.server = p.server AND c.server_port = p.server_port AND c.w = p.w
),
-- @block episodes
scored AS (
    SELECT p.*, e.island, e.history, e.baseline_a AS base_attempts, e.baseline_b AS base_failed,
           -- healthy before the episode (some history needed; without tcp_flags (v2) the
           -- destination must have answered most attempts), and either min_history_windows of
           -- data before this window or (a dataset that starts shortly before the outage)
           -- twice min_failed at a destination that demonstrably answered before
           e.history >= 1
           AND (e.baseline_b < $max_baseline_failed_share * e.baseline_a
                OR (e.baseline_a = 0 AND 2 * p.flagless_failed <= p.failed))
           AND (e.history_before >= $min_history_windows
                OR (p.failed >= 2 * $min_failed AND e.baseline_b < $max_baseline_failed_share * e.baseline_a)) AS fires
    FROM episodes AS e
    JOIN per_window AS p ON p.server || ' ' || p.server_port = e.k AND p.w = e.w
),
islands AS (  -- an episode with a firing window is reported whole
    SELECT
        server, server_port, island, min(w) AS w_first, max(w) AS w_last,
        sum(attempts)::BIGINT AS attempts, sum(failed)::BIGINT AS failed,
        sum(no_reverse)::BIGINT AS no_reverse, sum(no_answer_data)::BIGINT AS no_answer_data,
        any_value(base_attempts) AS baseline_attempts, any_value(base_failed) AS baseline_failed,
        any_value(history) AS history_windows,
        CASE WHEN any_value(history) >= $min_history_windows THEN 'baseline' ELSE 'short history' END AS judged_by
    FROM scored
    WHERE w >= epoch($since)::BIGINT // ($window_minutes * 60)
    GROUP BY server, server_port, island
    HAVING bool_or(fires)
),
failed_conns AS (
    SELECT i.server, i.server_port, i.island, j.client, j.client_port, j.t0, j.no_reverse
    FROM islands AS i
    JOIN judged AS j ON j.server = i.server AND j.server_port = i.server_port AND j.w BETWEEN i.w_first AND i.w_last
    WHERE j.no_reverse OR j.no_answer_data
),
provenance AS (  -- the opener's records of the failed connections: where they were logged
    SELECT f.server, f.server_port, f.island, f.client, f.no_reverse,
           v.interface_id, v.subnet_id, v.source_uri, v.source_line
    FROM failed_conns AS f
    JOIN vpc_flow AS v
      ON coalesce(v.pkt_srcaddr, v.srcaddr) = f.client AND v.srcport = f.client_port
     AND coalesce(v.pkt_dstaddr, v.dstaddr) = f.server AND v.dstport = f.server_port
     AND v.start BETWEEN f.t0 AND f.t0 + $window_minutes * 60
    WHERE v.protocol = 6
      AND v.start_time >= $since - to_minutes($window_minutes * $baseline_windows)
      AND v.start_time < $until
),
where_logged AS (
    SELECT server, server_port, island,
           list(DISTINCT subnet_id ORDER BY subnet_id) FILTER (WHERE subnet_id IS NOT NULL) AS client_subnets,
           list({'source_uri': source_uri, 'source_line': source_line, 'client': client,
                 'interface_id': interface_id, 'no_reverse': no_reverse} ORDER BY source_uri, source_line)[1:5] AS samples
    FROM provenance
    GROUP BY server, server_port, island
),
detail AS (
    SELECT
        f.server, f.server_port, f.island,
        count(DISTINCT f.client) AS clients,
        list(DISTINCT f.client ORDER BY f.client)[1:10] AS sample_clients,
        any_value(w.client_subnets) AS client_subnets,
        any_value(w.samples) AS samples
    FROM failed_conns AS f
    LEFT JOIN where_logged AS w ON w.server = f.server AND w.server_port = f.server_port AND w.island = f.island
    GROUP BY f.server, f.server_port, f.island
)
SELECT
    to_timestamp(i.w_first * $window_minutes * 60) AS window_start,
    to_timestamp((i.w_last + 1) * $window_minutes * 60) AS window_end,
    i.server AS dstaddr,
    i.server_port AS dstport,
    CASE WHEN i.no_reverse >= i.no_answer_data THEN 'no_reverse' ELSE 'no_answer_data' END AS kind,
    CASE WHEN i.no_reverse >= i.no_answer_data
        THEN 'Connection attempts get no reply at all (SYN only, retransmitted): most likely a missing or black-holed route on the way to ' || i.server || ' (Transit Gateway or peering route table, or the return route). Check the clients'' route tables for the destination CIDR.'
        ELSE 'The TCP handshake with ' || i.server || ' completes but requests get no data back (client retransmits, then FIN/RST): most likely a firewall or inspection appliance on the path dropping the application traffic. Check the firewall policy and its drop logs.'
    END AS kind_hint,
    i.attempts,
    i.failed,
    i.no_reverse,
    i.no_answer_data,
    round(i.failed / i.attempts, 3) AS failed_share,
    i.baseline_attempts,
    i.baseline_failed,
    i.history_windows,
    i.judged_by,
    d.clients,
    d.sample_clients,
    d.client_subnets,
    d.samples
FROM islands AS i
JOIN detail AS d ON d.server = i.server AND d.server_port = i.server_port AND d.island = i.island
ORDER BY window_start, dstaddr, dstport
