"""The code location loads cleanly, with every asset, job, schedule and resource in place."""

import warnings

from dagster import AssetKey, Definitions

from ubm_platform.definitions import defs

ASSETS = {"user_purchase_staging", "movie_review_raw", "sentiment_model", "classified_movie_review",
          "user_behavior_metric"}


def test_definitions_load_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Definitions.validate_loadable(defs)


def test_asset_graph_is_the_pipeline():
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == ASSETS
    parents = {k: {p.to_user_string() for p in graph.get(AssetKey(k)).parent_keys} for k in ASSETS}
    assert parents["user_behavior_metric"] == {"user_purchase_staging", "classified_movie_review"}
    assert parents["classified_movie_review"] == {"movie_review_raw", "sentiment_model"}
    assert parents["sentiment_model"] == {"movie_review_raw"}
    for key in ASSETS - {"sentiment_model"}:
        assert graph.get(AssetKey(key)).partitions_def.get_partition_keys()[0] == "2022-01-01"


def test_daily_job_and_schedule():
    job = defs.resolve_job_def("daily_pipeline_job")
    assert job.partitions_def is not None
    schedule = defs.resolve_schedule_def("daily_pipeline_job_schedule")
    assert schedule.job_name == "daily_pipeline_job"
    assert schedule.cron_schedule == "0 2 * * *", "a day runs at 02:00 UTC the next day"


HOURLY_PROBE = """
import json
from dagster import AssetKey
from ubm_platform.definitions import defs
graph = defs.resolve_asset_graph()
metric = graph.get(AssetKey("user_behavior_metric"))
print(json.dumps({
    "keys": metric.partitions_def.get_partition_keys()[:2],
    "columns": [c.name for c in metric.metadata["dagster/column_schema"].columns],
    "cron": defs.resolve_schedule_def("daily_pipeline_job_schedule").cron_schedule,
}))
"""


def test_hourly_partitions_change_the_keys_the_metric_schema_and_the_schedule():
    """UBM_PARTITION is read when the code location loads: load it in a fresh interpreter."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "UBM_PARTITION": "hourly"}
    out = subprocess.run([sys.executable, "-c", HOURLY_PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["keys"] == ["2022-01-01-00:00", "2022-01-01-01:00"]
    assert loaded["columns"][-2:] == ["insert_date", "insert_hour"]
    assert loaded["cron"] == "15 * * * *"
