{#- Do customers' rentals follow their positive reviews? One row per sentiment, over the classified reviews
    that name a film (in the window, by review_date): follow_rentals are the reviewing customer's rentals whose
    UTC day is 1 to 7 days after the review's day, same_genre_rentals those sharing a genre with the
    reviewed film. -#}
select
    sentiments.sentiment,
    cast(coalesce(count(effects.review_id), 0) as bigint) as reviews,
    cast(coalesce(sum(effects.follow_rentals), 0) as bigint) as follow_rentals,
    cast(coalesce(sum(effects.same_genre_rentals), 0) as bigint) as same_genre_rentals,
    1.0 * sum(effects.same_genre_rentals) / nullif(sum(effects.follow_rentals), 0) as same_genre_share
from (
    select 'negative' as sentiment union all select 'neutral' union all select 'positive'
) as sentiments
left join {{ ref('review_follow_rentals') }} as effects on effects.sentiment = sentiments.sentiment
group by sentiments.sentiment
