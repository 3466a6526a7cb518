-- Per partition of the range's days: the staged purchases' amount and count, and the classified
-- reviews' count. USING merges the partition columns of both sides.
INSERT INTO user_behavior_metric_range_sources ({{partition_columns}}, staged_amount, staged_purchases, classified_reviews)
SELECT
    {{partition_columns}},
    COALESCE(purchases.staged_amount, 0) AS staged_amount,
    COALESCE(purchases.staged_purchases, 0) AS staged_purchases,
    COALESCE(reviews.classified_reviews, 0) AS classified_reviews
FROM (
    SELECT {{partition_columns}}, SUM(amount) AS staged_amount, COUNT(*) AS staged_purchases
    FROM spectrum.user_purchase_staging
    WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
    GROUP BY {{partition_columns}}
) AS purchases
FULL OUTER JOIN (
    SELECT {{partition_columns}}, COUNT(*) AS classified_reviews
    FROM spectrum.classified_movie_review
    WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
    GROUP BY {{partition_columns}}
) AS reviews
    USING ({{partition_columns}})
