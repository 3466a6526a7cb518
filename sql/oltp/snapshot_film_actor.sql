-- film_actor_staging: who plays in each film.
SELECT fa.film_id, fa.actor_id, a.first_name, a.last_name
FROM film_actor AS fa
JOIN actor AS a ON a.actor_id = fa.actor_id
ORDER BY fa.film_id, fa.actor_id
