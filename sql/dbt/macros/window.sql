{#- The partition window a run is given (vars window_start, window_end: ISO timestamps, UTC) and the
    partition columns of the platform's granularity (UBM_PARTITION, as ubm_platform/partitions.py). -#}

{% macro ubm_hourly() %}
  {{ return(env_var('UBM_PARTITION', 'daily') == 'hourly') }}
{% endmacro %}

{% macro ubm_partition_columns() %}
  {{ return(['insert_date', 'insert_hour'] if ubm_hourly() else ['insert_date']) }}
{% endmacro %}

{% macro ubm_partition_types() %}
  {{ return({'insert_date': 'date', 'insert_hour': 'smallint'}) }}
{% endmacro %}

{% macro ubm_parse_timestamp(name) %}
  {%- set text = var(name) -%}
  {%- set value = modules.datetime.datetime.fromisoformat(text | string) -%}
  {%- if value.tzinfo is not none -%}
    {%- set value = value.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
  {%- endif -%}
  {%- if value.minute or value.second or value.microsecond or (value.hour and not ubm_hourly()) -%}
    {{ exceptions.raise_compiler_error(name ~ "=" ~ text ~ " is not on a partition boundary") }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{% macro ubm_window() %}
  {#- At parse time no window is needed (dagster-dbt parses the project without vars). -#}
  {%- if var('window_start') is none or var('window_end') is none -%}
    {%- if execute -%}
      {{ exceptions.raise_compiler_error("give the partition window: --vars '{window_start: ..., window_end: ...}'") }}
    {%- endif -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set start, end = ubm_parse_timestamp('window_start'), ubm_parse_timestamp('window_end') -%}
  {%- if end <= start -%}
    {{ exceptions.raise_compiler_error("window_end must be after window_start") }}
  {%- endif -%}
  {{ return({'start': start, 'end': end}) }}
{% endmacro %}

{#- The partitions whose start lies in [window_start, window_end): a filter on the partition columns
    only, so DuckDB and Spectrum read no other partition. -#}
{% macro ubm_in_window() %}
  {%- set window = ubm_window() -%}
  {%- if window is none -%}{{ return('1 = 1') }}{%- endif -%}
  {%- set first, last = window.start.date(), (window.end - modules.datetime.timedelta(microseconds=1)).date() -%}
  {%- if ubm_hourly() %}
    insert_date between cast('{{ first }}' as date) and cast('{{ last }}' as date)
    and (insert_date > cast('{{ first }}' as date) or insert_hour >= {{ window.start.hour }})
    and (insert_date < cast('{{ window.end.date() }}' as date) or insert_hour < {{ window.end.hour }})
  {%- else %}
    insert_date between cast('{{ first }}' as date) and cast('{{ last }}' as date)
  {%- endif %}
{% endmacro %}

{#- `left.c = right.c and ...` over the partition columns. -#}
{% macro ubm_partition_join(left, right) %}
  {%- for column in ubm_partition_columns() -%}
    {{ left }}.{{ column }} = {{ right }}.{{ column }}{{ ' and ' if not loop.last }}
  {%- endfor -%}
{% endmacro %}

{#- The partition columns of a full outer join, from whichever side has them, in their published types. -#}
{% macro ubm_partition_coalesce(left, right) %}
  {%- for column in ubm_partition_columns() -%}
    cast(coalesce({{ left }}.{{ column }}, {{ right }}.{{ column }}) as {{ ubm_partition_types()[column] }}) as {{ column }}{{ ', ' if not loop.last }}
  {%- endfor -%}
{% endmacro %}
