-- Which of the given customer ids exist (the orphan-review check).
SELECT customer_id FROM customer WHERE customer_id = ANY(:customer_ids)
