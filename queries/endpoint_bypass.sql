/*
id: endpoint_bypass
title: S3/DynamoDB traffic bypassing the gateway endpoint
sources: [vpc_flow, topo_interfaces]
version: 1
status: stable
severity: medium
config_checks: [endpoint]
config_summary: "{service|pkt_dst_aws_service|'AWS service'} traffic from {srcaddr|subnet_id|'the VPC'} not using the gateway endpoint"
requires: [pkt_dst_aws_service, traffic_path]
lookback: [baseline_hours, 60]   # reads baseline_hours before $since
params:
  window_minutes: {type: int, default: 5, min: 1, max: 1440, doc: "Length of one counting window."}
  baseline_hours: {type: int, default: 24, min: 1, doc: "How far before --since to read for the subnet's own baseline."}
  services: {type: "list[str]", default: [S3, DYNAMODB], doc: "pkt-dst-aws-service values served by gateway endpoints."}
  endpoint_paths: {type: "list[int]", default: [7], doc: "traffic-path values meaning 'through a gateway VPC endpoint' (7, Nitro instances)."}
  ambiguous_paths: {type: "list[int]", default: [2], doc: "traffic-path values that cannot tell the endpoint from another path (2: internet gateway or gateway endpoint, non-Nitro); ignored."}
  min_connections: {type: int, default: 3, min: 1, doc: "Fewest distinct connections to the service over another path in one window."}
  min_share: {type: float, default: 0.5, min: 0, max: 1, doc: "Smallest share of the subnet's connections to the service in the window that take another path."}
  baseline_share: {type: float, default: 0.8, min: 0, max: 1, doc: "Endpoint share that counts as 'normally uses the endpoint' (the subnet's earlier windows, or the other subnets of its VPC)."}
entity: [subnet_id, az_id, pkt_dst_aws_service, interface_id, nat_interface_id]
summary: "{bypass_connections} connections from {subnet_label} to {pkt_dst_aws_service} took traffic-path {bypass_paths} instead of the gateway endpoint ({bypass_share_pct}% of its {pkt_dst_aws_service} traffic; {baseline_text})"
hint: "The subnet's route table probably lacks the gateway endpoint's prefix-list route (route table not associated with the endpoint), so {pkt_dst_aws_service} traffic leaves through the NAT gateway or internet gateway: NAT data-processing cost, and endpoint policies no longer apply."
description: |
  Counts distinct connections (5-tuples) to S3 and DynamoDB (pkt-dst-aws-service) in egress
  records of each subnet (interface when subnet-id is not logged) per window, split by
  traffic-path: 7 is through a gateway VPC endpoint; 1 (another resource in the VPC, e.g. a
  NAT gateway) or 8 (internet gateway) are not. Fires when, in a window, at least
  `min_connections` connections and `min_share` of the subnet's traffic to the service take a
  non-endpoint path while that subnet used the endpoint before (its endpoint share over the
  earlier windows that were not bypassing >= `baseline_share`) or the other subnets of its
  VPC use it (same account, region and VPC; their endpoint share over the range >=
  `baseline_share`): another account's or VPC's endpoint in the same bucket is no baseline. Relay interfaces (NAT gateways and other middleboxes: records
  whose pkt-srcaddr/pkt-dstaddr differ from srcaddr/dstaddr, or topology kind nat/tgw/firewall/
  endpoint) are not counted as sources: their egress is the bypass seen a second time.
  Consecutive windows merge into one finding.
  Needs flow-log version 5 fields (pkt-dst-aws-service, traffic-path, flow-direction).
  Misses: a VPC where no subnet ever used the endpoint (nothing to compare with); traffic-path
  2 (non-Nitro instances) is ambiguous and ignored; S3 in other regions cannot use a gateway
  endpoint and looks the same.
false_positives:
  - "A subnet that by design has no route to the gateway endpoint while the others do (fires for as long as it sends S3/DynamoDB traffic)."
  - "Cross-region S3 or DynamoDB access, which gateway endpoints do not serve."
runbook:
  - "Show the route table of {subnet_id}: `aws ec2 describe-route-tables --filters Name=association.subnet-id,Values={subnet_id}`; look for a route to the {pkt_dst_aws_service} prefix list (pl-...) with target vpce-...."
  - "List the gateway endpoint's route tables: `aws ec2 describe-vpc-endpoints --filters Name=service-name,Values=com.amazonaws.<region>.<service>`; the subnet's route table should be among RouteTableIds."
  - "Check CloudTrail around the window start for ModifyVpcEndpoint (RemoveRouteTableIds), ReplaceRouteTableAssociation or AssociateRouteTable on that subnet."
  - "Check NAT gateway BytesOutToDestination in CloudWatch for the same window to size the cost."
references:
  - https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
  - https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html
  - https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html
*/
WITH svc_all AS (
    SELECT
        time_bucket(INTERVAL '1 minute' * $window_minutes, start_time) AS bucket,
        coalesce(subnet_id, interface_id) AS grp,
        -- peers are the subnets of the same account, region and VPC: a bucket holds many
        -- accounts, and another VPC's endpoint says nothing about this one's routes
        concat_ws('|', coalesce(account_id, ''), coalesce(region, ''), coalesce(vpc_id, '')) AS scope,
        subnet_id, az_id, interface_id,
        upper(pkt_dst_aws_service) AS service,
        traffic_path, flow_direction,
        coalesce(pkt_srcaddr, srcaddr) AS src, srcport, coalesce(pkt_dstaddr, dstaddr) AS dst, dstport, protocol,
        coalesce(pkt_srcaddr <> srcaddr OR pkt_dstaddr <> dstaddr, false) AS relayed
    FROM vpc_flow
    WHERE start_time >= $since - INTERVAL '1 hour' * $baseline_hours AND start_time < $until
      AND pkt_dst_aws_service IS NOT NULL
      AND list_contains($services, upper(pkt_dst_aws_service))
      AND action = 'ACCEPT'
),
relays AS (
    -- NAT gateways and other middleboxes relay this traffic (their records show packet
    -- addresses differing from srcaddr/dstaddr); their own egress is the bypass seen twice
    SELECT DISTINCT interface_id FROM svc_all WHERE relayed
    UNION
    SELECT interface_id FROM topo_interfaces WHERE kind IN ('nat', 'tgw', 'firewall', 'endpoint')
),
svc AS (
    SELECT *
    FROM svc_all
    WHERE traffic_path IS NOT NULL
      AND NOT list_contains($ambiguous_paths, traffic_path)
      AND (flow_direction IS NULL OR flow_direction = 'egress')
      AND interface_id NOT IN (SELECT interface_id FROM relays)
),
conns AS (
    -- distinct connections (5-tuples) per subnet, service and window, by path kind
    SELECT bucket, grp, service,
           any_value(scope) AS scope, any_value(subnet_id) AS subnet_id, any_value(az_id) AS az_id,
           count(*) FILTER (WHERE via_endpoint) AS endpoint_conns,
           count(*) FILTER (WHERE NOT via_endpoint) AS bypass_conns
    FROM (
        SELECT DISTINCT bucket, grp, service, scope, subnet_id, az_id,
               list_contains($endpoint_paths, traffic_path) AS via_endpoint,
               src, srcport, dst, dstport, protocol
        FROM svc
    ) AS c
    GROUP BY bucket, grp, service
),
with_baseline AS (
    SELECT c.*,
           -- the subnet's own earlier windows, leaving out windows that were bypassing already
           sum(CASE WHEN bypass_conns < $min_share * (bypass_conns + endpoint_conns) THEN endpoint_conns ELSE 0 END)
             OVER earlier AS own_prev_endpoint,
           sum(CASE WHEN bypass_conns < $min_share * (bypass_conns + endpoint_conns) THEN endpoint_conns + bypass_conns ELSE 0 END)
             OVER earlier AS own_prev_total,
           sum(endpoint_conns) OVER (PARTITION BY scope, service) - sum(endpoint_conns) OVER (PARTITION BY grp, service) AS peer_endpoint,
           sum(endpoint_conns + bypass_conns) OVER (PARTITION BY scope, service)
             - sum(endpoint_conns + bypass_conns) OVER (PARTITION BY grp, service) AS peer_total
    FROM conns AS c
    WINDOW earlier AS (PARTITION BY grp, service ORDER BY bucket ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
hits AS (
    SELECT *, {'grp': grp, 'service': service} AS isl_key,
           CASE WHEN own_prev_total >= $min_connections THEN own_prev_endpoint / own_prev_total END AS own_share,
           CASE WHEN peer_total >= $min_connections THEN peer_endpoint / peer_total END AS peer_share
    FROM with_baseline
    WHERE bucket >= $since
      AND bypass_conns >= $min_connections
      AND bypass_conns / (bypass_conns + endpoint_conns) >= $min_share
      AND ((own_prev_total >= $min_connections AND own_prev_endpoint / own_prev_total >= $baseline_share)
           OR (peer_total >= $min_connections AND peer_endpoint / peer_total >= $baseline_share))
),
-- @block bucket_islands
spans AS (
    SELECT grp, service, island,
           min(bucket) AS window_start,
           max(bucket) + INTERVAL '1 minute' * $window_minutes AS window_end,
           any_value(subnet_id) AS subnet_id, any_value(az_id) AS az_id,
           CAST(sum(bypass_conns) AS BIGINT) AS bypass_connections,
           CAST(sum(endpoint_conns) AS BIGINT) AS endpoint_connections,
           arg_min(own_share, bucket) AS own_share,
           arg_min(peer_share, bucket) AS peer_share,
           count(*) AS windows
    FROM islands
    GROUP BY grp, service, island
),
bypass_rows AS (
    SELECT s.grp, s.service, s.island, v.interface_id, v.traffic_path,
           coalesce(v.pkt_srcaddr, v.srcaddr) AS src, v.srcport, coalesce(v.pkt_dstaddr, v.dstaddr) AS dst, v.dstport,
           v.start_time, v.source_uri, v.source_line
    FROM spans AS s
    JOIN vpc_flow AS v
      ON coalesce(v.subnet_id, v.interface_id) = s.grp AND upper(v.pkt_dst_aws_service) = s.service
     AND v.start_time >= s.window_start AND v.start_time < s.window_end
    WHERE v.start_time >= $since AND v.start_time < $until
      AND v.action = 'ACCEPT' AND (v.flow_direction IS NULL OR v.flow_direction = 'egress')
      AND v.traffic_path IS NOT NULL
      AND NOT list_contains($endpoint_paths, v.traffic_path)
      AND NOT list_contains($ambiguous_paths, v.traffic_path)
      AND v.interface_id NOT IN (SELECT interface_id FROM relays)
),
detail AS (
    SELECT grp, service, island,
           mode(interface_id ORDER BY interface_id) AS interface_id,
           list(DISTINCT interface_id) AS interfaces,
           list(DISTINCT traffic_path) AS bypass_paths,
           list_slice(list({'source_uri': source_uri, 'source_line': source_line, 'start_time': start_time,
                            'interface_id': interface_id, 'srcaddr': src, 'dstaddr': dst, 'dstport': dstport,
                            'traffic_path': traffic_path} ORDER BY start_time), 1, 5) AS samples
    FROM bypass_rows
    GROUP BY grp, service, island
),
relayed_by AS (
    -- the relay (NAT gateway) that carried the bypassing connections: its records name the
    -- subnet's instances as packet source
    SELECT s.grp, s.service, s.island,
           mode(a.interface_id ORDER BY a.interface_id) AS nat_interface_id,
           list(DISTINCT a.interface_id) AS relay_interfaces
    FROM spans AS s
    JOIN (SELECT DISTINCT grp, service, island, src FROM bypass_rows) AS b USING (grp, service, island)
    JOIN svc_all AS a
      ON a.relayed AND a.src = b.src AND a.service = s.service
     AND a.bucket >= s.window_start AND a.bucket < s.window_end
    GROUP BY ALL
)
SELECT
    s.window_start, s.window_end, s.subnet_id, s.az_id, s.service AS pkt_dst_aws_service, d.interface_id,
    r.nat_interface_id, r.relay_interfaces,
    coalesce('subnet ' || s.subnet_id, 'interface ' || s.grp) AS subnet_label,
    s.bypass_connections, s.endpoint_connections, s.windows,
    round(100.0 * s.bypass_connections / (s.bypass_connections + s.endpoint_connections), 1) AS bypass_share_pct,
    round(100.0 * s.own_share, 1) AS own_endpoint_share_pct,
    round(100.0 * s.peer_share, 1) AS peer_endpoint_share_pct,
    concat_ws(', ',
              'its earlier windows ' || CAST(round(100.0 * s.own_share, 1) AS VARCHAR) || '% via the endpoint',
              'other subnets of its VPC ' || CAST(round(100.0 * s.peer_share, 1) AS VARCHAR) || '%') AS baseline_text,
    array_to_string(list_sort(d.bypass_paths), '/') AS bypass_paths,
    d.interfaces,
    d.samples
FROM spans AS s
JOIN detail AS d USING (grp, service, island)
LEFT JOIN relayed_by AS r USING (grp, service, island)
ORDER BY s.window_start, s.subnet_id, pkt_dst_aws_service
