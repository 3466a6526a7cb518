"""No ghost runs: `ubm run` processes killed with SIGKILL leave no run STARTED and no staging behind.

Real `ubm run` processes on a real SQLite instance under a temporary UBM_HOME. Each blocks inside a run
with its lake staging folders made: the vendor's file is a named pipe that nobody writes, so opening it
waits. Then they are killed with SIGKILL, and the next `ubm run` (or the sensor) must fail their runs and
remove their staging, never touching a run still in progress.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context

from ubm_platform.instance import GENERATED_HEADER, INSTANCE_CONFIG, LOCAL_DAGSTER_YAML, ensure_dagster_home
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.defs.sensors import dead_run_sensor
from ubm_platform.runs import PID_TAG, remove_staging_leftovers
from ubm_platform.settings import load_settings
from ubm_platform_tests.conftest import PROJECT_ROOT, run_cli, ubm_env

RAW_STAGING = Path("lake/raw/movie_review/_staging")


def _start_blocked_run(home: Path, day: str) -> tuple[subprocess.Popen, Path]:
    """A `ubm run` of `day` stopped inside its run, staging made, on the vendor file (a named pipe)."""
    landing = home / "landing" / "movie_review" / day
    landing.mkdir(parents=True)
    os.mkfifo(landing / "movie_review.csv")
    before = set((home / RAW_STAGING).glob("*")) if (home / RAW_STAGING).exists() else set()
    proc = subprocess.Popen([sys.executable, "-m", "ubm_platform.cli", "run", "--from", day, "--to", day],
                            env=ubm_env(home), cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        made = [p for p in (home / RAW_STAGING).glob(f"insert_date={day}-*") if p not in before]
        if made:
            return proc, made[0]
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"`ubm run` never reached the vendor file:\n{proc.communicate()[0].decode()}")


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def _run_of(instance: DagsterInstance, proc: subprocess.Popen):
    (run,) = [r.dagster_run for r in instance.get_run_records() if r.dagster_run.tags.get(PID_TAG) == str(proc.pid)]
    return run


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home


def test_runs_of_killed_processes_are_failed_and_their_staging_removed_never_a_live_runs(home):
    first, first_staging = _start_blocked_run(home, "2022-01-03")
    second = None
    try:
        instance = DagsterInstance.get()
        ghost = _run_of(instance, first)
        assert ghost.status == DagsterRunStatus.STARTED and ghost.run_id in first_staging.name
        _kill(first)
        assert instance.get_run_by_id(ghost.run_id).status == DagsterRunStatus.STARTED  # what Dagster alone keeps

        # the next `ubm run` starts: it fails the dead run and removes its staging, then blocks in its own run
        second, second_staging = _start_blocked_run(home, "2022-01-04")
        assert instance.get_run_by_id(ghost.run_id).status == DagsterRunStatus.FAILURE
        assert not first_staging.exists() and not list((home / RAW_STAGING).glob("*2022-01-03*"))
        live = _run_of(instance, second)
        assert live.status == DagsterRunStatus.STARTED

        # another start while `second` runs: a finished run's leftover goes, the live run's staging stays
        leftover = home / RAW_STAGING / f"insert_date=2022-01-03-{ghost.run_id}-000000000000"
        leftover.mkdir()
        third = run_cli(["run", "--from", "2022-01-05", "--to", "2022-01-05"], ubm_env(home), check=False)
        assert third.returncode == 1 and "has not arrived" in third.stdout, third.stdout + third.stderr
        assert "removed 1 staging folder(s)" in third.stdout
        assert not leftover.exists() and second_staging.exists()
        assert instance.get_run_by_id(live.run_id).status == DagsterRunStatus.STARTED

        # under the daemon, the sensor does the same within its interval
        _kill(second)
        lake = LakeIOManager(root=str(home / "lake"))
        result = dead_run_sensor(build_sensor_context(instance=instance, resources={"lake": lake}))
        assert live.run_id in str(result.skip_message)
        assert instance.get_run_by_id(live.run_id).status == DagsterRunStatus.FAILURE
        assert not second_staging.exists() and not list((home / RAW_STAGING).glob("*"))
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()


def test_the_instance_config_is_the_repositorys_file_and_an_older_generated_one_is_replaced(home, monkeypatch):
    monkeypatch.setenv("UBM_HOME", str(home))
    config = home / "dagster" / "dagster.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"{GENERATED_HEADER} for the embedded default: SQLite storage in this folder.\ntelemetry:\n"
                      "  enabled: false\n")
    ensure_dagster_home(load_settings())
    assert config.read_text() == LOCAL_DAGSTER_YAML and LOCAL_DAGSTER_YAML.endswith(INSTANCE_CONFIG.read_text())
    info = subprocess.run([sys.executable, "-m", "dagster", "instance", "info"], env=ubm_env(home),
                          capture_output=True, text=True, timeout=300)
    assert info.returncode == 0, info.stderr
    assert "run_storage: SqliteRunStorage" in info.stdout and "max_concurrent_runs: 1" in info.stdout
    assert "run_monitoring:\n  enabled: true\n  poll_interval_seconds: 30" in info.stdout
    config.write_text("# mine\ntelemetry:\n  enabled: false\n")  # someone's own config is theirs
    ensure_dagster_home(load_settings())
    assert config.read_text() == "# mine\ntelemetry:\n  enabled: false\n"


def test_dagster_works_in_the_repository_with_nothing_set():
    """`dagster definitions validate` there builds its instance from the repository's dagster.yaml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UBM_", "DAGSTER_"))}
    validate = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate"], env=env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=300)
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_a_run_worker_launched_by_the_daemon_and_killed_is_failed_by_its_code_server(home, tmp_path, monkeypatch):
    """Runs of the UI, schedules and sensors: the DefaultRunLauncher hands them to a code server, which
    starts the run worker and fails the run when that process dies (not the run monitoring daemon: this
    launcher has no worker health check)."""
    monkeypatch.setenv("UBM_HOME", str(home))
    ensure_dagster_home(load_settings())
    pid_file = tmp_path / "worker.pid"
    env = {**ubm_env(home), "UBM_TEST_PID_FILE": str(pid_file)}
    target = ["-m", "ubm_platform_tests.ops.sleeping_job"]
    instance = DagsterInstance.get()  # its SQLite storage made once, before two processes race to make it
    # its own process group: the daemon's code server goes with it at the end
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", *target], env=env,
                              cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        run_cli(["-m", "dagster", "job", "launch", *target, "-j", "sleeping_job"], env, timeout=120)
        deadline = time.monotonic() + 120
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pid_file.exists(), "the daemon never started the run"
        (record,) = instance.get_run_records()
        assert record.dagster_run.status == DagsterRunStatus.STARTED
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        deadline = time.monotonic() + 30  # the code server looks every 0.5 s
        while instance.get_run_by_id(record.dagster_run.run_id).status != DagsterRunStatus.FAILURE:
            assert time.monotonic() < deadline, "the killed run is still marked in progress"
            time.sleep(0.2)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


