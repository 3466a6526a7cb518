-- rental_staging: one row per rental whose rental_date falls in the partition's UTC window, with the
-- film and store of the rented copy. LEFT JOIN: a rental stays whatever its inventory row says.
-- Rows in rental time order, so one query covers a range of partitions (see extract_user_purchase.sql);
-- the range predicate uses Pagila's (rental_date, inventory_id, customer_id) index.
SELECT
    r.rental_id,
    r.customer_id,
    r.inventory_id,
    i.film_id,
    i.store_id,
    r.staff_id,
    r.rental_date AT TIME ZONE 'UTC' AS rental_ts,
    r.return_date AT TIME ZONE 'UTC' AS return_ts
FROM rental AS r
LEFT JOIN inventory AS i ON i.inventory_id = r.inventory_id
WHERE r.rental_date >= :window_start
  AND r.rental_date < :window_end
ORDER BY r.rental_date, r.rental_id
