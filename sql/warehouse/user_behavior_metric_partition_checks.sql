-- The numbers behind user_behavior_metric's checks for one partition, computed inside the replacing
-- transaction, before COMMIT: a partition that fails a blocking check is rolled back, never published.
-- The lake's side comes from user_behavior_metric_range_sources (the lake's per-partition totals).
SELECT
    (SELECT count(*) FROM user_behavior_metric
      WHERE {{partition_filter}}) AS metric_rows,
    (SELECT count(*) FROM user_behavior_metric
      WHERE {{partition_filter}} AND customerid IS NULL) AS null_customer_ids,
    (SELECT count(*) FROM (
        SELECT customerid FROM user_behavior_metric
        WHERE {{partition_filter}}
        GROUP BY customerid HAVING count(*) > 1) AS repeated) AS duplicate_keys,
    (SELECT count(*) FROM user_behavior_metric
      WHERE {{partition_filter}}
        AND (amount_spent < 0 OR purchase_count < 0 OR review_score < 0 OR review_score > review_count))
        AS invalid_values,
    (SELECT COALESCE(SUM(amount_spent), 0) FROM user_behavior_metric
      WHERE {{partition_filter}}) AS metric_amount_spent,
    (SELECT COALESCE(SUM(staged_amount), 0) FROM user_behavior_metric_range_sources
      WHERE {{partition_filter}}) AS staged_amount,
    (SELECT COALESCE(SUM(purchase_count), 0) FROM user_behavior_metric
      WHERE {{partition_filter}}) AS metric_purchase_count,
    (SELECT COALESCE(SUM(staged_purchases), 0) FROM user_behavior_metric_range_sources
      WHERE {{partition_filter}}) AS staged_purchases,
    (SELECT COALESCE(SUM(review_count), 0) FROM user_behavior_metric
      WHERE {{partition_filter}}) AS metric_review_count,
    (SELECT COALESCE(SUM(classified_reviews), 0) FROM user_behavior_metric_range_sources
      WHERE {{partition_filter}}) AS classified_reviews