def test_staging_folders_in_an_s3_lake_are_found_with_their_run_and_removed(aws):
    lake = LakeIOManager(root=f"s3://{aws.bucket}/lake", endpoint_url=aws.endpoint, region=aws.region)
    run_id = str(uuid.uuid4())
    staged = f"stage/user_purchase/_staging/insert_date=2022-01-03-{run_id}-0123456789ab"
    area = f"stage/classified_movie_review/_staging/run-{run_id}-0123456789ab"
    older = "stage/user_purchase/_staging/insert_date=2022-01-02-0123456789ab"  # named before run ids were
    published = "lake/stage/user_purchase/insert_date=2022-01-03/part-00000.parquet"
    for key in (f"{staged}/part-00000.parquet", f"{area}/insert_date=2022-01-03/part-0.parquet",
                f"{older}/part-00000.parquet"):
        aws.put(f"lake/{key}", b"x")
    aws.put(published, b"x")
    leftovers = lake.staging_leftovers()
    assert sorted((x.path, x.run_id) for x in leftovers) == sorted([(staged, run_id), (area, run_id), (older, None)])
    assert all(x.modified is not None for x in leftovers)
    for leftover in leftovers:
        lake.remove(leftover.path)
    assert [k for k in aws.keys("lake/") if not k.endswith("/")] == [published]  # "/": pyarrow's folder markers


def test_staging_of_no_known_run_is_removed_only_once_untouched_for_a_day(tmp_path):
    lake = LakeIOManager(root=str(tmp_path / "lake"))
    staging = tmp_path / "lake" / "raw" / "movie_review" / "_staging"
    old, fresh = (staging / f"insert_date=2022-01-0{day}-0123456789ab" for day in (1, 2))
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "part-00000.parquet").write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86_400
    for path in (old / "part-00000.parquet", old):
        os.utime(path, (two_days_ago, two_days_ago))
    with DagsterInstance.ephemeral() as instance:
        removed = remove_staging_leftovers(instance, lake)
    assert removed == ["raw/movie_review/_staging/insert_date=2022-01-01-0123456789ab"]
    assert fresh.exists() and not old.exists()
