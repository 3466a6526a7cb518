SELECT customerid, amount_spent, purchase_count, review_score, review_count, insert_date
FROM user_behavior_metric
WHERE insert_date BETWEEN CAST(:date_from AS DATE) AND CAST(:date_to AS DATE)
ORDER BY insert_date, customerid
