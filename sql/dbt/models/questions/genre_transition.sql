{#- From one rental's genre to the next's: each consecutive pair spreads a weight of 1 evenly over the pairs
    of its two films' categories (a film without a category counts as '(none)'), so the weights sum to the
    consecutive pairs. The heat map of the dashboard. -#}
with genres as (select distinct film_id, category from {{ ref('bridge_film_category') }}),

pairs as (
    select rental_id, film_id, next_film_id
    from {{ ref('question_rentals') }}
    where next_rental_id is not null
),

from_genres as (
    select pairs.rental_id, coalesce(genres.category, '(none)') as category,
           count(*) over (partition by pairs.rental_id) as categories
    from pairs left join genres on genres.film_id = pairs.film_id
),

to_genres as (
    select pairs.rental_id, coalesce(genres.category, '(none)') as category,
           count(*) over (partition by pairs.rental_id) as categories
    from pairs left join genres on genres.film_id = pairs.next_film_id
)

select
    from_genres.category as from_category,
    to_genres.category as to_category,
    sum(1.0 / (from_genres.categories * to_genres.categories)) as weight
from from_genres
join to_genres on to_genres.rental_id = from_genres.rental_id
group by from_genres.category, to_genres.category
