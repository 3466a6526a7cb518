"""The vendor's file drives the day: a new (or re-delivered) file launches that day's run; runs of killed
processes are marked failed."""

import json

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from ubm_platform.defs.jobs import daily_pipeline_job
from ubm_platform.partitions import partitions_def
from ubm_platform.resources.lake import LakeIOManager, LandingResource
from ubm_platform.runs import reap
from ubm_platform.settings import load_settings


# Seconds between two evaluations of a sensor by the daemon (this one and the alert sensors): an
# operational setting, which also lets the tests watch several real daemon ticks in seconds.
SENSOR_INTERVAL_S = load_settings().sensor_interval_s


@sensor(
    job=daily_pipeline_job,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=DefaultSensorStatus.STOPPED,
    description="Watches the landing area (local folder or S3 prefix) and runs the day's pipeline when "
    "its review file arrives; the cursor remembers each file's size and time so no file launches twice.",
)
def vendor_file_sensor(context: SensorEvaluationContext, landing: LandingResource):
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    valid_days = set(partitions_def.get_partition_keys(dynamic_partitions_store=context.instance))
    requests = []
    for day, signature in sorted(landing.arrived_review_files().items()):
        if day in valid_days and seen.get(day) != signature:
            requests.append(RunRequest(run_key=f"{day}:{signature}", partition_key=day))
            seen[day] = signature
    context.update_cursor(json.dumps(seen, sort_keys=True))
    return requests or SkipReason("no new vendor file")


@sensor(minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Marks FAILED the `ubm run` runs whose process was killed and removes the lake staging "
                    "folders of finished runs (ubm_platform/runs.py).")
def dead_run_sensor(context: SensorEvaluationContext, lake: LakeIOManager):
    reaped = reap(context.instance, lake)
    if reaped.runs or reaped.staging:
        context.log.warning(str(reaped))
    return SkipReason(str(reaped))
