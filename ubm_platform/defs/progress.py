"""A Dagster logger for `ubm run`: one line per partition and asset instead of pages of run logs.

It prints what Dagster records, read from the events themselves: each materialization (a partition's,
or the model's) with its row count and the few numbers a person follows a run by, and each failed check.
The full logs stay in the Dagster instance, as for any run.
"""

import logging

from dagster import DagsterEvent, DagsterEventType, logger

# (metadata key, how it is printed), in the order printed
SHOWN = (
    ("dagster/row_count", "{} rows"),
    ("quarantined_rows", "{} quarantined"),
    ("model_version", "model {}"),
    ("macro_f1_3class", "macro-F1 {:.3f}"),
    ("neutral_recall", "neutral recall {:.3f}"),
    ("accuracy_3class", "3-class accuracy {:.3f}"),
)


def progress_line(event: DagsterEvent) -> str | None:
    """The line printed for an event, or None for the events not followed."""
    if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
        materialization = event.step_materialization_data.materialization
        values = {key: value.value for key, value in materialization.metadata.items()}
        what = ", ".join(form.format(values[key]) for key, form in SHOWN if key in values)
        return f"  {materialization.partition or '':<10}  {materialization.asset_key.to_user_string():<24} {what}"
    if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.asset_check_evaluation_data
        if not evaluation.passed:
            return (f"  {evaluation.partition or '':<10}  {evaluation.asset_key.to_user_string():<24} check {evaluation.check_name} "
                    f"failed ({evaluation.severity.value.lower()})")
    return None


class _ProgressHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        line = progress_line(event) if event is not None else None
        if line is not None:
            print(line, flush=True)


@logger(description="Prints one line per partition and asset (used by `ubm run`).")
def progress_logger(_init_context) -> logging.Logger:
    progress = logging.Logger("ubm_platform.progress", level=logging.DEBUG)
    progress.addHandler(_ProgressHandler())
    return progress
