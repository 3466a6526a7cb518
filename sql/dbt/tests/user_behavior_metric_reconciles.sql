{#- The audited window's totals per partition equal the lake's own: the staged purchases' amount and
    count, and the classified reviews' count, computed apart from the metric's joins. Returns the
    partitions that differ. -#}
{{ config(meta={'dagster': {'ref': {'name': 'user_behavior_metric_audit'}}}) }}
{%- set partition = ubm_partition_columns() | join(', ') %}

with metric as (
    select {{ partition }}, sum(amount_spent) as amount, sum(purchase_count) as purchases, sum(review_count) as reviews
    from {{ ref('user_behavior_metric_audit') }}
    group by {{ partition }}
),

purchases as (
    select {{ partition }}, sum(amount) as amount, count(*) as purchases
    from {{ source('lake', 'user_purchase_staging') }}
    where {{ ubm_in_window() }}
    group by {{ partition }}
),

reviews as (
    select {{ partition }}, count(*) as reviews
    from {{ source('lake', 'classified_movie_review') }}
    where {{ ubm_in_window() }}
    group by {{ partition }}
),

lake as (
    select
        {{ ubm_partition_coalesce('purchases', 'reviews') }},
        coalesce(purchases.amount, 0) as amount,
        coalesce(purchases.purchases, 0) as purchases,
        coalesce(reviews.reviews, 0) as reviews
    from purchases
    full outer join reviews on {{ ubm_partition_join('purchases', 'reviews') }}
)

select
    {{ ubm_partition_coalesce('metric', 'lake') }},
    metric.amount as metric_amount, lake.amount as staged_amount,
    metric.purchases as metric_purchases, lake.purchases as staged_purchases,
    metric.reviews as metric_reviews, lake.reviews as classified_reviews
from metric
full outer join lake on {{ ubm_partition_join('metric', 'lake') }}
where coalesce(metric.amount, 0) <> coalesce(lake.amount, 0)
    or coalesce(metric.purchases, 0) <> coalesce(lake.purchases, 0)
    or coalesce(metric.reviews, 0) <> coalesce(lake.reviews, 0)
