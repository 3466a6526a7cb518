{#- Grain: one classified review, in the partition of the day the vendor sent it. -#}
-- depends_on: {{ ref('dim_customer') }}, {{ ref('dim_film') }}, {{ ref('dim_date') }}
select
    review_id,
    cast(cid as bigint) as customer_id,
    cast(film_id as bigint) as film_id,
    insert_date as review_date,
    sentiment,
    positive_review as positive,
    probability,
    model_version,
    {{ ubm_partition_columns() | join(', ') }}
from {{ source('lake', 'classified_movie_review') }}
where {{ ubm_in_window() }}
