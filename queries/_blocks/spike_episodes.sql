-- block spike_episodes: the episodes block, then a REJECT-count ratio rule deciding which windows fire.
-- Reads ep_windows(k, w, loud, base_a, base_b) with base_a the window's count; needs
-- $window_minutes, $baseline_windows, $spike_ratio, $min_history_windows, $min_rejects.
-- Defines spike_windows(k, w, island, history, baseline_mean, fires): every loud window, judged
-- against the history before its episode, once there is some: with min_history_windows of data
-- before this window, by the ratio; with less (a dataset that starts shortly before the
-- incident), only a burst of twice min_rejects where the whole history held fewer than min_rejects.
-- @block episodes
spike_windows AS (
    SELECT e.k, e.w, e.island, e.history, e.baseline_a / greatest(e.history, 1) AS baseline_mean,
           e.history >= 1
           AND x.base_a >= $spike_ratio * e.baseline_a / e.history
           AND (e.history_before >= $min_history_windows
                OR (x.base_a >= 2 * $min_rejects AND e.baseline_a < $min_rejects)) AS fires
    FROM episodes AS e
    JOIN ep_windows AS x ON x.k = e.k AND x.w = e.w
)
