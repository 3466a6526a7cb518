-- Per day of the range: the staged purchases' amount and count, and the classified reviews' count.
INSERT INTO user_behavior_metric_range_sources (insert_date, staged_amount, staged_purchases, classified_reviews)
SELECT
    CAST(COALESCE(purchases.insert_date, reviews.insert_date) AS DATE) AS insert_date,
    COALESCE(purchases.staged_amount, 0) AS staged_amount,
    COALESCE(purchases.staged_purchases, 0) AS staged_purchases,
    COALESCE(reviews.classified_reviews, 0) AS classified_reviews
FROM (
    SELECT insert_date, SUM(amount) AS staged_amount, COUNT(*) AS staged_purchases
    FROM spectrum.user_purchase_staging
    WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
    GROUP BY insert_date
) AS purchases
FULL OUTER JOIN (
    SELECT insert_date, COUNT(*) AS classified_reviews
    FROM spectrum.classified_movie_review
    WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
    GROUP BY insert_date
) AS reviews
    ON purchases.insert_date = reviews.insert_date
