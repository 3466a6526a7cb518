-- `ubm doctor`: the Pagila tables the extractions (sql/oltp/*.sql) read that this database lacks.
SELECT t.name
FROM unnest(ARRAY['payment', 'rental', 'inventory', 'film_category', 'category', 'film', 'language',
                  'film_actor', 'actor', 'customer', 'address', 'city', 'country']) AS t(name)
WHERE to_regclass(t.name) IS NULL
ORDER BY t.name
