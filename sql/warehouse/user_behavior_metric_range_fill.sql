-- The range's user_behavior_metric rows (one per customer and partition) from the lake's staged
-- purchases and classified reviews, for the range's whole days (a partition outside the run's keys
-- is computed but never copied). Each side is aggregated per customer and partition BEFORE the
-- join: joining raw rows would multiply a customer's purchases by their reviews and inflate both sums.
-- USING merges the join columns: customerid and the partition columns come from whichever side has them.
INSERT INTO user_behavior_metric_range
    (customerid, amount_spent, purchase_count, review_score, review_count, {{partition_columns}})
SELECT
    customerid,
    CAST(COALESCE(purchases.amount_spent, 0) AS DECIMAL(18, 5)) AS amount_spent,
    COALESCE(purchases.purchase_count, 0) AS purchase_count,
    COALESCE(reviews.review_score, 0) AS review_score,
    COALESCE(reviews.review_count, 0) AS review_count,
    {{partition_columns}}
FROM (
    SELECT {{partition_columns}}, customer_id AS customerid, SUM(amount) AS amount_spent, COUNT(*) AS purchase_count
    FROM spectrum.user_purchase_staging
    WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
    GROUP BY {{partition_columns}}, customer_id
) AS purchases
FULL OUTER JOIN (
    SELECT
        {{partition_columns}},
        cid AS customerid,
        SUM(CASE WHEN positive_review THEN 1 ELSE 0 END) AS review_score,
        COUNT(*) AS review_count
    FROM spectrum.classified_movie_review
    WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
    GROUP BY {{partition_columns}}, cid
) AS reviews
    USING (customerid, {{partition_columns}})
