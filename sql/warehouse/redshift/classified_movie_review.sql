-- The lake's stage/classified_movie_review/ Parquet partitions (written by
-- spark_jobs/classify_movie_review.py) as a Spectrum external table.
-- Columns match CLASSIFIED_SCHEMA (ubm_platform/defs/movie_review/assets.py).
-- Runs outside a transaction (autocommit), as Redshift requires for external DDL.
CREATE EXTERNAL TABLE spectrum.classified_movie_review (
    cid BIGINT,
    review_id VARCHAR(256),
    positive_review BOOLEAN,
    sentiment VARCHAR(256),
    probability DOUBLE PRECISION,
    model_version VARCHAR(256),
    film_id BIGINT
)
PARTITIONED BY ({{partition_columns_typed}})
STORED AS PARQUET
LOCATION '{{location}}/'
