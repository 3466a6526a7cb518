-- The lake's stage/film_category/ snapshot (film_category_staging, ubm_platform/defs/pagila/assets.py) as
-- a Spectrum external table. Runs outside a transaction (autocommit).
CREATE EXTERNAL TABLE spectrum.film_category_staging (
    film_id BIGINT,
    category VARCHAR(256)
)
STORED AS PARQUET
LOCATION '{{location}}/'
