-- One partition of user_behavior_metric from the lake's staged purchases and classified reviews.
-- Each side is aggregated per customer BEFORE the join: joining raw rows would multiply a
-- customer's purchases by their reviews and inflate both sums.
INSERT INTO user_behavior_metric
    (customerid, amount_spent, purchase_count, review_score, review_count, {{partition_columns}})
SELECT
    COALESCE(purchases.customerid, reviews.customerid) AS customerid,
    CAST(COALESCE(purchases.amount_spent, 0) AS DECIMAL(18, 5)) AS amount_spent,
    COALESCE(purchases.purchase_count, 0) AS purchase_count,
    COALESCE(reviews.review_score, 0) AS review_score,
    COALESCE(reviews.review_count, 0) AS review_count,
    {{partition_values}}
FROM (
    SELECT customer_id AS customerid, SUM(amount) AS amount_spent, COUNT(*) AS purchase_count
    FROM spectrum.user_purchase_staging
    WHERE {{partition_filter}}
    GROUP BY customer_id
) AS purchases
FULL OUTER JOIN (
    SELECT
        cid AS customerid,
        SUM(CASE WHEN positive_review THEN 1 ELSE 0 END) AS review_score,
        COUNT(*) AS review_count
    FROM spectrum.classified_movie_review
    WHERE {{partition_filter}}
    GROUP BY cid
) AS reviews
    ON purchases.customerid = reviews.customerid
