-- block episodes: a detector's per-window counts judged against the windows before each episode.
-- Reads the detector's CTE ep_windows(k, w, loud, base_a, base_b): one row per key k (the
-- destination, the place, ...) and window number w, whether the window is loud (at or above
-- the detector's threshold), and up to two counts summed into the baseline (0 when unused).
-- Loud windows of one key, one quiet window in between tolerated, form an episode (island);
-- its baseline is the baseline_windows windows before it started (missing windows count as
-- zero; an episode never inflates its own baseline). Needs $window_minutes, $baseline_windows.
-- Defines episodes(k, w, island, history, baseline_a, baseline_b, history_before): every loud
-- window, with the windows of history before its episode (at most baseline_windows), the
-- baseline sums, and the windows of data before this window (from flow_first_seen).
ep_loud AS (
    SELECT k, w, CASE WHEN w - lag(w) OVER (PARTITION BY k ORDER BY w) <= 2 THEN 0 ELSE 1 END AS starts_island
    FROM ep_windows
    WHERE loud
),
ep_islands AS (
    SELECT k, w, sum(starts_island) OVER (PARTITION BY k ORDER BY w ROWS UNBOUNDED PRECEDING) AS island
    FROM ep_loud
),
ep_baseline AS (
    SELECT b.k, b.island,
           least($baseline_windows, b.island_first - f.first_start // ($window_minutes * 60)) AS history,
           coalesce(sum(p.base_a), 0) AS baseline_a,
           coalesce(sum(p.base_b), 0) AS baseline_b
    FROM (SELECT k, island, min(w) AS island_first FROM ep_islands GROUP BY k, island) AS b
    CROSS JOIN flow_first_seen AS f
    LEFT JOIN ep_windows AS p
      ON p.k = b.k AND p.w >= b.island_first - $baseline_windows AND p.w < b.island_first
    GROUP BY b.k, b.island, b.island_first, f.first_start
),
episodes AS (
    SELECT l.k, l.w, l.island, p.history, p.baseline_a, p.baseline_b,
           l.w - f.first_start // ($window_minutes * 60) AS history_before
    FROM ep_islands AS l
    JOIN ep_baseline AS p ON p.k = l.k AND p.island = l.island
    CROSS JOIN flow_first_seen AS f
)
