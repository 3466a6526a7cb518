-- One partition of user_behavior_metric, from the run's range computed once (user_behavior_metric_range_fill.sql).
INSERT INTO user_behavior_metric
    (customerid, amount_spent, purchase_count, review_score, review_count, {{partition_columns}})
SELECT customerid, amount_spent, purchase_count, review_score, review_count, {{partition_columns}}
FROM user_behavior_metric_range
WHERE {{partition_filter}}
