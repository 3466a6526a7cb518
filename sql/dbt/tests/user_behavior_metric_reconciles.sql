{#- The audited window's totals per partition equal the star schema's: fact_payment's amount and count and
    fact_review's count, computed apart from the metric's joins. Returns the partitions that differ. -#}
{{ config(meta={'dagster': {'ref': {'name': 'user_behavior_metric_audit'}}}) }}
{%- set partition = ubm_partition_columns() | join(', ') %}

with metric as (
    select {{ partition }}, sum(amount_spent) as amount, sum(purchase_count) as purchases, sum(review_count) as reviews
    from {{ ref('user_behavior_metric_audit') }}
    group by {{ partition }}
),

purchases as (
    select {{ partition }}, sum(amount) as amount, count(*) as purchases
    from {{ ref('fact_payment') }}
    where {{ ubm_in_window() }}
    group by {{ partition }}
),

reviews as (
    select {{ partition }}, count(*) as reviews
    from {{ ref('fact_review') }}
    where {{ ubm_in_window() }}
    group by {{ partition }}
),

facts as (
    select
        {{ ubm_partition_coalesce('purchases', 'reviews') }},
        coalesce(purchases.amount, 0) as amount,
        coalesce(purchases.purchases, 0) as purchases,
        coalesce(reviews.reviews, 0) as reviews
    from purchases
    full outer join reviews on {{ ubm_partition_join('purchases', 'reviews') }}
)

select
    {{ ubm_partition_coalesce('metric', 'facts') }},
    metric.amount as metric_amount, facts.amount as fact_amount,
    metric.purchases as metric_purchases, facts.purchases as fact_payments,
    metric.reviews as metric_reviews, facts.reviews as fact_reviews
from metric
full outer join facts on {{ ubm_partition_join('metric', 'facts') }}
where coalesce(metric.amount, 0) <> coalesce(facts.amount, 0)
    or coalesce(metric.purchases, 0) <> coalesce(facts.purchases, 0)
    or coalesce(metric.reviews, 0) <> coalesce(facts.reviews, 0)
