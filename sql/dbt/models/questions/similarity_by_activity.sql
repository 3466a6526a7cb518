{#- Is the similarity of two films a customer rented one after the other higher when the customer is less
    active? A customer's activity: their rentals in the window; customers with at least two are split into
    quartiles by NTILE(4) over (activity, customer_id), 1 = least active. Similarity of two films:
    0.5 x [they share a genre] + 0.5 x the Jaccard index of their actors (film_pair_similarity). -#}
select
    activity.activity_quartile,
    count(distinct activity.customer_id) as customers,
    min(activity.rentals) as min_rentals,
    max(activity.rentals) as max_rentals,
    count(*) as pairs,
    avg(pairs.similarity) as mean_similarity
from {{ ref('customer_pair_similarity') }} as pairs
join {{ ref('customer_activity') }} as activity on activity.customer_id = pairs.customer_id
group by activity.activity_quartile
