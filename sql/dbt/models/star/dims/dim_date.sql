{#- One row per day from var dim_date_first to dim_date_last (defaults: 2000 .. 2039): a fixed calendar, so
    that no fact's day is ever missing. Days are counted out of five digits' cross join, which both DuckDB
    and Redshift run (Redshift's generate_series runs on the leader node only). -#}
{%- set first = var('dim_date_first', '2000-01-01') %}
{%- set last = var('dim_date_last', '2039-12-31') %}

with digits as (
    select 0 as d union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
),

days as (
    select cast('{{ first }}' as date) + (d1.d + 10 * d2.d + 100 * d3.d + 1000 * d4.d + 10000 * d5.d) as date
    from digits as d1 cross join digits as d2 cross join digits as d3 cross join digits as d4 cross join digits as d5
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
where date <= cast('{{ last }}' as date)
