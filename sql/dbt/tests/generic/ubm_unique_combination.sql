{#- No two rows share the values of `columns` (a bridge's composite key). -#}
{% test ubm_unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
