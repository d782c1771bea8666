-- block dominant: within each episode of spike_islands (block spike_episodes), the value of each
-- of three attributes that most of its items share, named only when it carries more than
-- $dominant_share of the episode's count (evidence names a port, an interface or a subnet
-- only when one value stands for most of it).
-- Reads spike_islands and dom_items(k, w, a1, a2, a3): one row per counted item (a REJECTed
-- connection, ...) with its key, window and three attributes of any types.
-- Defines dominant(k, island, a1, a2, a3, named1, named2, named3): the most frequent non-null
-- value of each attribute over the episode's windows (ties: the smallest), and the same where
-- it is dominant (else null).
dom_rows AS (
    SELECT i.k, i.island, i.counted, d.a1, d.a2, d.a3
    FROM spike_islands AS i
    JOIN dom_items AS d ON d.k = i.k AND d.w BETWEEN i.w_first AND i.w_last
),
dom_top AS (
    SELECT k, island, any_value(counted) AS counted,
           mode(a1 ORDER BY a1) AS a1, mode(a2 ORDER BY a2) AS a2, mode(a3 ORDER BY a3) AS a3
    FROM dom_rows
    GROUP BY k, island
),
dominant AS (
    SELECT t.k, t.island, t.a1, t.a2, t.a3,
           CASE WHEN count_if(r.a1 = t.a1) > $dominant_share * t.counted THEN t.a1 END AS named1,
           CASE WHEN count_if(r.a2 = t.a2) > $dominant_share * t.counted THEN t.a2 END AS named2,
           CASE WHEN count_if(r.a3 = t.a3) > $dominant_share * t.counted THEN t.a3 END AS named3
    FROM dom_top AS t
    JOIN dom_rows AS r ON r.k = t.k AND r.island = t.island
    GROUP BY t.k, t.island, t.counted, t.a1, t.a2, t.a3
)
