-- The lake's stage/user_purchase/ Parquet partitions as a Spectrum external table.
-- Columns match USER_PURCHASE_SCHEMA (ubm_platform/defs/user_purchase/extract.py); the Parquet
-- timestamps are UTC instants. Partitions are added one by one (add_partition.sql) as days are published.
-- Runs outside a transaction (autocommit), as Redshift requires for external DDL.
CREATE EXTERNAL TABLE spectrum.user_purchase_staging (
    payment_id BIGINT,
    customer_id BIGINT,
    rental_id BIGINT,
    film_id BIGINT,
    category VARCHAR(256),
    amount DECIMAL(18, 5),
    payment_ts TIMESTAMP,
    rental_ts TIMESTAMP
)
PARTITIONED BY ({{partition_columns_typed}})
STORED AS PARQUET
LOCATION '{{location}}/'
