-- The OLAP table analysts read: one row per customer active on a day (a purchase or a review).
CREATE TABLE IF NOT EXISTS user_behavior_metric (
    customerid BIGINT NOT NULL,
    amount_spent DECIMAL(18, 5) NOT NULL,
    purchase_count BIGINT NOT NULL,
    review_score BIGINT NOT NULL,
    review_count BIGINT NOT NULL,
    insert_date DATE NOT NULL
)
