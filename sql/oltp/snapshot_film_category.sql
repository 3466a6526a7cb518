-- film_category_staging: a film's categories by name (a film can have several in real Pagila).
SELECT fc.film_id, c.name AS category
FROM film_category AS fc
JOIN category AS c ON c.category_id = fc.category_id
ORDER BY fc.film_id, c.name
