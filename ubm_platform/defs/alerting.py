"""Run failures and failed data-quality checks, reported through the alert resource."""

import json

from dagster import (
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    EventLogEntry,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from ubm_platform.defs.sensors import SENSOR_INTERVAL_S
from ubm_platform.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from ubm_platform.resources.alerts import AlertResource

# A run's check evaluations are final once the run has ended, whichever way it ended.
RUN_END_EVENTS = (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED)
RUNS_PER_TICK = 100


def run_partitions(run: DagsterRun) -> str:
    """The partition of a run, or the range of a single-run backfill."""
    tags = run.tags
    if RANGE_START_TAG in tags:
        return f"{tags[RANGE_START_TAG]}...{tags[RANGE_END_TAG]}"
    return tags.get(PARTITION_TAG, "-")


def failure_lines(context: RunFailureSensorContext) -> list[str]:
    run = context.dagster_run
    lines = [f"run {run.run_id} of {run.job_name}", f"partition: {run_partitions(run)}"]
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        lines.append(f"{event.step_key}: {error.message.strip().splitlines()[0] if error else 'failed'}")
    return lines


@run_failure_sensor(
    name="alert_on_run_failure",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=min(SENSOR_INTERVAL_S, 30),
    description="Posts every failed run, with each failed step's reason, to the alert webhook and the log.",
    monitor_all_code_locations=False,
)
def alert_on_run_failure(context: RunFailureSensorContext, alerts: AlertResource):
    alerts.send(f"ubm_platform run failed: {context.dagster_run.job_name}", failure_lines(context))


def check_failure_lines(entry: EventLogEntry, run: DagsterRun) -> list[str] | None:
    evaluation = entry.dagster_event.event_specific_data
    if evaluation.passed:
        return None
    severity = "ERROR (blocking)" if evaluation.severity == AssetCheckSeverity.ERROR else "WARN"
    numbers = ", ".join(f"{k}={v.value}" for k, v in evaluation.metadata.items())
    # The checks are evaluated once per run (a range run's say which days failed in their metadata),
    # so the partition is the run's.
    return [
        f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name} failed [{severity}]",
        f"partition: {evaluation.partition or run_partitions(run)}, run {entry.run_id}",
        numbers,
    ]


def _latest_run_end_cursors(instance: DagsterInstance) -> dict[str, str]:
    """Cursors at the newest run end of each kind: a sensor turned on starts from now, as
    alert_on_run_failure does, instead of posting the whole history of failed checks."""
    return {
        event_type.value: instance.fetch_run_status_changes(event_type, limit=1).cursor
        for event_type in RUN_END_EVENTS
    }


@sensor(
    name="alert_on_failed_checks",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    description="Posts every failed asset check (blocking or warning) of each run that ended to the alert "
    "webhook and the log.",
)
def alert_on_failed_checks(context: SensorEvaluationContext, alerts: AlertResource):
    # Storage-independent on purpose: a cross-run query of check evaluations by storage id fails on the
    # local SQLite instance (one database per run). Run-status changes are indexed by every storage, and
    # one run's events can always be read, so the cursor follows run ends (one cursor per kind of end)
    # and each ended run's check evaluations are read once. An older cursor (a plain storage id) restarts.
    cursor = json.loads(context.cursor) if context.cursor else None
    if not isinstance(cursor, dict):
        context.update_cursor(json.dumps(_latest_run_end_cursors(context.instance)))
        return SkipReason("started: alerting on failed checks of runs that end from now on")
    sent = 0
    for event_type in RUN_END_EVENTS:
        ended = context.instance.fetch_run_status_changes(
            event_type, limit=RUNS_PER_TICK, cursor=cursor.get(event_type.value), ascending=True
        )
        for run_end in ended.records:
            run = context.instance.get_run_by_id(run_end.run_id)
            evaluations = context.instance.get_records_for_run(
                run_end.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
            for record in evaluations:
                lines = check_failure_lines(record.event_log_entry, run)
                if lines:
                    alerts.send("ubm_platform data-quality check failed", lines)
                    sent += 1
        cursor[event_type.value] = ended.cursor
    context.update_cursor(json.dumps(cursor))
    if not sent:
        return SkipReason("no failed check in the runs that ended since the last tick")
