{#- What the analysts' questions (models/questions/) share: their window, numbers to count replicates with,
    and reproducible pseudo-random draws for resampling. -#}

{#- A setting given as a var or, read only while executing (no new parse, see ubm_window_bound), as the
    environment variable UBM_<NAME>; none when neither is set. -#}
{% macro ubm_setting(name) %}
  {%- set value = var(name, none) -%}
  {%- if value is none and execute -%}
    {%- set value = env_var('UBM_' ~ name | upper, '') or none -%}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{#- The questions' window on a date column: question_from .. question_to (ISO dates, both included), by
    default all the history in the facts. -#}
{% macro ubm_question_window(column) %}
  {%- set first, last = ubm_setting('question_from'), ubm_setting('question_to') -%}
  {%- set bounds = [] -%}
  {%- if first %}{% do bounds.append(column ~ " >= cast('" ~ modules.datetime.date.fromisoformat(first | string) ~ "' as date)") %}{% endif -%}
  {%- if last %}{% do bounds.append(column ~ " <= cast('" ~ modules.datetime.date.fromisoformat(last | string) ~ "' as date)") %}{% endif -%}
  {{ return(bounds | join(' and ') or '1 = 1') }}
{% endmacro %}

{#- The integers 0 .. count - 1 as column `n`, from a cross join of digits (Redshift's generate_series runs on
    the leader node only). -#}
{% macro ubm_numbers(count) %}
  {%- set places = [1] -%}
  {%- for _ in range(12) if places[-1] * 10 < count %}{% do places.append(places[-1] * 10) %}{% endfor -%}
  select {% for place in places %}d{{ loop.index }}.d * {{ place }}{{ ' + ' if not loop.last }}{% endfor %} as n
  from {% for place in places %}(select 0 as d union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9) as d{{ loop.index }}{{ ' cross join ' if not loop.last }}{% endfor %}
  where {% for place in places %}d{{ loop.index }}.d * {{ place }}{{ ' + ' if not loop.last }}{% endfor %} < {{ count }}
{% endmacro %}

{#- Reproducible pseudo-random draws from a hash of `parts` (SQL expressions: a label, a unit's id, a
    replicate): the same draw for the same parts, so a resampling gives the same answer every run.
    ubm_random_key: a value to order by (a shuffle); ubm_uniform: a draw in [0, 1). The parts are hashed as
    one text: DuckDB's hash of several small integers is far from independent draws (the sum of 1,000 draws
    varies a sixth as much as it should). -#}
{% macro ubm_random_key(parts) %}{{ return(adapter.dispatch('ubm_random_key')(parts)) }}{% endmacro %}
{% macro default__ubm_random_key(parts) %}md5({{ ubm_hash_text(parts) }}){% endmacro %}
{% macro duckdb__ubm_random_key(parts) %}hash({{ ubm_hash_text(parts) }}){% endmacro %}

{% macro ubm_uniform(parts) %}{{ return(adapter.dispatch('ubm_uniform')(parts)) }}{% endmacro %}
{% macro default__ubm_uniform(parts) %}('x' || '00000000' || substr(md5({{ ubm_hash_text(parts) }}), 1, 8))::bit(64)::bigint / 4294967296.0{% endmacro %}
{% macro duckdb__ubm_uniform(parts) %}(hash({{ ubm_hash_text(parts) }}) % 4294967296) / 4294967296.0{% endmacro %}
{% macro redshift__ubm_uniform(parts) %}strtol(substring(md5({{ ubm_hash_text(parts) }}), 1, 8), 16) / 4294967296.0{% endmacro %}

{% macro ubm_hash_text(parts) %}{% for part in parts %}cast({{ part }} as varchar){{ " || '-' || " if not loop.last }}{% endfor %}{% endmacro %}

{#- A Poisson(1) weight from a uniform draw (the Poisson bootstrap: each unit counts 0, 1, 2... times). -#}
{% macro ubm_poisson_weight(uniform) %}
  case when {{ uniform }} < 0.36787944 then 0 when {{ uniform }} < 0.73575888 then 1
       when {{ uniform }} < 0.91969860 then 2 when {{ uniform }} < 0.98101184 then 3
       when {{ uniform }} < 0.99634015 then 4 when {{ uniform }} < 0.99940582 then 5 else 6 end
{% endmacro %}

{#- Resampling settings: replicates of the bootstraps and permutations. -#}
{% macro ubm_replicates() %}{{ return(var('question_replicates', 500) | int) }}{% endmacro %}

{#- The rows a permutation may make (a row per pair a shuffle, per customer a deal): what bounds its time and memory as data grows. -#}
{% macro ubm_permutation_budget() %}{{ return((ubm_setting('question_permutation_budget') or 2000000) | int) }}{% endmacro %}

{#- The bootstrap's units: the rows of `relation` (a CTE) dealt by a hash of their `unit` (a customer) into
    at most 1,000 groups, `columns` summed per group. The groups are random sets of customers, independent
    of each other as customers are, so resampling them resamples customers (the random-groups method); it
    costs a row per group and replicate, however many the customers. -#}
{% macro ubm_bootstrap_groups(relation, unit, columns, label) %}
  select cast(floor({{ ubm_uniform(["'" ~ label ~ "-group'", unit]) }} * 1000) as integer) as unit_group,
         {% for column in columns %}sum({{ column }}) as {{ column }}{{ ', ' if not loop.last }}{% endfor %}
  from {{ relation }}
  group by 1
{% endmacro %}

{#- The rows of `groups` (a CTE from ubm_bootstrap_groups) in every replicate of the CTE `replicates`, each with
    its Poisson bootstrap weight in that replicate. -#}
{% macro ubm_bootstrap_rows(groups, columns, label) %}
  select replicate, {{ columns | join(', ') }}, {{ ubm_poisson_weight('uniform') }} as weight
  from (  -- the draw once a row: the weight's cases compare it six times
      select
          replicates.n as replicate,
          {%- for column in columns %}
          {{ groups }}.{{ column }},
          {%- endfor %}
          {{ ubm_uniform(["'" ~ label ~ "'", groups ~ ".unit_group", 'replicates.n']) }} as uniform
      from {{ groups }} cross join replicates
  ) as drawn
{% endmacro %}

{#- A bootstrap's 95% percentile interval of `statistic` over the replicates in `relation`, and its two-sided
    p-value against `null_value` (the share of replicates on the other side of it, doubled, add-one). -#}
{% macro ubm_bootstrap_interval(relation, statistic, null_value) %}
  select
      percentile_cont(0.025) within group (order by {{ statistic }}) as low,
      percentile_cont(0.975) within group (order by {{ statistic }}) as high,
      least(1.0, 2.0 * (1 + least(sum(case when {{ statistic }} <= {{ null_value }} then 1 else 0 end),
                                  sum(case when {{ statistic }} >= {{ null_value }} then 1 else 0 end)))
                 / ({{ ubm_replicates() }} + 1)) as p_value
  from {{ relation }}
  where {{ statistic }} is not null
{% endmacro %}
