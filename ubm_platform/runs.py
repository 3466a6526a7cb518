"""Runs whose process died: marked FAILED in the Dagster instance, their lake staging removed.

`ubm run` executes jobs inside the `ubm` process (execute_in_process), so no run launcher or code server
watches that process, and a `kill -9` leaves the run STARTED for ever. Such runs carry the host, pid and
start time of their process (`process_tags`); `reap_dead_runs` fails those whose process is gone, and
`remove_staging_leftovers` deletes the `_staging` folders of runs that are not in progress.
`ubm run` calls `reap` when it starts; `dead_run_sensor` (defs/sensors.py) does it every 30 s under the
daemon.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import psutil
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunsFilter,
)

from ubm_platform.resources.lake import LakeIOManager

HOST_TAG = "ubm/host"
PID_TAG = "ubm/pid"
# The process's start time: a pid reused by another process after a reboot or a long time is not the run's.
PROCESS_STARTED_TAG = "ubm/process_started"
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
UNFINISHED = [status for status in DagsterRunStatus if status not in FINISHED]
# A staging folder naming no run this instance knows (an older version's, a run deleted since) is removed
# only once nothing in it has changed for this long: it may be another Dagster instance's run at work.
UNKNOWN_STAGING_MAX_AGE_S = 24 * 3600


def process_tags() -> dict[str, str]:
    """Tags naming this process, for the runs executed inside it."""
    me = psutil.Process()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(me.pid), PROCESS_STARTED_TAG: f"{me.create_time():.2f}"}


def process_is_gone(run: DagsterRun) -> bool:
    """True when the run names a process of this host (process_tags) that no longer runs."""
    tags = run.tags
    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return False  # not executed in a process of ours: its launcher or code server watches it
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        return abs(process.create_time() - float(tags.get(PROCESS_STARTED_TAG, "nan"))) > 1
    except psutil.NoSuchProcess:
        return True


def reap_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark FAILED every unfinished run whose process is gone; their run ids."""
    reaped = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        if process_is_gone(run):
            # No @public call marks a run failed (the UI's "terminate" marks it CANCELED);
            # report_run_failed is what Dagster's own run monitoring calls. dagster-io/dagster#3239
            instance.report_run_failed(
                run,
                f"The process that executed this run (pid {run.tags[PID_TAG]} on {run.tags[HOST_TAG]}) is gone: "
                "it was killed or its machine stopped. Marked failed by ubm_platform.runs.",
            )
            reaped.append(run.run_id)
    return reaped


def remove_staging_leftovers(instance: DagsterInstance, lake: LakeIOManager) -> list[str]:
    """Remove the lake's staging folders of runs that are not in progress; their paths.

    A folder of an unfinished run stays, whoever runs it; one of a finished run goes; one naming no
    run of this instance goes once it has been left untouched for UNKNOWN_STAGING_MAX_AGE_S."""
    removed = []
    for leftover in lake.staging_leftovers():
        # looked up after listing: a run that made its folder since was in the instance before it
        run = instance.get_run_by_id(leftover.run_id) if leftover.run_id else None
        if run is not None and run.status not in FINISHED:
            continue
        if run is not None or time.time() - (leftover.modified or time.time()) > UNKNOWN_STAGING_MAX_AGE_S:
            lake.remove(leftover.path)
            removed.append(leftover.path)
    return removed


@dataclass
class Reaped:
    runs: list[str] = field(default_factory=list)
    staging: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"marked {len(self.runs)} run(s) of killed processes failed ({', '.join(self.runs) or '-'}); "
                f"removed {len(self.staging)} staging folder(s) of finished runs")


def reap(instance: DagsterInstance, lake: LakeIOManager) -> Reaped:
    """Fail the runs whose process died, then remove the staging folders of every finished run."""
    return Reaped(reap_dead_runs(instance), remove_staging_leftovers(instance, lake))

