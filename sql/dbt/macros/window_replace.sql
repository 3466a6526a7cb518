{#- A custom incremental strategy: delete the run's whole window, then insert the new rows. dbt's
    delete+insert deletes only the keys the new rows have, so a customer who dropped out of a re-run
    partition (or a partition now empty) would keep stale rows. Runs inside the materialization's
    transaction on both adapters. -#}
{% macro get_incremental_window_replace_sql(arg_dict) %}
  {%- set target = arg_dict['target_relation'] -%}
  {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
  delete from {{ target }} where {{ ubm_in_window() }};
  insert into {{ target }} ({{ columns }})
  select {{ columns }} from {{ arg_dict['temp_relation'] }}
{% endmacro %}
