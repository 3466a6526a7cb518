{#- The metric's key is the customer and the partition (insert_date, and insert_hour when hourly). -#}

{% test ubm_keys_not_null(model) %}
select *
from {{ model }}
where customerid is null
{%- for column in ubm_partition_columns() %} or {{ column }} is null{% endfor %}
{% endtest %}

{% test ubm_unique_keys(model) %}
{%- set key = (['customerid'] + ubm_partition_columns()) | join(', ') %}
select {{ key }}, count(*) as rows_with_key
from {{ model }}
group by {{ key }}
having count(*) > 1
{% endtest %}
