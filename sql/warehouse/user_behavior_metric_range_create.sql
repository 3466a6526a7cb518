-- A run's range of user_behavior_metric rows, computed once from the lake (one scan of each dataset
-- for the whole range) and then copied partition by partition into the table, each in its own
-- transaction. A temporary table: it lives as long as the run's warehouse connection.
CREATE TEMPORARY TABLE user_behavior_metric_range (
    customerid BIGINT,
    amount_spent DECIMAL(18, 5),
    purchase_count BIGINT,
    review_score BIGINT,
    review_count BIGINT,
    {{partition_columns_ddl}}
)
