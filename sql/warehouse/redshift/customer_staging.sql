-- The lake's stage/customer/ snapshot (customer_staging, ubm_platform/defs/pagila/assets.py) as a
-- Spectrum external table; columns match its schema there. Runs outside a transaction (autocommit).
CREATE EXTERNAL TABLE spectrum.customer_staging (
    customer_id BIGINT,
    store_id BIGINT,
    first_name VARCHAR(256),
    last_name VARCHAR(256),
    email VARCHAR(256),
    active BOOLEAN,
    create_date DATE,
    address_id BIGINT,
    address VARCHAR(256),
    district VARCHAR(256),
    postal_code VARCHAR(256),
    city VARCHAR(256),
    country VARCHAR(256)
)
STORED AS PARQUET
LOCATION '{{location}}/'
