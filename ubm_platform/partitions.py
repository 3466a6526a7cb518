"""The platform's partitioning: one partition per UTC day."""

from dagster import DailyPartitionsDefinition

from ubm_platform.settings import load_settings

daily_partitions = DailyPartitionsDefinition(
    start_date=load_settings().partition_start, timezone="UTC", fmt="%Y-%m-%d"
)
