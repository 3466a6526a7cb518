{#- The distribution of user_behavior_metric over its rows (one customer and partition each): how many rows
    spent each whole-dollar amount (amount_spent rounded down), made each number of purchases, wrote each
    number of reviews. -#}
select 'amount_spent' as measure, cast(floor(amount_spent) as bigint) as value, count(*) as metric_rows
from {{ ref('user_behavior_metric') }}
group by floor(amount_spent)
union all
select 'purchase_count' as measure, cast(purchase_count as bigint) as value, count(*) as metric_rows
from {{ ref('user_behavior_metric') }}
group by purchase_count
union all
select 'review_count' as measure, cast(review_count as bigint) as value, count(*) as metric_rows
from {{ ref('user_behavior_metric') }}
group by review_count
