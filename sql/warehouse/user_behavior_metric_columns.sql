-- The metric table's columns as the warehouse has them (the schema check).
SELECT column_name, data_type
FROM information_schema.columns
WHERE table_name = 'user_behavior_metric' AND table_schema = current_schema()
ORDER BY ordinal_position
