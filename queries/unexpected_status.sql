/*
id: unexpected_status
title: Target answering a non-standard HTTP status at volume
sources: [alb_access]
version: 1
status: stable
severity: medium
requires: [target_status_code, target_ip]
params:
  window_minutes: {type: int, default: 5, min: 1, max: 1440, doc: "Length of one counting window."}
  standard_codes:
    type: list[int]
    default: [100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
              300, 301, 302, 303, 304, 305, 307, 308,
              400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
              416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451,
              500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511]
    doc: "Status codes registered with IANA (RFC 9110 and friends); anything else a target returns is unexpected."
  min_requests: {type: int, default: 5, min: 1, doc: "Fewest responses with the unexpected code from one target in a window."}
  min_share: {type: float, default: 0.2, min: 0, max: 1, doc: "Smallest share of that target's responses in the window carrying the code."}
entity: [target, target_status_code, load_balancer, target_group_arn]
summary: "Target {target} answered HTTP {target_status_code} to {unexpected} of {responses} requests ({share_pct}%) behind {load_balancer}; {elb_generated_503} ELB-generated 503s during and just after"
hint: "The application returns a status code outside the standard set. A load balancer health check with the default matcher (200) treats it as unhealthy, so targets flap out of the target group and clients may then see 503s; fix the application's status code or widen the target group's health-check matcher."
description: |
  Counts, per target (target_ip:target_port), load balancer and window, the responses whose
  target_status_code is not in `standard_codes`. Fires when a target returns such a code at
  volume (at least `min_requests` and `min_share` of its responses); consecutive windows are
  merged into one finding. Evidence also gives the 503s the load balancer itself generated
  (target_status_code null) in the same window, which is what clients see once every target
  has failed its health checks.
  Misses: non-standard codes at low volume; a standard code that the target group's custom
  matcher rejects (e.g. 204 with matcher 200) -- the health-check traffic itself is not in
  access logs. ELB-generated codes (460, 463, 561, ...) are in elb_status_code and are ignored.
false_positives:
  - "An application that deliberately uses a private status code (e.g. 299, 420, 599) and whose health-check matcher includes it: add the code to standard_codes."
runbook:
  - "List the target group's health-check settings (matcher, path): `aws elbv2 describe-target-groups --target-group-arns {target_group_arn}`."
  - "Check `aws elbv2 describe-target-health` for {target}: Target.FailedHealthChecks / ResponseCodeMismatch around the finding window."
  - "Look at the application deploys or config changes just before the window's start; reproduce with `curl -i http://{target}/<health path>` from inside the VPC."
  - "In the ALB access log around the window, count elb_status_code 503 with target_status_code '-' for this load balancer: all targets unhealthy."
references:
  - https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
  - https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
  - https://www.iana.org/assignments/http-status-codes/http-status-codes.xhtml
*/
WITH req AS (
    SELECT
        time_bucket(INTERVAL '1 minute' * $window_minutes, event_time) AS bucket,
        coalesce(elb, load_balancer) AS load_balancer,
        target_ip,
        target_port,
        target_status_code,
        elb_status_code,
        target_group_arn,
        source_uri,
        source_line,
        event_time
    FROM alb_access
    WHERE event_time >= $since AND event_time < $until
),
per_target AS (
    SELECT bucket, load_balancer, target_ip, target_port, count(*) AS responses
    FROM req
    WHERE target_ip IS NOT NULL
    GROUP BY ALL
),
elb_503 AS (
    SELECT bucket, load_balancer, count(*) AS elb_503
    FROM req
    WHERE elb_status_code = 503 AND target_status_code IS NULL
    GROUP BY ALL
),
odd AS (
    SELECT
        bucket, load_balancer, target_ip, target_port, target_status_code,
        count(*) AS unexpected,
        mode(target_group_arn ORDER BY target_group_arn) AS target_group_arn,
        list({'source_uri': source_uri, 'source_line': source_line, 'event_time': event_time,
              'elb_status_code': elb_status_code} ORDER BY event_time) AS all_samples
    FROM req
    WHERE target_ip IS NOT NULL
      AND target_status_code IS NOT NULL
      AND NOT list_contains($standard_codes, target_status_code)
    GROUP BY ALL
),
hits AS (
    SELECT o.*, p.responses, o.unexpected / p.responses AS share,
           {'lb': o.load_balancer, 'ip': o.target_ip, 'port': o.target_port, 'code': o.target_status_code} AS isl_key
    FROM odd AS o
    JOIN per_target AS p USING (bucket, load_balancer, target_ip, target_port)
    WHERE o.unexpected >= $min_requests AND o.unexpected / p.responses >= $min_share
),
-- @block bucket_islands
spans AS (
    SELECT
        min(bucket) AS window_start,
        max(bucket) + INTERVAL '1 minute' * $window_minutes AS window_end,
        target_ip || ':' || CAST(target_port AS VARCHAR) AS target,
        CAST(target_status_code AS VARCHAR) AS target_status_code,
        load_balancer,
        mode(target_group_arn ORDER BY target_group_arn) AS target_group_arn,
        CAST(sum(unexpected) AS BIGINT) AS unexpected,
        CAST(sum(responses) AS BIGINT) AS responses,
        count(*) AS windows,
        list_slice(flatten(list(all_samples ORDER BY bucket)), 1, 5) AS samples
    FROM islands
    GROUP BY load_balancer, target_ip, target_port, target_status_code, island
)
SELECT
    s.window_start, s.window_end, s.target, s.target_status_code, s.load_balancer, s.target_group_arn,
    s.unexpected, s.responses,
    round(100.0 * s.unexpected / s.responses, 1) AS share_pct,
    s.windows,
    -- what clients see once every target failed its health checks: the ELB's own 503s
    -- during the span and the three windows after it
    CAST(coalesce(sum(e.elb_503), 0) AS BIGINT) AS elb_generated_503,
    CASE WHEN s.unexpected / s.responses >= 0.5 THEN 'high' ELSE 'medium' END AS severity,
    s.samples
FROM spans AS s
LEFT JOIN elb_503 AS e
  ON e.load_balancer = s.load_balancer
 AND e.bucket >= s.window_start
 AND e.bucket < s.window_end + INTERVAL '1 minute' * (3 * $window_minutes)
GROUP BY ALL
ORDER BY s.window_start, s.target
