{#- Each customer with at least two rentals in the questions' window: how many, and their activity quartile
    (NTILE(4) over (activity, customer_id), 1 = least active). -#}
select customer_id, rentals, ntile(4) over (order by rentals, customer_id) as activity_quartile
from (
    select customer_id, count(*) as rentals
    from {{ ref('question_rentals') }}
    group by customer_id
    having count(*) >= 2
) as counted
