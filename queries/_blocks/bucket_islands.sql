-- block bucket_islands: a detector's firing windows of one key that follow each other (one quiet
-- window in between tolerated) numbered as one episode, which becomes one finding.
-- Reads hits(..., bucket, isl_key): one row per firing window, bucket its start (TIMESTAMP) and
-- isl_key what one finding is about (a struct of the columns naming it). Needs $window_minutes.
-- Defines islands(..., starts_island, island): every row of hits with its episode's number
-- (per isl_key, counted from 1 in time order).
isl_gaps AS (
    SELECT *,
           CASE WHEN bucket - lag(bucket) OVER (PARTITION BY isl_key ORDER BY bucket)
                     <= INTERVAL '1 minute' * (2 * $window_minutes) THEN 0 ELSE 1 END AS starts_island
    FROM hits
),
islands AS (
    SELECT *, sum(starts_island) OVER (PARTITION BY isl_key ORDER BY bucket ROWS UNBOUNDED PRECEDING) AS island
    FROM isl_gaps
)
