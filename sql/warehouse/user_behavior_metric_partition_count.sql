SELECT count(*) FROM user_behavior_metric WHERE insert_date = CAST(:insert_date AS DATE)
