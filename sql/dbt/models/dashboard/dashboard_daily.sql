{#- The dashboard's time series: per UTC day of the facts, the spend, the payments, the rentals and the
    classified reviews by sentiment. -#}
with payments as (
    select payment_date as day, sum(amount) as spend, count(*) as payments
    from {{ ref('fact_payment') }}
    group by payment_date
),

rentals as (
    select rental_date as day, count(*) as rentals
    from {{ ref('fact_rental') }}
    group by rental_date
),

reviews as (
    select
        review_date as day,
        sum(case when sentiment = 'negative' then 1 else 0 end) as negative_reviews,
        sum(case when sentiment = 'neutral' then 1 else 0 end) as neutral_reviews,
        sum(case when sentiment = 'positive' then 1 else 0 end) as positive_reviews
    from {{ ref('fact_review') }}
    group by review_date
),

days as (
    select day from payments union select day from rentals union select day from reviews
)

select
    days.day,
    cast(coalesce(payments.spend, 0) as decimal(18, 2)) as spend,
    cast(coalesce(payments.payments, 0) as bigint) as payments,
    cast(coalesce(rentals.rentals, 0) as bigint) as rentals,
    cast(coalesce(reviews.negative_reviews, 0) as bigint) as negative_reviews,
    cast(coalesce(reviews.neutral_reviews, 0) as bigint) as neutral_reviews,
    cast(coalesce(reviews.positive_reviews, 0) as bigint) as positive_reviews
from days
left join payments on payments.day = days.day
left join rentals on rentals.day = days.day
left join reviews on reviews.day = days.day
