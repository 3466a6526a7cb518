{#- Grain: one rental, in the partition of its UTC day; each run replaces its window. -#}
-- depends_on: {{ ref('dim_customer') }}, {{ ref('dim_film') }}, {{ ref('dim_date') }}
select
    cast(rental_id as bigint) as rental_id,
    cast(customer_id as bigint) as customer_id,
    cast(film_id as bigint) as film_id,
    cast(store_id as bigint) as store_id,
    cast(inventory_id as bigint) as inventory_id,
    cast(staff_id as bigint) as staff_id,
    rental_ts,
    return_ts,
    insert_date as rental_date,
    {{ ubm_partition_columns() | join(', ') }}
from {{ source('lake', 'rental_staging') }}
where {{ ubm_in_window() }}
