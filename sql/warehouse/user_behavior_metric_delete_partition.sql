-- Re-materializing a partition replaces it: runs in the same transaction as the insert.
DELETE FROM user_behavior_metric WHERE {{partition_filter}}
