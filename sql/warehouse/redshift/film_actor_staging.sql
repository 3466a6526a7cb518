-- The lake's stage/film_actor/ snapshot (film_actor_staging, ubm_platform/defs/pagila/assets.py) as a
-- Spectrum external table. Runs outside a transaction (autocommit).
CREATE EXTERNAL TABLE spectrum.film_actor_staging (
    film_id BIGINT,
    actor_id BIGINT,
    first_name VARCHAR(256),
    last_name VARCHAR(256)
)
STORED AS PARQUET
LOCATION '{{location}}/'
