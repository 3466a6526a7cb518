{#- One row per version of a customer (type 2). A customer's first version is valid from the start of
    time, so that every rental finds the version it happened under; later versions from the refresh that
    saw the change. -#}
select
    dbt_scd_id as customer_key,
    cast(customer_id as bigint) as customer_id,
    cast(store_id as bigint) as store_id,
    first_name,
    last_name,
    email,
    address_id,
    address,
    district,
    postal_code,
    city,
    country,
    active,
    create_date,
    case
        when row_number() over (partition by customer_id order by dbt_valid_from) = 1
            then cast('1900-01-01' as timestamp)
        else dbt_valid_from
    end as valid_from,
    dbt_valid_to as valid_to,
    dbt_valid_to = cast('9999-12-31' as timestamp) as is_current
from {{ ref('customer_history') }}
