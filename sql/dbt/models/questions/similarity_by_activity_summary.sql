{#- One row: Spearman's rho between a customer's activity and the mean similarity of their consecutive
    pairs (average ranks for ties), over the customers of similarity_by_activity, and its p-value from a
    permutation test: the pairs are dealt out again at random, each customer getting as many as they have,
    and rho computed again; p is the share of deals whose |rho| is at least the observed one. Dealing pairs
    (not shuffling the activities) keeps what the number of pairs alone does to a mean of similarities: a
    customer with one pair often has a mean of exactly 0, one with many rarely, which alone makes rho
    positive on data where similarity does not depend on activity. A negative rho: less active customers
    rent more alike films.

    How a deal is made cheaply: the pairs are shuffled (sorted on a random key), the customers put in a
    random order, and each customer takes the next `pairs` shuffled pairs: their mean is a difference of two
    running sums. Every deal is a uniformly random one. A shuffle costs a row per pair, a deal a row per
    customer: ubm_permutation_budget() rows pay for the deals (between 19 and ubm_replicates()) and the
    shuffles (at least one; deals share one, each cutting it in its own order, only when the budget is short
    of a shuffle each). -#}
{%- set replicates = ubm_replicates() %}
{%- set budget = ubm_permutation_budget() %}

with slots as (
    select pairs.customer_id, pairs.rental_id, pairs.similarity, activity.rentals
    from {{ ref('customer_pair_similarity') }} as pairs
    join {{ ref('customer_activity') }} as activity on activity.customer_id = pairs.customer_id
),

customers as (  -- x: the rank of the customer's activity, the same in every deal
    select
        customer_id,
        pairs,
        observed_y,
        rank() over (order by rentals) + (count(*) over (partition by rentals) - 1) / 2.0 as x
    from (
        select customer_id, max(rentals) as rentals, count(*) as pairs, round(avg(similarity), 12) as observed_y
        from slots
        group by customer_id
    ) as summed
),

sizes as (
    select
        cast(greatest(19, least({{ replicates }}, floor({{ budget }} / greatest(count(*), 1)))) as integer) as deals,
        (select cast(greatest(1, floor({{ budget }} / greatest(count(*), 1))) as integer) from slots) as shuffles_paid
    from customers
),

numbers as ({{ ubm_numbers(replicates + 1) }}),

shuffles as (
    select numbers.n as shuffle from numbers cross join sizes
    where numbers.n between 1 and least(sizes.deals, sizes.shuffles_paid)
),

running as (  -- each shuffle's running sum over its random order; position 0 is the empty sum
    select shuffles.shuffle, 0 as position, cast(0 as decimal(38, 12)) as total from shuffles
    union all
    select
        shuffles.shuffle,
        row_number() over (partition by shuffles.shuffle order by {{ ubm_random_key(["'similarity'", 'slots.rental_id', 'shuffles.shuffle']) }}, slots.rental_id),
        -- exact: a dealt mean is a difference of two running sums, and equal means must tie
        sum(cast(slots.similarity as decimal(38, 12))) over (
            partition by shuffles.shuffle order by {{ ubm_random_key(["'similarity'", 'slots.rental_id', 'shuffles.shuffle']) }}, slots.rental_id
            rows between unbounded preceding and current row)
    from slots cross join shuffles
),

deals as (  -- deal d cuts shuffle 1 + (d - 1) mod shuffles
    select numbers.n as deal, 1 + (numbers.n - 1) % (select count(*) from shuffles) as shuffle
    from numbers cross join sizes
    where numbers.n between 1 and sizes.deals
),

cuts as (  -- in a deal the customers come in a random order, each taking the next `pairs` shuffled slots
    select
        deals.deal,
        deals.shuffle,
        customers.x,
        customers.pairs,
        sum(customers.pairs) over (
            partition by deals.deal order by {{ ubm_random_key(["'similarity-cut'", 'customers.customer_id', 'deals.deal']) }}, customers.customer_id
            rows between unbounded preceding and current row) as end_at
    from customers cross join deals
),

means as (
    select 0 as replicate, x, observed_y as y from customers
    union all
    select cuts.deal, cuts.x, round((finish.total - start.total) / cuts.pairs, 12)
    from cuts
    join running as start on start.shuffle = cuts.shuffle and start.position = cuts.end_at - cuts.pairs
    join running as finish on finish.shuffle = cuts.shuffle and finish.position = cuts.end_at
),

ranked as (
    select
        replicate,
        x as rx,
        rank() over (partition by replicate order by y) + (count(*) over (partition by replicate, y) - 1) / 2.0 as ry
    from means
),

rho as (
    select
        replicate,
        count(*) as customers,
        (sum(rx * ry) - sum(rx) * sum(ry) / count(*))
            / nullif(sqrt((sum(rx * rx) - sum(rx) * sum(rx) / count(*)) * (sum(ry * ry) - sum(ry) * sum(ry) / count(*))), 0)
            as rho
    from ranked
    group by replicate
),

observed as (select rho, customers from rho where replicate = 0)

select
    observed.rho as spearman_rho,
    case when observed.rho is not null then
        (1 + (select count(*) from rho where replicate > 0 and abs(rho.rho) >= abs(observed.rho) - 1e-12)) * 1.0
        / (sizes.deals + 1) end as p_value,
    cast(coalesce(observed.customers, 0) as bigint) as customers,
    'spearman_rho: Pearson correlation of average ranks; p_value: two-sided permutation test, the pairs dealt '
        || 'out again at random ' || cast(sizes.deals as varchar) || ' times, each customer keeping their number '
        || 'of pairs' as method
from (select 1 as one) as base
cross join sizes
left join observed on 1 = 1
