select distinct cast(film_id as bigint) as film_id, cast(actor_id as bigint) as actor_id, first_name, last_name
from {{ source('lake', 'film_actor_staging') }}
