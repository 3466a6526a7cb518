{#- One row per day from var dim_date_first to dim_date_last (defaults: 2000 .. 2039): a fixed calendar, so
    that no fact's day is ever missing. -#}
{%- set first = var('dim_date_first', '2000-01-01') %}
{%- set last = var('dim_date_last', '2039-12-31') %}
{%- set days = (modules.datetime.date.fromisoformat(last) - modules.datetime.date.fromisoformat(first)).days + 1 %}

with days as (
    select cast('{{ first }}' as date) + n as date from ({{ ubm_numbers(days) }}) as numbers
)

select
    cast(extract(year from date) * 10000 + extract(month from date) * 100 + extract(day from date) as integer) as date_key,
    date,
    cast(extract(year from date) as integer) as year,
    cast(extract(quarter from date) as integer) as quarter,
    cast(extract(month from date) as integer) as month,
    {#- ISO: Monday 1 .. Sunday 7 (extract's dow counts Sunday as 0 on both warehouses) -#}
    cast(case when extract(dow from date) = 0 then 7 else extract(dow from date) end as integer) as day_of_week,
    extract(dow from date) in (0, 6) as is_weekend
from days
