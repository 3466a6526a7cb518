"""The sensors and the schedule, ticked for real on both kinds of Dagster instance the platform deploys.

The embedded default's SQLite instance (one database per run, written by ubm_platform/instance.py under
UBM_HOME/dagster) and the deployment's PostgreSQL instance (docker/dagster.yaml on the
session's PostgreSQL server). On each, `dagster-daemon run` ticks the sensors as it does in production
(tick records and cursors stored in the instance, runs queued and launched by the daemon) while a
vendor file arrives: the file launches the day's run, whose orphan-review check fails (a review by an
unknown customer) and which fails itself (there is no sentiment model yet, so classification stops
before Spark starts). Each failure must reach a real local webhook exactly once, however many ticks
follow. UBM_SENSOR_INTERVAL_S=2 makes the daemon tick every ~5 s (its loop) instead of every minute.
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, build_schedule_context, build_sensor_context, materialize

from ubm_platform.defs.alerting import alert_on_failed_checks
from ubm_platform.defs.movie_review.assets import movie_review_raw
from ubm_platform.definitions import defs
from ubm_platform.instance import ensure_dagster_home
from ubm_platform.resources.alerts import AlertResource
from ubm_platform.resources.lake import LakeIOManager, LandingResource
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform.settings import load_settings
from ubm_platform_tests.conftest import PROJECT_ROOT, run_cli, ubm_env
from ubm_platform_tests.defs.test_alerting_and_secrets import webhook  # noqa: F401 (fixture)
from ubm_platform_tests.ops.conftest import DAY, REVIEWS, Daemon, write_vendor_file
from ubm_platform_tests.ops.test_postgres_instance import dagster_pg  # noqa: F401 (fixture)

SENSORS = ("vendor_file_sensor", "alert_on_run_failure", "alert_on_failed_checks")
UNKNOWN_CUSTOMER = 4242
DAEMON_DEADLINE_S = 120


@pytest.fixture(params=["sqlite", "postgres"])
def instance_env(request, tmp_path, monkeypatch):
    """(UBM_HOME, environment) of a user of one instance kind; the test process gets the same variables
    so that DagsterInstance.get() opens the very instance the daemon writes."""
    home = tmp_path / "ubm_home"
    extra: dict[str, str] = {}
    if request.param == "postgres":
        extra = request.getfixturevalue("dagster_pg")
        dagster_home = tmp_path / "dagster_home"
        dagster_home.mkdir()
        shutil.copy(PROJECT_ROOT / "docker" / "dagster.yaml", dagster_home / "dagster.yaml")
        extra["DAGSTER_HOME"] = str(dagster_home)
    env = ubm_env(home, **extra)
    for name, value in env.items():
        if name.startswith(("UBM_", "DAGSTER_")):
            monkeypatch.setenv(name, value)
    if request.param == "sqlite":
        ensure_dagster_home(load_settings())  # the instance `ubm run` and `make dev` use
        assert "storage" not in yaml.safe_load((home / "dagster" / "dagster.yaml").read_text())
    return home, env


def sensor_ticks(instance: DagsterInstance) -> dict[str, list]:
    """Each sensor's ticks, oldest first, as the daemon stored them."""
    ticks = {name: [] for name in SENSORS}
    for state in instance.all_instigator_state():
        if state.instigator_name in ticks:
            found = instance.get_ticks(state.instigator_origin_id, state.selector_id)
            ticks[state.instigator_name] = sorted(found, key=lambda tick: tick.timestamp)
    return ticks


def finished(ticks: list) -> list:
    return [tick for tick in ticks if tick.status.value != "STARTED"]


class SensorDaemon(Daemon):
    """The daemon, waited on until its sensors' ticks show what a test expects."""

    def wait_for(self, what: str, condition, instance: DagsterInstance):
        deadline = time.monotonic() + DAEMON_DEADLINE_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the daemon exited:\n{self.log_path.read_text()[-3000:]}"
            ticks = sensor_ticks(instance)
            if condition(ticks):
                return ticks
            time.sleep(1)
        summary = {name: [(t.status.value, t.run_ids) for t in found] for name, found in sensor_ticks(instance).items()}
        pytest.fail(f"no {what} within {DAEMON_DEADLINE_S} s: {summary}\n{self.log_path.read_text()[-3000:]}")


