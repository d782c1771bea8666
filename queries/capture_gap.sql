/*
id: capture_gap
title: Flow-log capture gap (data for this window cannot be trusted)
sources: [vpc_flow]
version: 1
status: stable
severity: low
capture_gaps: reports
requires: [interface_id, log_status, start]
params:
  window_minutes: {type: int, default: 5, min: 1, max: 1440, doc: "Length of one window, in minutes."}
  min_skipdata_records: {type: int, default: 3, min: 1, doc: "SKIPDATA records of one interface (in consecutive windows) that make a finding; the odd single SKIPDATA is normal."}
  min_silent_windows: {type: int, default: 3, min: 1, doc: "Consecutive windows without OK records that make a silence."}
  busy_windows: {type: int, default: 12, min: 1, doc: "Windows before the silence in which the interface must have been active."}
  busy_share: {type: float, default: 0.9, min: 0, max: 1, doc: "Share of busy_windows with OK records for the interface to count as previously busy."}
  min_other_interfaces: {type: int, default: 2, min: 1, doc: "Other interfaces that must keep reporting during the silence (otherwise delivery as a whole stopped)."}
entity: [interface_id, subnet_id, az_id]
summary: "Interface {interface_id}: {kind} from {window_start} to {window_end} ({detail})"
hint: "Findings on {interface_id} (or its subnet) in this window may be artefacts of missing logs. SKIPDATA means AWS could not capture records (internal capacity or an error); a busy interface that kept talking (its peers recorded it) but wrote no records of its own means its flow-log records were lost or its flow log was changed."
description: |
  Two kinds of gap per network interface:
  - skipdata: SKIPDATA records (AWS skipped records in the interval), at least
    min_skipdata_records in consecutive windows; a single isolated SKIPDATA is normal noise.
  - silence: an interface that had OK records in at least busy_share of its previous
    busy_windows windows writes no records at all (not even NODATA) for at least
    min_silent_windows consecutive windows while at least min_other_interfaces other interfaces
    keep reporting, other interfaces still record its address sending (so it was alive and
    its own records are what is missing), and then it reports again.
  NODATA means AWS saw no traffic, so a busy interface turning NODATA is a traffic change (see
  the other detectors), not a capture gap; steady NODATA of idle interfaces is not a finding
  either. An interface that stopped receiving because traffic no longer reaches it (a missing
  route) is not a gap: nobody records it sending. Other findings that overlap a capture gap
  on a related entity get evidence.capture_gap_overlap from the runner.
  Misses: silences that last until the end of the data (cannot be told from decommissioning),
  interfaces that were not busy before, interfaces whose peers are not logged (no evidence it
  was alive), and gaps in ALB logs.
false_positives:
  - "An instance stopped and started (or an ENI detached and re-attached) on purpose."
  - "A workload whose traffic is naturally bursty with long pauses (raise busy_share or min_silent_windows)."
runbook:
  - "List the records of {interface_id} between {window_start} and {window_end} (log_status, start, end) and the flow log's delivery status in CloudWatch (DeliverLogsErrorRate)."
  - "Check CloudTrail for StopInstances, DetachNetworkInterface or flow-log changes (DeleteFlowLogs, CreateFlowLogs) around {window_start}."
  - "Treat other findings on this interface or subnet in the same window as unconfirmed until the gap is explained."
references:
  - https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
  - https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-troubleshooting.html
*/
WITH per_window AS (
    SELECT
        interface_id,
        start // ($window_minutes * 60) AS w,
        count_if(log_status = 'OK') AS ok_records,
        count_if(log_status = 'NODATA') AS nodata_records,
        count_if(log_status = 'SKIPDATA') AS skipdata_records,
        min(subnet_id) AS subnet_id,
        min(az_id) AS az_id,
        min(source_uri) FILTER (WHERE log_status = 'SKIPDATA') AS source_uri,
        min(source_line) FILTER (WHERE log_status = 'SKIPDATA') AS source_line
    FROM vpc_flow
    WHERE interface_id IS NOT NULL
      AND start_time >= $since - to_minutes($window_minutes * $busy_windows)
      AND start_time < $until
    GROUP BY interface_id, w
),
places AS (
    SELECT interface_id, max(subnet_id) AS subnet_id, max(az_id) AS az_id FROM per_window GROUP BY interface_id
),
skip_islands AS (
    SELECT interface_id, island, min(w) AS w_first, max(w) AS w_last, sum(skipdata_records)::BIGINT AS skipdata_records,
           list({'source_uri': source_uri, 'source_line': source_line} ORDER BY w)[1:5] AS samples
    FROM (
        SELECT *, w - row_number() OVER (PARTITION BY interface_id ORDER BY w) AS island
        FROM per_window WHERE skipdata_records > 0
    )
    GROUP BY interface_id, island
    HAVING sum(skipdata_records) >= $min_skipdata_records
),
active AS (
    SELECT
        interface_id, w,
        lag(w) OVER (PARTITION BY interface_id ORDER BY w) AS prev_w,
        count(*) OVER (PARTITION BY interface_id ORDER BY w RANGE BETWEEN $busy_windows - 1 PRECEDING AND CURRENT ROW) AS busy_count
    FROM per_window
    WHERE ok_records > 0
),
gaps AS (
    SELECT interface_id, prev_w, w AS back_w,
           lag(busy_count) OVER (PARTITION BY interface_id ORDER BY w) AS busy_before
    FROM active
),
reporting AS (  -- how many interfaces reported OK records in each window
    SELECT w, count(DISTINCT interface_id) AS interfaces FROM per_window WHERE ok_records > 0 GROUP BY w
),
silences AS (
    SELECT g.interface_id, g.prev_w + 1 AS w_first, g.back_w - 1 AS w_last, g.busy_before,
           min(r.interfaces) AS min_reporting,
           count(r.w) AS windows_with_others
    FROM gaps AS g
    LEFT JOIN reporting AS r ON r.w > g.prev_w AND r.w < g.back_w
    WHERE g.back_w - g.prev_w - 1 >= $min_silent_windows
      AND g.busy_before >= $busy_share * $busy_windows
      AND g.prev_w + 1 >= epoch($since)::BIGINT // ($window_minutes * 60)
    GROUP BY g.interface_id, g.prev_w, g.back_w, g.busy_before
    HAVING count(r.w) = g.back_w - g.prev_w - 1 AND min(r.interfaces) >= $min_other_interfaces
),
iface_addr AS (  -- the silent interface's own address: the most frequent source of its records
    SELECT interface_id, mode(srcaddr ORDER BY srcaddr) AS addr
    FROM vpc_flow
    -- the silent interfaces are a handful: a list filter keeps this a plain scan (an IN
    -- subquery becomes a hash join built on the lake side, as the CTE's size is unknown)
    WHERE list_contains((SELECT list(DISTINCT interface_id) FROM silences), interface_id)
      AND log_status = 'OK'
      AND start_time >= $since - to_minutes($window_minutes * $busy_windows)
      AND start_time < $until
    GROUP BY interface_id
),
peer_seen AS (  -- other interfaces still recorded that address sending during the silence: it was alive
    SELECT s.interface_id, s.w_first, a.addr, count(v.srcaddr) AS peer_records
    FROM silences AS s
    JOIN iface_addr AS a ON a.interface_id = s.interface_id
    LEFT JOIN (
        SELECT srcaddr, interface_id, start FROM vpc_flow
        WHERE list_contains((SELECT list(DISTINCT addr) FROM iface_addr), srcaddr)
          AND start_time >= $since - to_minutes($window_minutes * $busy_windows)
          AND start_time < $until
          AND action = 'ACCEPT'
    ) AS v
        ON v.srcaddr = a.addr
       AND v.interface_id <> s.interface_id
       AND v.start // ($window_minutes * 60) BETWEEN s.w_first AND s.w_last
    GROUP BY s.interface_id, s.w_first, a.addr
),
nodata AS (
    SELECT s.interface_id, s.w_first, sum(p.nodata_records)::BIGINT AS nodata_records
    FROM silences AS s
    LEFT JOIN per_window AS p ON p.interface_id = s.interface_id AND p.w BETWEEN s.w_first AND s.w_last
    GROUP BY s.interface_id, s.w_first
)
SELECT
    to_timestamp(k.w_first * $window_minutes * 60) AS window_start,
    to_timestamp((k.w_last + 1) * $window_minutes * 60) AS window_end,
    k.interface_id, pl.subnet_id, pl.az_id,
    'skipdata' AS kind,
    k.skipdata_records || ' SKIPDATA records' AS detail,
    k.skipdata_records,
    NULL::BIGINT AS silent_windows,
    NULL::BIGINT AS nodata_records,
    NULL::BIGINT AS busy_windows_before,
    NULL::BIGINT AS peer_records,
    k.samples
FROM skip_islands AS k
JOIN places AS pl ON pl.interface_id = k.interface_id
WHERE k.w_last >= epoch($since)::BIGINT // ($window_minutes * 60)
UNION ALL
SELECT
    to_timestamp(s.w_first * $window_minutes * 60) AS window_start,
    to_timestamp((s.w_last + 1) * $window_minutes * 60) AS window_end,
    s.interface_id, pl.subnet_id, pl.az_id,
    'silence' AS kind,
    'no records for ' || (s.w_last - s.w_first + 1) * $window_minutes || ' min after being active in '
        || s.busy_before || ' of the previous windows, while ' || s.min_reporting || '+ other interfaces reported and '
        || ps.peer_records || ' records elsewhere show ' || ps.addr || ' still sending' AS detail,
    NULL::BIGINT AS skipdata_records,
    s.w_last - s.w_first + 1 AS silent_windows,
    coalesce(n.nodata_records, 0) AS nodata_records,
    s.busy_before AS busy_windows_before,
    ps.peer_records,
    NULL AS samples
FROM silences AS s
JOIN places AS pl ON pl.interface_id = s.interface_id
JOIN peer_seen AS ps ON ps.interface_id = s.interface_id AND ps.w_first = s.w_first
LEFT JOIN nodata AS n ON n.interface_id = s.interface_id AND n.w_first = s.w_first
WHERE ps.peer_records > 0 AND coalesce(n.nodata_records, 0) = 0
ORDER BY window_start, interface_id
