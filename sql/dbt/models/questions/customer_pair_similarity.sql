{#- Each consecutive pair of a customer's rentals with its films' similarity (0 when a film is unknown). -#}
select
    pairs.customer_id,
    pairs.rental_id,
    coalesce(similarity.similarity, 0.0) as similarity
from {{ ref('question_rentals') }} as pairs
left join {{ ref('film_pair_similarity') }} as similarity
    on similarity.film_a = pairs.film_id and similarity.film_b = pairs.next_film_id
where pairs.next_rental_id is not null
