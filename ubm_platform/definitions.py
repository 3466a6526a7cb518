"""The Dagster code location: `defs` is what `dagster dev`, the CLI and workspace.yaml load."""

from dagster import Definitions, colored_console_logger

from ubm_platform.defs.alerting import alert_on_failed_checks, alert_on_run_failure
from ubm_platform.defs.jobs import (
    daily_pipeline_job,
    daily_pipeline_schedule,
    movie_review_landing_job,
    sentiment_model_job,
)
from ubm_platform.defs.movie_review.assets import classified_movie_review, movie_review_raw
from ubm_platform.defs.progress import progress_logger
from ubm_platform.defs.sensors import vendor_file_sensor
from ubm_platform.defs.sentiment.assets import sentiment_model
from ubm_platform.defs.user_purchase.assets import user_purchase_staging
from ubm_platform.defs.warehouse.assets import user_behavior_metric
from ubm_platform.environments import EXECUTOR_BY_ENV, resources_for
from ubm_platform.settings import load_settings

settings = load_settings()

defs = Definitions(
    assets=[user_purchase_staging, movie_review_raw, sentiment_model, classified_movie_review, user_behavior_metric],
    jobs=[daily_pipeline_job, sentiment_model_job, movie_review_landing_job],
    schedules=[daily_pipeline_schedule],
    sensors=[vendor_file_sensor, alert_on_run_failure, alert_on_failed_checks],
    resources=resources_for(settings),
    executor=EXECUTOR_BY_ENV[settings.env],
    loggers={"console": colored_console_logger, "progress": progress_logger},
)
