-- user_purchase_staging: one row per payment whose payment_date falls in the partition's UTC window
-- (a day, or an hour with UBM_PARTITION=hourly).
-- LEFT JOINs keep a payment whatever its rental/inventory rows say; a film in several categories
-- contributes its first category (lowest category_id) so the join cannot multiply payments.
-- The range predicate on payment_date uses the payment (payment_date, payment_id) key, and on
-- Pagila's month-partitioned payment table it prunes to one partition: never a full unload per partition.
-- Rows come in payment time order (the same key's order): one query can cover a range of partitions,
-- which the extraction cuts into one file per partition as the rows stream by.
SELECT
    p.payment_id,
    p.customer_id,
    p.rental_id,
    i.film_id,
    (
        SELECT c.name
        FROM film_category AS fc
        JOIN category AS c ON c.category_id = fc.category_id
        WHERE fc.film_id = i.film_id
        ORDER BY c.category_id
        LIMIT 1
    ) AS category,
    p.amount,
    p.payment_date AT TIME ZONE 'UTC' AS payment_ts,
    r.rental_date AT TIME ZONE 'UTC' AS rental_ts
FROM payment AS p
LEFT JOIN rental AS r ON r.rental_id = p.rental_id
LEFT JOIN inventory AS i ON i.inventory_id = r.inventory_id
WHERE p.payment_date >= :window_start
  AND p.payment_date < :window_end
ORDER BY p.payment_date, p.payment_id
