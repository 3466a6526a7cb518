{#- Each classified review that names a film (in the questions' window, by review_date), with the reviewing
    customer's rentals 1 to 7 days after the review's day and how many of them share a genre with it. -#}
with reviews as (
    select review_id, customer_id, film_id, review_date, sentiment
    from {{ ref('fact_review') }}
    where film_id is not null and {{ ubm_question_window('review_date') }}
),

follows as (
    select reviews.review_id, rentals.rental_id, reviews.film_id as reviewed_film_id, rentals.film_id as rented_film_id
    from reviews
    join {{ ref('fact_rental') }} as rentals
        on rentals.customer_id = reviews.customer_id
        and rentals.rental_date between reviews.review_date + 1 and reviews.review_date + 7
),

genres as (select distinct film_id, category from {{ ref('bridge_film_category') }}),

same_genre as (  -- the follow rentals whose film has a category of the reviewed film's
    select distinct follows.review_id, follows.rental_id
    from follows
    join genres as reviewed on reviewed.film_id = follows.reviewed_film_id
    join genres as rented on rented.film_id = follows.rented_film_id and rented.category = reviewed.category
)

select
    reviews.review_id,
    reviews.customer_id,
    reviews.sentiment,
    count(follows.review_id) as follow_rentals,
    count(same_genre.review_id) as same_genre_rentals
from reviews
left join follows on follows.review_id = reviews.review_id
left join same_genre on same_genre.review_id = follows.review_id and same_genre.rental_id = follows.rental_id
group by reviews.review_id, reviews.customer_id, reviews.sentiment
