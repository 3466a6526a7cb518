-- `ubm doctor`: the Pagila tables the extraction (extract_user_purchase.sql) reads that this database lacks.
SELECT t.name
FROM unnest(ARRAY['payment', 'rental', 'inventory', 'film_category', 'category']) AS t(name)
WHERE to_regclass(t.name) IS NULL
ORDER BY t.name
