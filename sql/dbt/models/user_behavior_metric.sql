{#- Write-audit-publish, step 3: the table analysts read. Each run replaces its window with the audited
    rows, a delete and an insert in one transaction (macros/window_replace.sql); dbt build reaches this
    model only when user_behavior_metric_audit's tests passed, so failing rows are never published. -#}
{{ config(materialized='incremental', incremental_strategy='window_replace', on_schema_change='fail') }}

select customerid, amount_spent, purchase_count, review_score, review_count, {{ ubm_partition_columns() | join(', ') }}
from {{ ref('user_behavior_metric_audit') }}
