-- Re-materializing a day replaces it: runs in the same transaction as the insert.
DELETE FROM user_behavior_metric WHERE insert_date = CAST(:insert_date AS DATE)
