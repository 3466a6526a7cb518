-- DuckDB's stand-in for the Spectrum external table of an unpartitioned lake dataset (a snapshot
-- replaced whole at each run): a view over its Parquet files.
CREATE SCHEMA IF NOT EXISTS spectrum;
CREATE OR REPLACE VIEW spectrum.{{table}} AS
SELECT *
FROM read_parquet('{{location}}/*.parquet')
