-- The first rows of one partition of user_behavior_metric (the materialization's preview).
SELECT customerid, amount_spent, purchase_count, review_score, review_count, {{partition_columns}}
FROM user_behavior_metric
WHERE {{partition_filter}}
ORDER BY customerid
LIMIT 5
