"""The platform's partitioning: one partition per UTC day."""

from datetime import timedelta

from dagster import DailyPartitionsDefinition, FreshnessPolicy

from ubm_platform.settings import load_settings

daily_partitions = DailyPartitionsDefinition(
    start_date=load_settings().partition_start, timezone="UTC", fmt="%Y-%m-%d"
)

# The daily assets are expected by 06:00 UTC with the previous day's data.
DAILY_FRESHNESS = FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=24))
