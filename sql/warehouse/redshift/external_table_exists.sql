-- 1 when spectrum.<table_name> exists (Redshift has no CREATE EXTERNAL TABLE IF NOT EXISTS), else 0.
SELECT count(*) FROM svv_external_tables WHERE schemaname = 'spectrum' AND tablename = :table_name
