-- Rows per partition of a partitioned warehouse table (user_behavior_metric, the facts) over a range of
-- days: the row counts recorded with each partition's materialization.
SELECT {{partition_columns}}, COUNT(*) AS row_count
FROM {{table}}
WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
GROUP BY {{partition_columns}}
