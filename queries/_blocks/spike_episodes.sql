-- block spike_episodes: the episodes block, then a REJECT-count ratio rule deciding which windows fire.
-- Reads ep_windows(k, w, loud, base_a, base_b) with base_a the window's count; needs
-- $window_minutes, $baseline_windows, $spike_ratio, $min_history_windows, $min_rejects.
-- Defines spike_windows(k, w, island, history, baseline_mean, fires): every loud window, judged
-- against the history before its episode, once there is some: with min_history_windows of data
-- before this window, by the ratio; with less (a dataset that starts shortly before the
-- incident), only a burst of twice min_rejects where the whole history held fewer than min_rejects.
-- And spike_islands(k, island, w_first, w_last, counted, counted_b, peak, baseline_mean, ratio,
-- history_windows, judged_by): each episode with a firing window from $since on, whole, from
-- its first to its last loud window, with base_a and base_b summed over those windows, its
-- peak window's base_a and that peak over the baseline mean (at least 1).
-- @block episodes
spike_windows AS (
    SELECT e.k, e.w, e.island, e.history, e.baseline_a / greatest(e.history, 1) AS baseline_mean,
           e.history >= 1
           AND x.base_a >= $spike_ratio * e.baseline_a / e.history
           AND (e.history_before >= $min_history_windows
                OR (x.base_a >= 2 * $min_rejects AND e.baseline_a < $min_rejects)) AS fires
    FROM episodes AS e
    JOIN ep_windows AS x ON x.k = e.k AND x.w = e.w
),
spike_islands AS (
    SELECT s.k, s.island,
           min(s.w) AS w_first, max(s.w) AS w_last,
           sum(x.base_a)::BIGINT AS counted, sum(x.base_b)::BIGINT AS counted_b, max(x.base_a) AS peak,
           round(any_value(s.baseline_mean), 2) AS baseline_mean,
           round(max(x.base_a) / greatest(any_value(s.baseline_mean), 1), 1) AS ratio,
           any_value(s.history) AS history_windows,
           CASE WHEN any_value(s.history) >= $min_history_windows THEN 'baseline' ELSE 'short history' END AS judged_by
    FROM spike_windows AS s
    JOIN ep_windows AS x ON x.k = s.k AND x.w = s.w
    WHERE s.w >= epoch($since)::BIGINT // ($window_minutes * 60)
    GROUP BY s.k, s.island
    HAVING bool_or(s.fires)
)
