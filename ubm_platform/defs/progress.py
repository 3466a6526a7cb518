"""A Dagster logger for `ubm run`: one line per partition and asset instead of pages of run logs.

Assets log a partition's outcome as "<partition key>: <what happened>" (a day, YYYY-MM-DD, or an
hour, YYYY-MM-DD-HH:00), one partition per line, several lines to a message when they are logged
together; this logger prints just those lines. The full logs stay in the Dagster instance, as for any run.
"""

import logging
import re

from dagster import logger

_KEY = r"\d{4}-\d{2}-\d{2}(?:-\d{2}:\d{2})?|model"
PARTITION_MESSAGE = re.compile(rf"^({_KEY}): (.*)$", re.DOTALL)
# A message may hold several partitions' lines (defs/partitioned.PartitionLog): split before each key.
NEXT_PARTITION = re.compile(rf"\n(?=(?:{_KEY}): )")


class _ProgressHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        if record.levelno != logging.INFO or not meta.get("step_key"):
            return
        for part in NEXT_PARTITION.split(meta.get("orig_message") or ""):
            match = PARTITION_MESSAGE.match(part)
            if match:
                print(f"  {match.group(1):<10}  {meta['step_key']:<24} {match.group(2)}", flush=True)


@logger(description="Prints one line per partition and asset (used by `ubm run`).")
def progress_logger(_init_context) -> logging.Logger:
    progress = logging.Logger("ubm_platform.progress", level=logging.INFO)
    progress.addHandler(_ProgressHandler())
    return progress
