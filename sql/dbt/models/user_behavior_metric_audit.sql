{#- Write-audit-publish, step 1: the window's rows of user_behavior_metric, written where analysts do not
    read (schema ubm_audit) and tested there. user_behavior_metric publishes them only if every test
    passes: `dbt build` skips a model whose parent failed a test. -#}
{{ config(materialized='table', schema='ubm_audit', tags=['partitioned']) }}
-- reconciled with the facts (tests/user_behavior_metric_reconciles.sql), so built after them:
-- depends_on: {{ ref('fact_payment') }}, {{ ref('fact_review') }}

{%- set partition = ubm_partition_columns() | join(', ') %}

-- Each side is aggregated per customer and partition BEFORE the join: joining raw rows would multiply
-- a customer's purchases by their reviews and inflate both sums.
with purchases as (
    select {{ partition }}, customer_id as customerid, sum(amount) as amount_spent, count(*) as purchase_count
    from {{ source('lake', 'user_purchase_staging') }}
    where {{ ubm_in_window() }}
    group by {{ partition }}, customer_id
),

reviews as (
    select
        {{ partition }},
        cid as customerid,
        sum(case when positive_review then 1 else 0 end) as review_score,
        count(*) as review_count
    from {{ source('lake', 'classified_movie_review') }}
    where {{ ubm_in_window() }}
    group by {{ partition }}, cid
)

select
    cast(coalesce(purchases.customerid, reviews.customerid) as bigint) as customerid,
    cast(coalesce(purchases.amount_spent, 0) as decimal(18, 5)) as amount_spent,
    cast(coalesce(purchases.purchase_count, 0) as bigint) as purchase_count,
    cast(coalesce(reviews.review_score, 0) as bigint) as review_score,
    cast(coalesce(reviews.review_count, 0) as bigint) as review_count,
    {{ ubm_partition_coalesce('purchases', 'reviews') }}
from purchases
full outer join reviews
    on purchases.customerid = reviews.customerid and {{ ubm_partition_join('purchases', 'reviews') }}
