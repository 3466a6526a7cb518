{#- For each pair of films a customer rented one after the other: whether they share a genre (at least one
    category in common) and the Jaccard index of their actors (0 when neither has any); their similarity is
    the mean of the two. One row per ordered pair that occurs. -#}
with pairs as (
    select distinct film_id as film_a, next_film_id as film_b
    from {{ ref('question_rentals') }}
    where next_film_id is not null
),

shared_genre as (
    select distinct pairs.film_a, pairs.film_b
    from pairs
    join {{ ref('bridge_film_category') }} as a on a.film_id = pairs.film_a
    join {{ ref('bridge_film_category') }} as b on b.film_id = pairs.film_b and b.category = a.category
),

actors as (
    select film_id, count(distinct actor_id) as actors from {{ ref('bridge_film_actor') }} group by film_id
),

shared_actors as (
    select pairs.film_a, pairs.film_b, count(distinct a.actor_id) as actors
    from pairs
    join {{ ref('bridge_film_actor') }} as a on a.film_id = pairs.film_a
    join {{ ref('bridge_film_actor') }} as b on b.film_id = pairs.film_b and b.actor_id = a.actor_id
    group by pairs.film_a, pairs.film_b
),

scored as (
    select
        pairs.film_a,
        pairs.film_b,
        shared_genre.film_a is not null as shares_genre,
        case
            when coalesce(actors_a.actors, 0) + coalesce(actors_b.actors, 0) = 0 then 0.0
            else 1.0 * coalesce(shared_actors.actors, 0)
                / (coalesce(actors_a.actors, 0) + coalesce(actors_b.actors, 0) - coalesce(shared_actors.actors, 0))
        end as actor_jaccard
    from pairs
    left join shared_genre on shared_genre.film_a = pairs.film_a and shared_genre.film_b = pairs.film_b
    left join shared_actors on shared_actors.film_a = pairs.film_a and shared_actors.film_b = pairs.film_b
    left join actors as actors_a on actors_a.film_id = pairs.film_a
    left join actors as actors_b on actors_b.film_id = pairs.film_b
)

select
    film_a,
    film_b,
    shares_genre,
    actor_jaccard,
    0.5 * (case when shares_genre then 1 else 0 end) + 0.5 * actor_jaccard as similarity
from scored
