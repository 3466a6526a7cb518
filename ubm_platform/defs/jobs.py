"""Jobs and schedules over the asset graph."""

from dagster import AssetSelection, build_schedule_from_partitioned_job, define_asset_job

from ubm_platform.partitions import GRANULARITY, HOURLY

DAILY_ASSETS = (
    AssetSelection.assets("user_purchase_staging", "movie_review_raw", "classified_movie_review")
    # the extractions of the star schema's sources, the star schema, the metric and the analysts' questions
    | AssetSelection.groups("staging", "star_schema", "warehouse", "analytics")
)

daily_pipeline_job = define_asset_job(
    "daily_pipeline_job",
    selection=DAILY_ASSETS,
    description="Everything one day of user_behavior_metric and the star schema needs, in dependency order "
    "(the dimensions are refreshed whole at each run).",
)
sentiment_model_job = define_asset_job(
    "sentiment_model_job",
    selection=AssetSelection.assets("sentiment_model"),
    description="Retrain the sentiment model (kept out of the daily job: a model is not retrained daily).",
)
# Stopped by default, as Dagster does; turn it on in the UI (Automation) or with
# `dagster schedule start daily_pipeline_job_schedule`. It runs each partition once it has ended:
# a day at 02:00 UTC the next day, an hour (UBM_PARTITION=hourly) at 15 minutes past the next hour.
daily_pipeline_schedule = build_schedule_from_partitioned_job(
    daily_pipeline_job, **({"minute_of_hour": 15} if GRANULARITY is HOURLY else {"hour_of_day": 2})
)
