{#- One row: positive reviews against negative ones. share_difference: the same-genre share of the rentals
    that follow positive reviews minus that of negative reviews; its 95% interval and two-sided p-value
    (against no difference) from a Poisson bootstrap over customers, each customer's reviews kept together
    (a customer's reviews are not independent of each other). -#}
{%- set replicates = ubm_replicates() %}

with by_customer as (
    select
        customer_id,
        sum(case when sentiment = 'positive' then follow_rentals else 0 end) as positive_follow,
        sum(case when sentiment = 'positive' then same_genre_rentals else 0 end) as positive_same,
        sum(case when sentiment = 'negative' then follow_rentals else 0 end) as negative_follow,
        sum(case when sentiment = 'negative' then same_genre_rentals else 0 end) as negative_same
    from {{ ref('review_follow_rentals') }}
    where sentiment in ('positive', 'negative')
    group by customer_id
),

customer_groups as ({{ ubm_bootstrap_groups('by_customer', 'customer_id', ['positive_follow', 'positive_same', 'negative_follow', 'negative_same'], 'review') }}),

replicates as ({{ ubm_numbers(replicates) }}),

resampled as (
    select
        replicate,
        sum(weight * positive_same) / nullif(sum(weight * positive_follow), 0)
            - sum(weight * negative_same) / nullif(sum(weight * negative_follow), 0) as difference
    from ({{ ubm_bootstrap_rows('customer_groups', ['positive_follow', 'positive_same', 'negative_follow', 'negative_same'], 'review') }}) as weighted
    group by replicate
),

interval as ({{ ubm_bootstrap_interval('resampled', 'difference', 0) }}),

shares as (
    select
        1.0 * sum(case when sentiment = 'positive' then same_genre_rentals end)
            / nullif(sum(case when sentiment = 'positive' then follow_rentals end), 0)
        - 1.0 * sum(case when sentiment = 'negative' then same_genre_rentals end)
            / nullif(sum(case when sentiment = 'negative' then follow_rentals end), 0) as share_difference,
        sum(case when sentiment = 'positive' then 1 else 0 end) as positive_reviews,
        sum(case when sentiment = 'negative' then 1 else 0 end) as negative_reviews
    from {{ ref('review_follow_rentals') }}
)

select
    shares.share_difference,
    interval.low as ci_low,
    interval.high as ci_high,
    interval.p_value,
    cast(shares.positive_reviews as bigint) as positive_reviews,
    cast(shares.negative_reviews as bigint) as negative_reviews,
    'interval: 95% percentile bootstrap over customers (in 1,000 random groups; {{ replicates }} Poisson-weighted replicates); p_value: '
        || 'two-sided, from the same bootstrap, against no difference' as method
from shares cross join interval
