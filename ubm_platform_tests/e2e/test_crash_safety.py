"""SIGKILL a run at several moments: readers see a complete partition (the old one) and never a
partial one, and the next run completes correctly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow.dataset as ds
import pytest

from ubm_platform_tests.conftest import PROJECT_ROOT, install_model, run_cli, ubm_env
from ubm_platform_tests.expected import expected_metric_in_home, warehouse_metric

DAY = "2022-01-03"
DATASETS = ["stage/user_purchase", "raw/movie_review", "stage/classified_movie_review"]


def _snapshot(home):
    """What a reader sees of the day: every dataset's rows, and the metric rows."""
    seen = {}
    for dataset in DATASETS:
        folder = home / "lake" / dataset / f"insert_date={DAY}"
        seen[dataset] = sorted(map(str, ds.dataset(str(folder)).to_table().to_pylist())) if folder.exists() else None
    seen["metric"] = warehouse_metric(home / "warehouse.duckdb", DAY)
    return seen


@pytest.fixture(scope="module")
def platform(state_dirs, trained_model):
    home = state_dirs("ubm_crash")
    env = ubm_env(home)
    run_cli(["seed", "--from", "2022-01-01", "--to", "2022-01-04", "--scale", "2"], env)
    install_model(home, trained_model)  # training is the first launch's subject (test_pipeline_embedded.py)
    run_cli(["run", "--from", "2022-01-01", "--to", DAY], env)
    return home, env, _snapshot(home)


@pytest.mark.parametrize("kill_after_s", [1.0, 3.0, 6.0, 10.0, 16.0])
def test_sigkill_leaves_the_old_partition_whole(platform, kill_after_s):
    home, env, good = platform
    process = subprocess.Popen(
        [sys.executable, "-m", "ubm_platform.cli", "run", "--from", DAY, "--to", DAY],
        env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    time.sleep(kill_after_s)
    os.killpg(process.pid, signal.SIGKILL)  # the run and its Spark JVM, mid-flight
    process.wait()
    assert _snapshot(home) == good


def test_the_next_run_completes_correctly(platform):
    home, env, good = platform
    run_cli(["run", "--from", DAY, "--to", DAY], env)
    assert _snapshot(home) == good
    assert warehouse_metric(home / "warehouse.duckdb", DAY) == expected_metric_in_home(home, DAY)
