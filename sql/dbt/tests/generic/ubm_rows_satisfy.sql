{#- Every row satisfies `condition` (a SQL expression over the model's columns). -#}
{% test ubm_rows_satisfy(model, condition) %}
select *
from {{ model }}
where not ({{ condition }})
{% endtest %}
