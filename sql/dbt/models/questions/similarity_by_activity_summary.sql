{#- One row: Spearman's rho between a customer's activity and the mean similarity of their consecutive
    pairs (average ranks for ties), over the customers of similarity_by_activity, and its p-value from a
    permutation test: the pairs are dealt out again at random, each customer getting as many as they have,
    and rho computed again; p is the share of deals whose |rho| is at least the observed one. Dealing pairs
    (not shuffling the activities) keeps what the number of pairs alone does to a mean of similarities: a
    customer with one pair often has a mean of exactly 0, one with many rarely, which alone makes rho
    positive on data where similarity does not depend on activity. A negative rho: less active customers
    rent more alike films. Dealing costs a row per pair and deal: the deals are as many as fit in
    ubm_permutation_budget() pair draws, between 19 and ubm_replicates() (at Pagila's size, all of them). -#}
{%- set replicates = ubm_replicates() %}
{%- set budget = ubm_permutation_budget() %}

with slots as (  -- each pair at its place, customer by customer
    select
        pairs.customer_id,
        pairs.rental_id,
        pairs.similarity,
        activity.rentals,
        row_number() over (order by pairs.customer_id, pairs.rental_id) as position
    from {{ ref('customer_pair_similarity') }} as pairs
    join {{ ref('customer_activity') }} as activity on activity.customer_id = pairs.customer_id
),

deals as (  -- how many deals the budget pays for
    select cast(greatest(19, least({{ replicates }}, floor({{ budget }} / greatest(count(*), 1)))) as integer) as deals
    from slots
),

replicates as (  -- 0: the observed deal
    select all_numbers.n from ({{ ubm_numbers(replicates + 1) }}) as all_numbers
    cross join deals where all_numbers.n <= deals.deals
),

dealt as (
    select
        replicates.n as replicate,
        slots.similarity,
        case when replicates.n = 0 then slots.position else row_number() over (
            partition by replicates.n
            order by {{ ubm_uniform("'similarity-' || cast(slots.rental_id as varchar) || '-' || cast(replicates.n as varchar)") }}, slots.rental_id
        ) end as position
    from slots cross join replicates
),

means as (
    -- rounded: means equal but for the order of a float sum are the same value, a tie
    select dealt.replicate, slots.customer_id, max(slots.rentals) as x, round(avg(dealt.similarity), 12) as y
    from dealt join slots on slots.position = dealt.position
    group by dealt.replicate, slots.customer_id
),

ranked as (
    select
        replicate,
        rank() over (partition by replicate order by x) + (count(*) over (partition by replicate, x) - 1) / 2.0 as rx,
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
        / (deals.deals + 1) end as p_value,
    cast(coalesce(observed.customers, 0) as bigint) as customers,
    'spearman_rho: Pearson correlation of average ranks; p_value: two-sided permutation test, the pairs dealt '
        || 'out again at random ' || cast(deals.deals as varchar) || ' times, each customer keeping their number '
        || 'of pairs' as method
from (select 1 as one) as base
cross join deals
left join observed on 1 = 1
