{#- The partition window a run is given (window_start, window_end: ISO timestamps, UTC) and the
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

{#- A window bound: the var of that name, or else (the platform's way) the environment variable
    UBM_WINDOW_START / UBM_WINDOW_END, read only while executing: dbt re-parses the whole project when the
    vars change, never for an environment variable its parse did not read, so each day's run of the
    platform parses nothing again. -#}
{% macro ubm_window_bound(name) %}
  {%- set text = var(name) -%}
  {%- if text is none and execute -%}
    {%- set text = env_var('UBM_' ~ name | upper, '') or none -%}
  {%- endif -%}
  {{ return(text) }}
{% endmacro %}

{% macro ubm_parse_timestamp(name, text) %}
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
  {%- set start_text, end_text = ubm_window_bound('window_start'), ubm_window_bound('window_end') -%}
  {#- At parse time no window is needed (dagster-dbt parses the project without one). -#}
  {%- if start_text is none or end_text is none -%}
    {%- if execute -%}
      {{ exceptions.raise_compiler_error("give the partition window: --vars '{window_start: ..., window_end: ...}' or UBM_WINDOW_START / UBM_WINDOW_END") }}
    {%- endif -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set start, end = ubm_parse_timestamp('window_start', start_text), ubm_parse_timestamp('window_end', end_text) -%}
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
