{#- Grain: one payment, in the partition of its UTC day; each run replaces its window, so the table holds
    exactly the payments of the partitions materialized. -#}
-- depends_on: {{ ref('dim_customer') }}, {{ ref('dim_date') }}
select
    cast(payment_id as bigint) as payment_id,
    cast(rental_id as bigint) as rental_id,
    cast(customer_id as bigint) as customer_id,
    cast(amount as decimal(18, 5)) as amount,
    payment_ts,
    insert_date as payment_date,
    {{ ubm_partition_columns() | join(', ') }}
from {{ source('lake', 'user_purchase_staging') }}
where {{ ubm_in_window() }}
