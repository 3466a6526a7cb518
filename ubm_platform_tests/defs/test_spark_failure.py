"""A failing Spark job fails the run with Spark's error and publishes nothing."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import DagsterInstance, materialize

from ubm_platform.defs.movie_review.assets import classified_movie_review
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.spark import SparkSubmitResource
from ubm_platform.resources.warehouse import DuckDBWarehouseResource
from ubm_platform_tests.conftest import lake_upstream

DAY = "2022-01-02"


def test_spark_failure_fails_the_run_and_keeps_the_published_partition(tmp_path, spark):
    lake = LakeIOManager(root=str(tmp_path / "lake"))
    raw = tmp_path / "lake" / "raw" / "movie_review" / f"insert_date={DAY}"
    raw.mkdir(parents=True)
    pq.write_table(pa.table({"review_id": ["r1"], "cid": pa.array([1], pa.int64()), "review_str": ["great"]}),
                   raw / "part-00000.parquet")
    published = tmp_path / "lake" / "stage" / "classified_movie_review" / f"insert_date={DAY}"
    published.mkdir(parents=True)
    (published / "part-00000.parquet").write_bytes(b"the previous good partition")
    # The current model points at a folder that holds no model: Spark cannot load it.
    broken = tmp_path / "lake" / "models" / "sentiment" / "broken"
    broken.mkdir(parents=True)
    (broken / "ubm_model.json").write_text(json.dumps({"version": "broken"}))
    lake.write_text("models/sentiment/current.json", json.dumps({"version": "broken", "path": "models/sentiment/broken"}))

    result = materialize(
        [*lake_upstream("movie_review_raw", "sentiment_model"), classified_movie_review], partition_key=DAY, instance=DagsterInstance.ephemeral(), raise_on_error=False,
        resources={"lake": lake, "spark": SparkSubmitResource(),
                   "warehouse": DuckDBWarehouseResource(path=str(tmp_path / "w.duckdb"))},
    )
    assert not result.success
    error = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data.error
    assert "broken" in error.to_string()  # Spark's own complaint about the model path
    assert [p.name for p in published.iterdir()] == ["part-00000.parquet"]
    assert (published / "part-00000.parquet").read_bytes() == b"the previous good partition"
    staging = tmp_path / "lake" / "stage" / "classified_movie_review" / "_staging"
    assert not staging.exists() or not list(staging.iterdir())
