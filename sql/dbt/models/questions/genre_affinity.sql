{#- When a customer rents a film of a genre, is the next rental likely of the same genre? One row.

    observed_share: of the consecutive pairs (a customer's rental and the next), those whose films share a
    genre. expected_share: the same share if each customer's rentals came in a random order, exactly: in a
    random order of n rentals each of the n - 1 adjacent pairs is a random pair of them, so a customer
    contributes (n - 1) x S / C(n, 2) = 2 S / n same-genre pairs, S being how many of the C(n, 2) pairs of
    their rentals share a genre. lift = observed / expected: 1 when order does not matter. The interval and
    the p-value resample customers (a Poisson bootstrap, reproducible), so a few very active customers
    cannot make the answer look surer than it is. -#}
{%- set replicates = ubm_replicates() %}

with rentals as (
    select customer_id, rental_id, film_id, next_film_id, next_rental_id from {{ ref('question_rentals') }}
),

genres as (select distinct film_id, category from {{ ref('bridge_film_category') }}),

share_a_genre as (  -- pairs of films with a genre in common (a film with a genre shares it with itself)
    select distinct a.film_id as film_a, b.film_id as film_b
    from genres as a join genres as b on b.category = a.category
),

observed as (
    select
        rentals.customer_id,
        count(*) as pairs,
        sum(case when share_a_genre.film_a is not null then 1 else 0 end) as same_genre
    from rentals
    left join share_a_genre on share_a_genre.film_a = rentals.film_id and share_a_genre.film_b = rentals.next_film_id
    where rentals.next_rental_id is not null
    group by rentals.customer_id
),

sharing_pairs as (  -- S: unordered pairs of a customer's rentals that share a genre
    select r1.customer_id, count(*) as sharing
    from rentals as r1
    join rentals as r2 on r2.customer_id = r1.customer_id and r2.rental_id > r1.rental_id
    join share_a_genre on share_a_genre.film_a = r1.film_id and share_a_genre.film_b = r2.film_id
    group by r1.customer_id
),

customers as (
    select
        observed.customer_id,
        observed.pairs,
        observed.same_genre,
        2.0 * coalesce(sharing_pairs.sharing, 0) / (observed.pairs + 1) as expected_same
    from observed
    left join sharing_pairs on sharing_pairs.customer_id = observed.customer_id
),

customer_groups as ({{ ubm_bootstrap_groups('customers', 'customer_id', ['same_genre', 'expected_same'], 'genre_affinity') }}),

replicates as ({{ ubm_numbers(replicates) }}),

resampled as (
    select replicate, sum(weight * same_genre) / nullif(sum(weight * expected_same), 0) as lift
    from ({{ ubm_bootstrap_rows('customer_groups', ['same_genre', 'expected_same'], 'genre_affinity') }}) as weighted
    group by replicate
),

totals as (
    select sum(pairs) as pairs, sum(same_genre) as same_genre, sum(expected_same) as expected_same from customers
),

interval as ({{ ubm_bootstrap_interval('resampled', 'lift', 1) }})

select
    cast(totals.pairs as bigint) as consecutive_pairs,
    cast(totals.same_genre as bigint) as same_genre_pairs,
    1.0 * totals.same_genre / nullif(totals.pairs, 0) as observed_share,
    totals.expected_share,
    totals.lift,
    interval.low as lift_ci_low,
    interval.high as lift_ci_high,
    interval.p_value,
    'expected_share: exact, the mean over random orders of each customer''s rentals; interval: 95% percentile '
        || 'bootstrap over customers (in 1,000 random groups; {{ replicates }} Poisson-weighted replicates); p_value: two-sided, from the '
        || 'same bootstrap, against lift = 1' as method
from (
    select pairs, same_genre, 1.0 * expected_same / nullif(pairs, 0) as expected_share,
           1.0 * same_genre / nullif(expected_same, 0) as lift
    from totals
) as totals
cross join interval
