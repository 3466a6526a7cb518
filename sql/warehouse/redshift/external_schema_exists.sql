-- 1 when the `spectrum` external schema exists (Redshift system view), else 0.
SELECT count(*) FROM svv_external_schemas WHERE schemaname = 'spectrum'
