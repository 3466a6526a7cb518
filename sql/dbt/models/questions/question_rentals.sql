{#- The rentals the questions look at (their window on rental_date), each with the one its customer rented
    next: a customer's rentals ordered by (rental_ts, rental_id). -#}
select
    customer_id,
    rental_id,
    film_id,
    rental_ts,
    rental_date,
    lead(film_id) over (partition by customer_id order by rental_ts, rental_id) as next_film_id,
    lead(rental_id) over (partition by customer_id order by rental_ts, rental_id) as next_rental_id
from {{ ref('fact_rental') }}
where {{ ubm_question_window('rental_date') }}
