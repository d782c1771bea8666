-- block dominant: within each episode, the value of each of three attributes that most of its
-- rows share, named only when it carries more than $dominant_share of the episode (evidence
-- names a port, an interface or a subnet only when one value stands for most of it).
-- Reads dom_rows(k, island, of_n, a1, a2, a3): one row per counted item (a REJECTed connection,
-- ...) of an episode, with three attributes of any types; of_n is the episode's count the
-- share is taken of. Needs $dominant_share.
-- Defines dominant(k, island, a1, a2, a3, named1, named2, named3): the most frequent non-null
-- value of each attribute (ties: the smallest), and the same where it is dominant (else null).
dom_top AS (
    SELECT k, island, any_value(of_n) AS of_n,
           mode(a1 ORDER BY a1) AS a1, mode(a2 ORDER BY a2) AS a2, mode(a3 ORDER BY a3) AS a3
    FROM dom_rows
    GROUP BY k, island
),
dominant AS (
    SELECT t.k, t.island, t.a1, t.a2, t.a3,
           CASE WHEN count_if(r.a1 = t.a1) > $dominant_share * t.of_n THEN t.a1 END AS named1,
           CASE WHEN count_if(r.a2 = t.a2) > $dominant_share * t.of_n THEN t.a2 END AS named2,
           CASE WHEN count_if(r.a3 = t.a3) > $dominant_share * t.of_n THEN t.a3 END AS named3
    FROM dom_top AS t
    JOIN dom_rows AS r ON r.k = t.k AND r.island = t.island
    GROUP BY t.k, t.island, t.of_n, t.a1, t.a2, t.a3
)
