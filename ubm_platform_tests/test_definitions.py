"""The code location loads cleanly, with every asset, job, schedule and resource in place."""

import warnings

from dagster import AssetKey, Definitions

from ubm_platform.definitions import defs

LAKE_ASSETS = {"user_purchase_staging", "movie_review_raw", "sentiment_model", "classified_movie_review",
               "rental_staging", "customer_staging", "film_staging", "film_category_staging", "film_actor_staging"}
PAGILA_TABLES = {f"pagila/{t}" for t in ("customer", "address", "city", "country", "film", "language", "category",
                                          "film_category", "actor", "film_actor", "inventory", "rental", "payment")}
STAR_SCHEMA = {"dim_date", "customer_history", "dim_customer", "dim_film", "bridge_film_category", "bridge_film_actor",
               "fact_rental", "fact_payment", "fact_review"}
QUESTIONS = {"question_rentals", "customer_activity", "film_pair_similarity", "customer_pair_similarity",
             "review_follow_rentals", "genre_affinity", "genre_transition", "similarity_by_activity",
             "similarity_by_activity_summary", "review_rental_effect", "review_rental_effect_comparison"}
DASHBOARD = {"dashboard_daily", "metric_distribution", "analyst_dashboard"}
ASSETS = LAKE_ASSETS | PAGILA_TABLES | STAR_SCHEMA | QUESTIONS | DASHBOARD | {"user_behavior_metric"}
PARTITIONED = {"user_purchase_staging", "movie_review_raw", "classified_movie_review", "rental_staging",
               "fact_rental", "fact_payment", "fact_review", "user_behavior_metric"}


def test_definitions_load_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Definitions.validate_loadable(defs)


def test_asset_graph_is_the_pipeline():
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == ASSETS
    parents = {k: {p.to_user_string() for p in graph.get(AssetKey.from_user_string(k)).parent_keys} for k in ASSETS}
    assert parents["user_behavior_metric"] == {"user_purchase_staging", "classified_movie_review", "fact_payment",
                                               "fact_review"}  # built from the lake, reconciled with the facts
    assert parents["classified_movie_review"] == {"movie_review_raw", "sentiment_model"}
    assert parents["sentiment_model"] == {"movie_review_raw"}
    assert parents["user_purchase_staging"] == {"pagila/payment", "pagila/rental", "pagila/inventory",
                                                "pagila/film_category", "pagila/category"}
    assert parents["fact_rental"] == {"rental_staging", "dim_customer", "dim_film", "dim_date"}
    assert parents["dim_customer"] == {"customer_history"} and parents["customer_history"] == {"customer_staging"}
    # the dashboard is drawn from the marts, so it is rebuilt when they change
    assert parents["analyst_dashboard"] == {"dashboard_daily", "metric_distribution", "genre_affinity",
                                            "genre_transition", "similarity_by_activity",
                                            "similarity_by_activity_summary", "review_rental_effect",
                                            "review_rental_effect_comparison"}
    assert parents["metric_distribution"] == {"user_behavior_metric"}
    assert parents["customer_staging"] == {"pagila/customer", "pagila/address", "pagila/city", "pagila/country"}
    assert all(not parents[table] and not graph.get(AssetKey.from_user_string(table)).is_materializable for table in PAGILA_TABLES)
    for key in ASSETS:
        partitions = graph.get(AssetKey.from_user_string(key)).partitions_def
        assert (partitions is not None) is (key in PARTITIONED), key
        assert partitions is None or partitions.get_partition_keys()[0] == "2022-01-01"


def test_the_lake_assets_are_stored_and_loaded_by_the_lake_io_manager():
    for key in LAKE_ASSETS:
        assert defs.resolve_assets_def(key).get_io_manager_key_for_asset_key(AssetKey(key)) == "lake", key
    for key, inputs in {"classified_movie_review": {"movie_review_raw", "sentiment_model"},
                        "sentiment_model": {"movie_review_raw"}}.items():
        node = defs.resolve_assets_def(key).node_def
        assert {i.name: i.input_manager_key for i in node.input_defs} == {name: "lake" for name in inputs}, key


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


def test_no_module_imports_a_private_dagster_module():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    private = []
    for path in [*(root / "ubm_platform").rglob("*.py"), *(root / "spark_jobs").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            private += [f"{path.relative_to(root)}: {n}" for n in names
                        if n.split(".")[0].startswith("dagster") and any(p.startswith("_") for p in n.split(".")[1:])]
    assert not private
