-- Make a published lake partition visible to Spectrum. Re-registering a partition is a no-op (the
-- location does not change: a re-run replaces the files under it). Outside a transaction (autocommit).
ALTER TABLE spectrum.{{table}}
ADD IF NOT EXISTS PARTITION ({{partition_spec}})
LOCATION '{{location}}/{{partition_path}}/'
