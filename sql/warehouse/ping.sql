-- `ubm doctor`: the warehouse answers a query (DuckDB and Redshift alike).
SELECT 1 AS answered
