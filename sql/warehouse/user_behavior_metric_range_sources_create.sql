-- The lake's own totals per partition of a run's range (what the reconciliation check compares each
-- partition of the metric with), computed apart from the metric rows. Lives as long as the connection.
CREATE TEMPORARY TABLE user_behavior_metric_range_sources (
    {{partition_columns_ddl}},
    staged_amount DECIMAL(38, 5),
    staged_purchases BIGINT,
    classified_reviews BIGINT
)
