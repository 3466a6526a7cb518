"""A backfill of every asset over a range, launched as the Dagster UI launches it, from an empty state.

After `ubm seed` alone (the embedded OLTP database, the vendor's files, the Dagster home with its queued
run coordinator), a real `dagster-webserver` and a real `dagster-daemon run` serve the repository's
workspace. The test POSTs to the webserver's /graphql endpoint the very mutation the UI sends from the
asset graph's "Materialize" dialog (`launchPartitionBackfill` with `assetSelection` and `partitionNames`,
the query text copied from the UI's bundle); the daemon's backfill loop then plans the runs from the
asset graph and launches them through the run queue. Nothing is stubbed: the runs land the reviews,
train the sentiment model, classify with Spark and build the metric with dbt. The outcome is read from
the instance and compared with an independent computation (ubm_platform_tests/expected.py): each day's
reviews landed once, the model trained once, the metric of each day right.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, RunsFilter

from ubm_platform_tests.conftest import run_cli, ubm_env
from ubm_platform_tests.expected import expected_metric_in_home, warehouse_metric
from ubm_platform_tests.ops.conftest import Daemon, Webserver

pytestmark = pytest.mark.timeout(900)

DAYS = ["2022-01-01", "2022-01-02", "2022-01-03", "2022-01-04"]
ASSETS = ["user_purchase_staging", "movie_review_raw", "sentiment_model", "classified_movie_review",
          "user_behavior_metric"]
BACKFILL_DEADLINE_S = 480
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
SUCCESS = {"COMPLETED", "COMPLETED_SUCCESS"}

# The UI's own mutation (dagster-webserver's bundle, `LaunchPartitionBackfill`), with its error fragment.
LAUNCH_PARTITION_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PartitionSetNotFoundError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on UnauthorizedError { message }
    ... on PipelineNotFoundError { message }
    ... on RunConflict { message }
    ... on ConflictingExecutionParamsError { message }
    ... on PresetNotFoundError { message }
    ... on RunConfigValidationInvalid { pipelineName errors { message path reason } }
    ... on PythonError { message stack }
  }
}
"""

BACKFILL_STATUS = """
query BackfillStatus($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill {
      id
      status
      numPartitions
      error { message stack }
      runs { runId status }
    }
    ... on BackfillNotFoundError { message }
    ... on PythonError { message stack }
  }
}
"""


def graphql(base: str, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql", data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # the server's own account of the error
        raise AssertionError(f"{exc}: {exc.read().decode(errors='replace')[-4000:]}") from None
    assert not body.get("errors"), body["errors"]
    return body["data"]


@pytest.fixture
def served(state_dirs, tmp_path):
    """A seeded home with the webserver and the daemon running on it; yields (home, webserver, daemon)."""
    home = state_dirs("ubm_home")
    env = ubm_env(home)
    run_cli(["seed", "--from", DAYS[0], "--to", DAYS[-1], "--scale", "1"], env)
    webserver = daemon = None
    try:
        webserver = Webserver(env, tmp_path / "webserver.log", ["-w", "workspace.yaml"])
        # the daemon once the webserver has created the new instance's SQLite storage: two processes creating
        # it at once race ("table job_ticks already exists")
        webserver.wait_until_up()
        daemon = Daemon(env, tmp_path / "daemon.log")
        yield home, webserver, daemon
    finally:
        if daemon is not None:
            daemon.stop()
        if webserver is not None:
            webserver.stop()


def _runs_of(instance: DagsterInstance, backfill_id: str) -> list:
    """The backfill's runs, oldest first."""
    return sorted(instance.get_run_records(filters=RunsFilter.for_backfill(backfill_id)),
                  key=lambda record: record.create_timestamp)


def _describe(instance: DagsterInstance, backfill_id: str) -> str:
    """One line per run of the backfill, oldest first: when it was created (seconds after the backfill),
    its assets and partitions, how long it ran; the errors of a failed run."""
    lines = []
    backfill = instance.get_backfill(backfill_id)
    for record in _runs_of(instance, backfill_id):
        run = record.dagster_run
        assets = sorted(key.to_user_string() for key in run.asset_selection or [])
        partitions = (run.tags.get("dagster/asset_partition_range_start"),
                      run.tags.get("dagster/asset_partition_range_end")) if "dagster/asset_partition_range_start" \
            in run.tags else run.tags.get("dagster/partition")
        took = (record.end_time - record.start_time) if record.start_time and record.end_time else None
        created = record.create_timestamp.timestamp() - backfill.backfill_timestamp
        lines.append(f"+{created:.0f}s {run.run_id[:8]} {run.status.value} {assets} partitions={partitions} "
                     f"ran={took and round(took)}s")
        if run.status.value == "FAILURE":
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if event and event.event_type in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE):
                    lines.append(f"    {event.event_type.value} {event.step_key}: {event.message}")
                    error = getattr(event.event_specific_data, "error", None)
                    if error:
                        lines.append("    " + error.to_string()[-3000:])
    return "\n".join(lines)


def test_a_backfill_launched_as_the_ui_does_builds_everything_from_an_empty_state(served):
    home, webserver, daemon = served
    started = time.monotonic()

    launched = graphql(webserver.base, LAUNCH_PARTITION_BACKFILL, {"backfillParams": {
        "tags": [],
        "assetSelection": [{"path": [asset]} for asset in ASSETS],
        "partitionNames": DAYS,
        "fromFailure": False,
    }})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline = time.monotonic() + BACKFILL_DEADLINE_S
    status = None
    while time.monotonic() < deadline:
        assert daemon.process.poll() is None, f"the daemon exited:\n{daemon.log_path.read_text()[-4000:]}"
        status = graphql(webserver.base, BACKFILL_STATUS, {"backfillId": backfill_id})["partitionBackfillOrError"]
        assert status["__typename"] == "PartitionBackfill", status
        if status["status"] in TERMINAL:
            break
        time.sleep(3)
    took = time.monotonic() - started

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = _describe(instance, backfill_id)
        print(f"\nbackfill {backfill_id}: {status and status['status']} after {took:.0f} s; runs, oldest first:\n{runs}")
        if not status or status["status"] not in SUCCESS:
            pytest.fail(f"backfill {backfill_id} did not complete successfully within {BACKFILL_DEADLINE_S} s: "
                        f"{json.dumps(status, indent=1)[-4000:]}\nruns:\n{runs}\n"
                        f"daemon log:\n{daemon.log_path.read_text()[-4000:]}")

        # Each day's reviews landed once, and the first model was trained once, on them.
        landed = instance.fetch_materializations(AssetKey("movie_review_raw"), limit=1000).records
        assert sorted(r.partition_key for r in landed) == DAYS, [r.partition_key for r in landed]
        models = instance.fetch_materializations(AssetKey("sentiment_model"), limit=1000).records
        assert len(models) == 1, [(r.run_id, r.timestamp) for r in models]
        # Every asset built over the whole range.
        for asset in ASSETS:
            if asset == "sentiment_model":
                assert instance.get_latest_materialization_event(AssetKey(asset)) is not None
            else:
                assert sorted(instance.get_materialized_partitions(AssetKey(asset))) == DAYS, asset
        # Every run the backfill launched succeeded.
        assert all(r.dagster_run.status.value == "SUCCESS" for r in _runs_of(instance, backfill_id)), runs

    for day in DAYS:
        expected = expected_metric_in_home(home, day)
        assert expected, f"the seeded day {day} has activity"
        assert warehouse_metric(home / "warehouse.duckdb", day) == expected, day
