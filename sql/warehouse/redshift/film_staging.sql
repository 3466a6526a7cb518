-- The lake's stage/film/ snapshot (film_staging, ubm_platform/defs/pagila/assets.py) as a Spectrum
-- external table; columns match its schema there. Runs outside a transaction (autocommit).
CREATE EXTERNAL TABLE spectrum.film_staging (
    film_id BIGINT,
    title VARCHAR(256),
    release_year INTEGER,
    language VARCHAR(256),
    rating VARCHAR(256),
    length INTEGER,
    rental_rate DECIMAL(4, 2),
    rental_duration INTEGER,
    replacement_cost DECIMAL(5, 2)
)
STORED AS PARQUET
LOCATION '{{location}}/'