def test_a_vendor_file_launches_its_run_and_each_failure_is_alerted_once(
    instance_env, oltp_dsn, webhook, tmp_path  # noqa: F811 (fixture)
):
    home, env = instance_env
    url, received = webhook
    env = {**env, "UBM_OLTP_DSN": oltp_dsn, "UBM_ALERT_WEBHOOK_URL": url, "UBM_SENSOR_INTERVAL_S": "2"}
    # The vendor sensor is stopped by default: turned on as an operator does.
    run_cli(["-m", "dagster", "sensor", "start", "vendor_file_sensor", "-w", "workspace.yaml"], env)

    daemon = SensorDaemon(env, tmp_path / "daemon.log")
    with DagsterInstance.get() as instance:
        try:
            # Every sensor has ticked once with nothing to do before the file arrives: the run-failure
            # sensor only reports runs that fail after its first tick.
            daemon.wait_for("first tick of every sensor", lambda t: all(finished(t[n]) for n in SENSORS), instance)
            write_vendor_file(home, DAY, [*REVIEWS, ("r-x", UNKNOWN_CUSTOMER, "Who am I?")])
            arrived = time.time()

            def run_ended_and_two_more_alert_ticks(ticks) -> bool:
                runs = instance.get_runs()
                if not runs or not runs[0].is_finished:
                    return False
                ended = instance.get_run_record_by_id(runs[0].run_id).end_time
                return all(len([t for t in finished(ticks[n]) if t.timestamp > ended]) >= 2
                           for n in ("alert_on_run_failure", "alert_on_failed_checks"))

            ticks = daemon.wait_for("end of the run and two alert ticks after it", run_ended_and_two_more_alert_ticks,
                                    instance)
        finally:
            daemon.stop()

        # The bug this guards against: a sensor erroring on every tick, so nothing is ever alerted.
        for name in SENSORS:
            errors = [t.error.message for t in ticks[name] if t.status.value == "FAILURE"]
            assert not errors, (name, errors)

        # The file launched exactly one run, of its day, through the daemon's queue; later ticks skipped.
        [run] = instance.get_runs()
        assert run.tags["dagster/partition"] == DAY and run.job_name == "daily_pipeline_job"
        assert run.tags["dagster/sensor_name"] == "vendor_file_sensor"
        assert run.status == DagsterRunStatus.FAILURE
        after_file = [t for t in finished(ticks["vendor_file_sensor"]) if t.timestamp > arrived]
        assert [t.run_ids for t in after_file if t.run_ids] == [[run.run_id]]
        assert after_file[-1].status.value == "SKIPPED" and after_file[-1].skip_reason == "no new vendor file"

    # Exactly one alert per failure, whatever the number of ticks (and of sensors) since.
    texts = sorted(message["text"] for message in received)
    assert len(texts) == 2, texts
    check_alert, run_alert = texts
    assert check_alert.startswith("*ubm_platform data-quality check failed*")
    assert "movie_review_raw.orphan_reviews failed [WARN]" in check_alert
    assert f"partition: {DAY}, run {run.run_id}" in check_alert and "unknown_customers=1" in check_alert
    assert run_alert.startswith("*ubm_platform run failed: daily_pipeline_job*")
    assert f"run {run.run_id}" in run_alert and f"partition: {DAY}" in run_alert
    assert "classified_movie_review:" in run_alert and "model" in run_alert


def test_a_cursor_left_by_the_old_check_sensor_restarts_without_replaying_history(
    instance_env, oltp_dsn, webhook  # noqa: F811 (fixture)
):
    """Deployments upgraded from the storage-id implementation hold a cursor like "41": the next tick
    starts from the runs that end after it (no flood of past failures), then each tick's cursor is the next's."""
    home, _env = instance_env
    url, received = webhook
    resources = {"landing": LandingResource(root=str(home / "landing")), "lake": LakeIOManager(root=str(home / "lake")),
                 "oltp": OltpPostgresResource(dsn=oltp_dsn)}
    with DagsterInstance.get() as instance:
        def land_with_an_orphan(day: str):
            write_vendor_file(home, day, [*REVIEWS, ("r-x", UNKNOWN_CUSTOMER, "Who am I?")])
            assert materialize([movie_review_raw], partition_key=day, resources=resources, instance=instance).success

        def tick(cursor: str) -> str:
            context = build_sensor_context(instance=instance, cursor=cursor,
                                           resources={"alerts": AlertResource(webhook_url=url)})
            alert_on_failed_checks(context)
            return context.cursor

        land_with_an_orphan("2022-01-02")
        cursor = tick("41")
        assert received == []
        land_with_an_orphan("2022-01-03")
        cursor = tick(cursor)
        latest_run = instance.get_runs()[0].run_id
        assert [m["text"].splitlines()[1:3] for m in received] == [
            ["movie_review_raw.orphan_reviews failed [WARN]", f"partition: 2022-01-03, run {latest_run}"]
        ]
        tick(cursor)
        assert len(received) == 1


def test_the_schedule_requests_the_day_that_ended(instance_env):
    """The daily schedule, evaluated against the instance for two consecutive 02:00 UTC ticks (the daemon
    only ticks it at that hour): each asks for the day before, under its own run key."""
    schedule = defs.get_schedule_def("daily_pipeline_job_schedule")  # as the code server resolves it
    with DagsterInstance.get() as instance:
        requests = []
        for tick_day in (3, 4):
            tick = datetime(2022, 1, tick_day, 2, 0, tzinfo=timezone.utc)
            with build_schedule_context(instance=instance, scheduled_execution_time=tick) as context:
                requests.extend(schedule.evaluate_tick(context).run_requests)
    assert [r.partition_key for r in requests] == ["2022-01-02", "2022-01-03"]
    assert len({r.run_key for r in requests}) == 2
