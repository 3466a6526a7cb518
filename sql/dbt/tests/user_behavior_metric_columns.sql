{#- The audited table has the columns analysts expect, of the expected type families (DuckDB's
    DECIMAL(18,5) and Redshift's numeric compare alike). Returns the columns that are missing or differ. -#}
{{ config(meta={'dagster': {'ref': {'name': 'user_behavior_metric_audit'}}}) }}
{%- set audit = ref('user_behavior_metric_audit') %}
{%- set expected = [('customerid', 'integer'), ('amount_spent', 'decimal'), ('purchase_count', 'integer'),
                    ('review_score', 'integer'), ('review_count', 'integer'), ('insert_date', 'date')]
                   + ([('insert_hour', 'integer')] if ubm_hourly() else []) %}

with expected as (
    {%- for name, family in expected %}
    select '{{ name }}' as column_name, '{{ family }}' as family{{ ' union all' if not loop.last }}
    {%- endfor %}
),

found as (
    select
        lower(column_name) as column_name,
        case
            when lower(data_type) in ('bigint', 'int8', 'integer', 'int4', 'smallint', 'int2') then 'integer'
            when left(lower(data_type), 7) in ('decimal', 'numeric') then 'decimal'
            else lower(data_type)
        end as family
    from information_schema.columns
    where lower(table_schema) = lower('{{ audit.schema }}') and lower(table_name) = lower('{{ audit.identifier }}')
)

select expected.column_name, expected.family as expected_family, found.family as found_family
from expected
left join found on found.column_name = expected.column_name
where found.family is null or found.family <> expected.family
