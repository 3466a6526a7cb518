-- `ubm summary`: the headline of each of the three questions (docs/analytics.md), in one row.
SELECT
    g.lift, g.lift_ci_low, g.lift_ci_high, g.p_value AS genre_p_value, g.consecutive_pairs,
    s.spearman_rho, s.p_value AS similarity_p_value, s.customers,
    r.share_difference, r.ci_low, r.ci_high, r.p_value AS review_p_value, r.positive_reviews, r.negative_reviews
FROM genre_affinity AS g
CROSS JOIN similarity_by_activity_summary AS s
CROSS JOIN review_rental_effect_comparison AS r
