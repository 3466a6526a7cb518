{#- What publishing a window runs (the window_replace incremental strategy), compiled like the models
    so each target's text can be read and checked offline; dbt never runs an analysis. -#}
{%- set columns = [] -%}
{%- for name in ['customerid', 'amount_spent', 'purchase_count', 'review_score', 'review_count'] + ubm_partition_columns() -%}
  {%- do columns.append({'name': name}) -%}
{%- endfor -%}
{{ get_incremental_window_replace_sql({
    'target_relation': ref('user_behavior_metric'),
    'temp_relation': ref('user_behavior_metric_audit'),
    'dest_columns': columns,
}) }}
