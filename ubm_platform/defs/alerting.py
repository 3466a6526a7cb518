"""Run failures and failed data-quality checks, reported through the alert resource."""

from dagster import (
    AssetCheckSeverity,
    DagsterEventType,
    DefaultSensorStatus,
    EventLogEntry,
    EventRecordsFilter,
    RunFailureSensorContext,
    SensorEvaluationContext,
    run_failure_sensor,
    sensor,
)

from ubm_platform.resources.alerts import AlertResource


def failure_lines(context: RunFailureSensorContext) -> list[str]:
    run = context.dagster_run
    lines = [f"run {run.run_id} of {run.job_name}", f"partition: {run.tags.get('dagster/partition', '-')}"]
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        lines.append(f"{event.step_key}: {error.message.strip().splitlines()[0] if error else 'failed'}")
    return lines


@run_failure_sensor(
    name="alert_on_run_failure",
    default_status=DefaultSensorStatus.RUNNING,
    description="Posts every failed run, with each failed step's reason, to the alert webhook and the log.",
    monitor_all_code_locations=False,
)
def alert_on_run_failure(context: RunFailureSensorContext, alerts: AlertResource):
    alerts.send(f"ubm_platform run failed: {context.dagster_run.job_name}", failure_lines(context))


def check_failure_lines(entry: EventLogEntry) -> list[str] | None:
    evaluation = entry.dagster_event.event_specific_data
    if evaluation.passed:
        return None
    severity = "ERROR (blocking)" if evaluation.severity == AssetCheckSeverity.ERROR else "WARN"
    numbers = ", ".join(f"{k}={v.value}" for k, v in evaluation.metadata.items())
    return [
        f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name} failed [{severity}]",
        f"partition: {evaluation.partition or '-'}, run {entry.run_id}",
        numbers,
    ]


@sensor(
    name="alert_on_failed_checks",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Posts every failed asset check (blocking or warning) to the alert webhook and the log.",
)
def alert_on_failed_checks(context: SensorEvaluationContext, alerts: AlertResource):
    cursor = int(context.cursor or 0)
    records = context.instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=cursor),
        ascending=True,
        limit=500,
    )
    for record in records:
        lines = check_failure_lines(record.event_log_entry)
        if lines:
            alerts.send("ubm_platform data-quality check failed", lines)
        cursor = max(cursor, record.storage_id)
    context.update_cursor(str(cursor))
