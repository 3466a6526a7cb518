{#- A film's genres: a film can have several (real Pagila), so facts reach genres through this bridge. -#}
select distinct cast(film_id as bigint) as film_id, category
from {{ source('lake', 'film_category_staging') }}
