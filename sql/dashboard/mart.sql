-- One of the analysts' marts, whole, for the dashboard: they are small tables (a row per day, per
-- genre pair, per quartile...), built by dbt (sql/dbt/models/questions, sql/dbt/models/dashboard).
SELECT *
FROM {{table}}
