"""A job whose run worker waits (test_dead_runs kills it): it writes its pid to $UBM_TEST_PID_FILE, then sleeps."""

import os
import time
from pathlib import Path

from dagster import Definitions, in_process_executor, job, op


@op
def wait_to_be_killed() -> None:
    Path(os.environ["UBM_TEST_PID_FILE"]).write_text(str(os.getpid()))
    time.sleep(600)


# in-process, as the platform's local executor: the op runs in the run worker the launcher started
@job(executor_def=in_process_executor)
def sleeping_job() -> None:
    wait_to_be_killed()


defs = Definitions(jobs=[sleeping_job])
