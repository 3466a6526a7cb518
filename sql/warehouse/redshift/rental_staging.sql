-- The lake's stage/rental/ Parquet partitions (rental_staging, ubm_platform/defs/pagila/assets.py) as a
-- Spectrum external table; columns match RENTAL_SCHEMA. Runs outside a transaction (autocommit).
CREATE EXTERNAL TABLE spectrum.rental_staging (
    rental_id BIGINT,
    customer_id BIGINT,
    inventory_id BIGINT,
    film_id BIGINT,
    store_id BIGINT,
    staff_id BIGINT,
    rental_ts TIMESTAMP,
    return_ts TIMESTAMP
)
PARTITIONED BY ({{partition_columns_typed}})
STORED AS PARQUET
LOCATION '{{location}}/'
