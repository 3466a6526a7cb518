-- film_staging: every film with its language's name (Pagila's language.name is char(20): trimmed).
SELECT
    f.film_id,
    f.title,
    f.release_year,
    trim(l.name) AS language,
    f.rating::text AS rating,
    f.length,
    f.rental_rate,
    f.rental_duration,
    f.replacement_cost
FROM film AS f
LEFT JOIN language AS l ON l.language_id = f.language_id
ORDER BY f.film_id
