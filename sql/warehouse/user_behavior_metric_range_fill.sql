-- The range's user_behavior_metric rows (one per customer and day) from the lake's staged purchases
-- and classified reviews. Each side is aggregated per customer and day BEFORE the join: joining raw
-- rows would multiply a customer's purchases by their reviews and inflate both sums.
INSERT INTO user_behavior_metric_range
    (customerid, amount_spent, purchase_count, review_score, review_count, insert_date)
SELECT
    COALESCE(purchases.customerid, reviews.customerid) AS customerid,
    CAST(COALESCE(purchases.amount_spent, 0) AS DECIMAL(18, 5)) AS amount_spent,
    COALESCE(purchases.purchase_count, 0) AS purchase_count,
    COALESCE(reviews.review_score, 0) AS review_score,
    COALESCE(reviews.review_count, 0) AS review_count,
    CAST(COALESCE(purchases.insert_date, reviews.insert_date) AS DATE) AS insert_date
FROM (
    SELECT insert_date, customer_id AS customerid, SUM(amount) AS amount_spent, COUNT(*) AS purchase_count
    FROM spectrum.user_purchase_staging
    WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
    GROUP BY insert_date, customer_id
) AS purchases
FULL OUTER JOIN (
    SELECT
        insert_date,
        cid AS customerid,
        SUM(CASE WHEN positive_review THEN 1 ELSE 0 END) AS review_score,
        COUNT(*) AS review_count
    FROM spectrum.classified_movie_review
    WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
    GROUP BY insert_date, cid
) AS reviews
    ON purchases.customerid = reviews.customerid AND purchases.insert_date = reviews.insert_date
