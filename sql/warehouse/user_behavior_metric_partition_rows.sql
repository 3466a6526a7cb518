-- The metric's rows of a range of days (`ubm show`).
SELECT customerid, amount_spent, purchase_count, review_score, review_count, {{partition_columns}}
FROM user_behavior_metric
WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
ORDER BY {{partition_columns}}, customerid
