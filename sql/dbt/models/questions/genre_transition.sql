{#- From one rental's genre to the next's: each consecutive pair spreads a weight of 1 evenly over the pairs
    of its two films' categories (a film without a category counts as '(none)'), so the weights sum to the
    consecutive pairs. The heat map of the dashboard. -#}
with genres as (select distinct film_id, category from {{ ref('bridge_film_category') }}),

film_genres as (  -- each film's share of its weight in each of its categories
    select film_id, category, 1.0 / count(*) over (partition by film_id) as share from genres
),

film_pairs as (  -- consecutive pairs counted by their two films: the weights depend on nothing else
    select film_id, next_film_id, count(*) as pairs
    from {{ ref('question_rentals') }}
    where next_rental_id is not null
    group by film_id, next_film_id
)

select
    coalesce(from_genres.category, '(none)') as from_category,
    coalesce(to_genres.category, '(none)') as to_category,
    sum(film_pairs.pairs * coalesce(from_genres.share, 1) * coalesce(to_genres.share, 1)) as weight
from film_pairs
left join film_genres as from_genres on from_genres.film_id = film_pairs.film_id
left join film_genres as to_genres on to_genres.film_id = film_pairs.next_film_id
group by 1, 2
