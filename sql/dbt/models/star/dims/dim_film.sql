select
    cast(film_id as bigint) as film_id,
    title,
    cast(release_year as integer) as release_year,
    language,
    rating,
    cast(length as integer) as length,
    cast(rental_rate as decimal(4, 2)) as rental_rate,
    cast(rental_duration as integer) as rental_duration,
    cast(replacement_cost as decimal(5, 2)) as replacement_cost
from {{ source('lake', 'film_staging') }}
