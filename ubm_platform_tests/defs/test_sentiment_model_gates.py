"""sentiment_model's quality gates are asset checks: a model failing a blocking one is never made current."""

from __future__ import annotations

import csv

import numpy as np
from dagster import DagsterInstance, materialize

from ubm_platform.defs.sentiment.assets import CURRENT_POINTER, sentiment_model
from ubm_platform.resources.lake import LakeResource
from ubm_platform.resources.spark import LocalSparkResource
from ubm_platform.seed.reviews import make_reviews

REVIEWS = 400


def _train(tmp_path, min_accuracy: float):
    texts, scores = make_reviews(np.random.default_rng(5), [f"film {i}" for i in range(REVIEWS)], REVIEWS)
    labelled = tmp_path / "labelled.csv"
    with open(labelled, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("review_str", "score"), *zip(texts, (int(s) for s in scores))])
    lake = LakeResource(root=str(tmp_path / "lake"))
    result = materialize(
        [sentiment_model], instance=DagsterInstance.ephemeral(), raise_on_error=False,
        resources={"lake": lake, "spark": LocalSparkResource()},
        run_config={"ops": {"sentiment_model": {"config": {"training_data": str(labelled),
                                                            "min_accuracy": min_accuracy}}}},
    )
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    return result, lake, checks


def test_a_model_below_the_accuracy_gate_is_refused_and_never_made_current(tmp_path, spark):
    result, lake, checks = _train(tmp_path, min_accuracy=1.01)  # no model reaches it
    assert not result.success
    assert not checks["accuracy"].passed
    n = checks["accuracy"].metadata["n"].value
    assert n == checks["holdout_size"].metadata["n_holdout"].value and n >= 0.15 * REVIEWS
    assert checks["holdout_size"].passed
    assert set(checks) == {"holdout_size", "accuracy", "macro_f1", "neutral_recall"}
    assert not lake.exists(CURRENT_POINTER)
    assert not lake.list_files("models/sentiment", recursive=True), "nothing of the refused model stays"
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    failure = result.failure_data_for_node("sentiment_model")
    assert "blocking checks failed: accuracy" in str(failure.error)
