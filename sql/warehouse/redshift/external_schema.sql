-- The `spectrum` schema: Redshift's window on the lake, backed by a Glue Data Catalog database.
-- Runs outside a transaction (autocommit). Slots are validated literals (sql_files.render).
CREATE EXTERNAL SCHEMA IF NOT EXISTS spectrum
FROM DATA CATALOG
DATABASE '{{glue_database}}'
IAM_ROLE '{{iam_role_arn}}'
CREATE EXTERNAL DATABASE IF NOT EXISTS
