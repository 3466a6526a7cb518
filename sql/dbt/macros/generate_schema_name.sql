{#- A model's custom schema is used as named (ubm_audit), not prefixed with the target's schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
