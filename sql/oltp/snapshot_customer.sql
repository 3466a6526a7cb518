-- customer_staging: every customer as they are now, with their address, city and country
-- (dim_customer keeps the history: a changed store, address or active flag opens a new version).
-- Pagila's `active` is an integer (1/0) next to the boolean `activebool`; the integer is the one kept up.
SELECT
    c.customer_id,
    c.store_id,
    c.first_name,
    c.last_name,
    c.email,
    COALESCE(c.active <> 0, c.activebool) AS active,
    c.create_date,
    c.address_id,
    a.address,
    a.district,
    a.postal_code,
    ci.city,
    co.country
FROM customer AS c
LEFT JOIN address AS a ON a.address_id = c.address_id
LEFT JOIN city AS ci ON ci.city_id = a.city_id
LEFT JOIN country AS co ON co.country_id = ci.country_id
ORDER BY c.customer_id
