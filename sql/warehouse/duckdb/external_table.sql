-- DuckDB's stand-in for a Spectrum external table: a view over a lake dataset's Parquet partitions.
-- Slots are filled with validated names and paths (sql_files.render), never with data.
CREATE SCHEMA IF NOT EXISTS spectrum;
CREATE OR REPLACE VIEW spectrum.{{table}} AS
SELECT *
FROM read_parquet('{{location}}/{{partition_glob}}/*.parquet', hive_partitioning = true, union_by_name = true)
