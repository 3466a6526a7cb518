-- Per-day totals of user_behavior_metric (`ubm show`).
SELECT
    insert_date,
    COUNT(DISTINCT customerid) AS active_customers,
    SUM(amount_spent) AS amount_spent,
    SUM(purchase_count) AS purchases,
    SUM(review_count) AS reviews,
    SUM(review_score) AS positive_reviews
FROM user_behavior_metric
WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
GROUP BY insert_date
ORDER BY insert_date
