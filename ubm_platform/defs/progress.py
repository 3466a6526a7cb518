"""A Dagster logger for `ubm run`: one line per partition and asset instead of pages of run logs.

Assets log a partition's outcome as "<partition key>: <what happened>" (a day, YYYY-MM-DD, or an
hour, YYYY-MM-DD-HH:00); this logger prints just those lines. The full logs stay in the Dagster instance, as for any run.
"""

import logging
import re

from dagster import logger

PARTITION_MESSAGE = re.compile(r"^(\d{4}-\d{2}-\d{2}(?:-\d{2}:\d{2})?|model): (.*)$", re.DOTALL)


class _ProgressHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        match = PARTITION_MESSAGE.match(meta.get("orig_message") or "")
        if record.levelno == logging.INFO and match and meta.get("step_key"):
            print(f"  {match.group(1):<10}  {meta['step_key']:<24} {match.group(2)}", flush=True)


@logger(description="Prints one line per partition and asset (used by `ubm run`).")
def progress_logger(_init_context) -> logging.Logger:
    progress = logging.Logger("ubm_platform.progress", level=logging.INFO)
    progress.addHandler(_ProgressHandler())
    return progress
