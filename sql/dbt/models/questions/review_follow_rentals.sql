{#- Each classified review that names a film (in the questions' window, by review_date), with the reviewing
    customer's rentals 1 to 7 days after the review's day and how many of them share a genre with it. -#}
with reviews as (
    select review_id, customer_id, film_id, review_date, sentiment
    from {{ ref('fact_review') }}
    where film_id is not null and {{ ubm_question_window('review_date') }}
),

follows as (
    select reviews.review_id, rentals.film_id as rented_film_id
    from reviews
    join {{ ref('fact_rental') }} as rentals
        on rentals.customer_id = reviews.customer_id
        and rentals.rental_date between reviews.review_date + 1 and reviews.review_date + 7
)

select
    reviews.review_id,
    reviews.customer_id,
    reviews.sentiment,
    count(follows.review_id) as follow_rentals,
    sum(case when similarity.shares_genre then 1 else 0 end) as same_genre_rentals
from reviews
left join follows on follows.review_id = reviews.review_id
left join {{ ref('film_pair_similarity') }} as similarity
    on similarity.film_a = reviews.film_id and similarity.film_b = follows.rented_film_id
group by reviews.review_id, reviews.customer_id, reviews.sentiment
