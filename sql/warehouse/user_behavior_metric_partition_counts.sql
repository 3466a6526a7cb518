-- Rows per partition of user_behavior_metric over a range of days (a run's progress lines and row counts).
SELECT {{partition_columns}}, COUNT(*) AS customer_rows
FROM user_behavior_metric
WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
GROUP BY {{partition_columns}}
