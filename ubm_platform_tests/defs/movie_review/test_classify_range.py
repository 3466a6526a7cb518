"""Classifying a partition range in one Spark job; each day still checked and published on its own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ubm_platform.defs.movie_review.assets import CLASSIFIED_SCHEMA, classified_movie_review
from ubm_platform.defs.movie_review.validation import RAW_REVIEW_SCHEMA
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.spark import load_spark_job
from ubm_platform.resources.warehouse import DuckDBWarehouseResource
from ubm_platform.seed.reviews import make_reviews
from ubm_platform_tests.conftest import InProcessSparkJobs, lake_upstream, save_tiny_sentiment_model

REVIEWS_PER_DAY = {"2022-01-02": 9, "2022-01-03": 0, "2022-01-04": 14, "2022-01-05": 6}
MODEL = "models/sentiment/sentiment-range"
SENTIMENTS = ("negative", "neutral", "positive")


@pytest.fixture()
def lake(tmp_path, spark):
    """Raw partitions as movie_review_raw writes them (one day without reviews) and a current model."""
    root = tmp_path / "lake"
    total = sum(REVIEWS_PER_DAY.values())
    texts, scores = make_reviews(np.random.default_rng(11), [f"film {i}" for i in range(total)], total)
    start = 0
    for day, n in REVIEWS_PER_DAY.items():
        folder = root / f"raw/movie_review/insert_date={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({
            "review_id": [f"{day}-{i}" for i in range(n)], "cid": list(range(1, n + 1)), "film_id": [7] * n,
            "score": [int(s) for s in scores[start:start + n]], "review_str": texts[start:start + n],
            "source_line": list(range(2, n + 2)),
        }, schema=RAW_REVIEW_SCHEMA), folder / "part-00000.parquet")
        start += n
    save_tiny_sentiment_model(spark, texts, scores, root / MODEL)
    resource = LakeIOManager(root=str(root))
    resource.write_text("models/sentiment/current.json", json.dumps({"version": "sentiment-range", "path": MODEL}))
    return resource


def _published(lake: LakeIOManager, day: str) -> pa.Table:
    return pq.read_table(lake.local_path(lake.partition_path("classified_movie_review", day)))


def _materialize(lake: LakeIOManager, tmp_path, first: str, last: str):
    return materialize(
        [*lake_upstream("movie_review_raw", "sentiment_model"), classified_movie_review], instance=DagsterInstance.ephemeral(), raise_on_error=False,
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        resources={"lake": lake, "spark": InProcessSparkJobs(),
                   "warehouse": DuckDBWarehouseResource(path=str(tmp_path / "w.duckdb"))},
    )


def test_one_job_classifies_every_partition_and_counts_each_one(lake, spark, tmp_path):
    days = list(REVIEWS_PER_DAY)
    partitions = tmp_path / "partitions.json"
    partitions.write_text(json.dumps({"partitions": [{"key": d, "path": f"insert_date={d}"} for d in days]}))
    output = tmp_path / "classified"

    summary = load_spark_job("classify_movie_review.py").run(
        spark, lake.uri("raw/movie_review"), str(partitions), str(output), lake.uri(MODEL))

    assert [p["key"] for p in summary["partitions"]] == days
    for day, partition in zip(days, summary["partitions"]):
        written = pq.read_table(output / partition["output"])  # counted independently of Spark
        assert [(f.name, f.type) for f in written.schema] == [(f.name, f.type) for f in CLASSIFIED_SCHEMA], day
        assert sorted(written.column("review_id").to_pylist()) == sorted(f"{day}-{i}" for i in range(REVIEWS_PER_DAY[day]))
        labels = written.column("sentiment").to_pylist()
        assert partition["rows"] == REVIEWS_PER_DAY[day]
        assert partition["by_sentiment"] == {s: labels.count(s) for s in SENTIMENTS}, day
    assert summary["rows"] == sum(REVIEWS_PER_DAY.values()) and summary["model_version"] == "sentiment-range"


def test_a_range_run_publishes_each_day_with_its_own_rows(lake, tmp_path):
    result = _materialize(lake, tmp_path, "2022-01-02", "2022-01-05")

    assert result.success
    for day, n in REVIEWS_PER_DAY.items():
        assert sorted(_published(lake, day).column("review_id").to_pylist()) == sorted(f"{day}-{i}" for i in range(n))
    materializations = result.asset_materializations_for_node("classified_movie_review")
    assert {m.partition: m.metadata["dagster/row_count"].value for m in materializations} == REVIEWS_PER_DAY
    assert all(m.metadata["model_version"].value == "sentiment-range" for m in materializations)
    assert not lake.list_files("stage/classified_movie_review/_staging", recursive=True)


def test_a_blocked_day_publishes_nothing_and_the_days_before_it_stay_published(lake, tmp_path):
    previous = pa.table({"cid": [1], "review_id": ["previous-run"], "positive_review": [True], "sentiment": ["positive"],
                         "probability": [0.9], "model_version": ["sentiment-old"], "film_id": [7]}, schema=CLASSIFIED_SCHEMA)
    for day in ("2022-01-03", "2022-01-04"):
        with lake.open_output(f"{lake.partition_path('classified_movie_review', day)}/part-00000.parquet") as f:
            pq.write_table(previous, f)
    # A file Spark skips (a leading underscore) but the asset's row count sees: 2022-01-04 cannot reconcile.
    pq.write_table(pq.read_table(lake.local_path("raw/movie_review/insert_date=2022-01-04/part-00000.parquet")),
                   lake.local_path("raw/movie_review/insert_date=2022-01-04/_late.parquet"))

    result = _materialize(lake, tmp_path, "2022-01-02", "2022-01-05")

    assert not result.success
    assert _published(lake, "2022-01-02").num_rows == REVIEWS_PER_DAY["2022-01-02"]
    assert _published(lake, "2022-01-03").num_rows == 0  # the empty day before the blocked one: replaced
    assert _published(lake, "2022-01-04").equals(previous)
    assert not lake.exists(lake.partition_path("classified_movie_review", "2022-01-05"))
    # Dagster's record = the published days
    assert [m.partition for m in result.asset_materializations_for_node("classified_movie_review")] == [
        "2022-01-02", "2022-01-03"]
    reconciliation = {e.asset_check_evaluation_data.partition: e.asset_check_evaluation_data
                      for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                      and e.asset_check_evaluation_data.check_name == "reconciliation"}
    assert {day: check.passed for day, check in reconciliation.items()} == {"2022-01-04": False}
    assert reconciliation["2022-01-04"].metadata["raw_rows"].value == 2 * REVIEWS_PER_DAY["2022-01-04"]
    assert not lake.list_files("stage/classified_movie_review/_staging", recursive=True)


def test_a_range_of_days_without_reviews_publishes_empty_partitions(lake, tmp_path):
    quiet_days = ["2022-01-06", "2022-01-07"]
    for day in quiet_days:  # what movie_review_raw lands from a header-only file: a Parquet file of no rows
        folder = Path(lake.local_path(lake.partition_path("movie_review_raw", day)))
        folder.mkdir(parents=True)
        pq.write_table(RAW_REVIEW_SCHEMA.empty_table(), folder / "part-00000.parquet")

    result = _materialize(lake, tmp_path, quiet_days[0], quiet_days[-1])

    assert result.success
    for day in quiet_days:
        published = _published(lake, day)
        assert published.num_rows == 0
        assert [(f.name, f.type) for f in published.schema] == [(f.name, f.type) for f in CLASSIFIED_SCHEMA]
    materializations = result.asset_materializations_for_node("classified_movie_review")
    assert {m.partition: m.metadata["dagster/row_count"].value for m in materializations} == {
        day: 0 for day in quiet_days}
