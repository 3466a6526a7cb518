-- The OLAP table analysts read: one row per customer active in a partition (a purchase or a review):
-- a UTC day, or an hour with UBM_PARTITION=hourly (then insert_hour is a column too).
CREATE TABLE IF NOT EXISTS user_behavior_metric (
    customerid BIGINT NOT NULL,
    amount_spent DECIMAL(18, 5) NOT NULL,
    purchase_count BIGINT NOT NULL,
    review_score BIGINT NOT NULL,
    review_count BIGINT NOT NULL,
    {{partition_columns_ddl}}
)
