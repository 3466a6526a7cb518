"""sentiment_model's quality gates are asset checks: a model failing a blocking one is never made current.

The training job is stood in for by a resource that writes a model folder and reports the metrics it is
given (the real training runs in the end-to-end tests, through the same asset, and passes the gates): what
is tested here is the asset's own logic, the gates and what it publishes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from ubm_platform.defs.sentiment.assets import MIN_HOLDOUT_ROWS, sentiment_model
from ubm_platform.resources.lake import CURRENT_MODEL_POINTER, LakeIOManager
from ubm_platform.resources.spark import SparkJobResource
from ubm_platform_tests.conftest import lake_upstream

LABELS = ("negative", "neutral", "positive")


def _metrics(n: int, correct_by_class: dict[str, int], support: dict[str, int]) -> dict:
    """A classification report as train_sentiment_model.py returns it, for a diagonal-only confusion."""
    per_class = {label: {"precision": 1.0 if correct_by_class[label] else 0.0,
                         "recall": correct_by_class[label] / support[label] if support[label] else 0.0,
                         "f1": 0.0, "support": support[label]} for label in LABELS}
    for values in per_class.values():
        p, r = values["precision"], values["recall"]
        values["f1"] = 2 * p * r / (p + r) if p + r else 0.0
    macro = {k: sum(v[k] for v in per_class.values()) / 3 for k in ("precision", "recall", "f1")}
    binary = support["negative"] + support["positive"]
    return {
        "n": n, "n_binary": binary, "accuracy_3class": sum(correct_by_class.values()) / n,
        "accuracy_binary": (correct_by_class["negative"] + correct_by_class["positive"]) / binary,
        "macro_f1_3class": macro["f1"], "per_class": per_class,
        "macro_avg": {**macro, "support": n}, "weighted_avg": {**macro, "support": n},
        "confusion_matrix": {"labels": list(LABELS), "matrix": [[0, 0, 0]] * 3},
    }


class TrainingStandIn(SparkJobResource):
    """Writes a model folder where the asset asks and reports the given metrics, as the training job does."""

    metrics_json: str
    n_holdout: int

    def run_job(self, script: str, context=None, **arguments) -> dict:
        assert script == "train_sentiment_model.py"
        out = Path(arguments["out_dir"])
        (out / "pipeline").mkdir(parents=True)
        (out / "ubm_model.json").write_text(json.dumps({"version": "sentiment-candidate"}))
        metrics = json.loads(self.metrics_json)
        return {"version": "sentiment-candidate", "fingerprint": "f", "params": {}, "n_train": 4 * self.n_holdout,
                "n_holdout": self.n_holdout, "metrics": metrics if self.n_holdout else None}


def _train(tmp_path, metrics: dict, n_holdout: int, min_accuracy: float = 0.55, min_macro_f1: float = 0.45):
    lake = LakeIOManager(root=str(tmp_path / "lake"))
    result = materialize(
        [*lake_upstream("movie_review_raw"), sentiment_model], instance=DagsterInstance.ephemeral(), raise_on_error=False,
        resources={"lake": lake, "spark": TrainingStandIn(metrics_json=json.dumps(metrics), n_holdout=n_holdout)},
        run_config={"ops": {"sentiment_model": {"config": {"training_data": "labelled.csv",
                                                            "min_accuracy": min_accuracy,
                                                            "min_macro_f1": min_macro_f1}}}},
    )
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    return result, lake, checks


SUPPORT = {"negative": 40, "neutral": 20, "positive": 40}
GOOD = _metrics(100, {"negative": 36, "neutral": 8, "positive": 36}, SUPPORT)  # 0.80; neutral recall 0.40
NO_NEUTRAL = _metrics(100, {"negative": 38, "neutral": 0, "positive": 38}, SUPPORT)  # 0.76; neutral recall 0


def test_a_model_that_passes_the_gates_is_made_current_with_its_checks(tmp_path):
    result, lake, checks = _train(tmp_path, GOOD, n_holdout=100)
    assert result.success
    assert json.loads(lake.read_text(CURRENT_MODEL_POINTER))["version"] == "sentiment-candidate"
    assert {name: c.passed for name, c in checks.items()} == {
        "holdout_size": True, "accuracy": True, "macro_f1": True, "neutral_recall": True}
    assert checks["accuracy"].metadata["n"].value == 100
    assert checks["accuracy"].metadata["ci95_low"].value < 0.8 < checks["accuracy"].metadata["ci95_high"].value


def test_a_model_that_never_says_neutral_is_made_current_with_a_warning(tmp_path):
    result, lake, checks = _train(tmp_path, NO_NEUTRAL, n_holdout=100)
    assert result.success and lake.exists(CURRENT_MODEL_POINTER)
    assert not checks["neutral_recall"].passed and checks["neutral_recall"].severity.value == "WARN"
    assert checks["neutral_recall"].metadata["neutral_recall"].value == 0.0


@pytest.mark.parametrize("metrics, n_holdout, minimums, failing", [
    (GOOD, 100, {"min_accuracy": 0.81}, "accuracy"),  # below the configured minimum
    (GOOD, 100, {"min_macro_f1": 0.83}, "macro_f1"),  # GOOD's macro-F1: 0.82
    (NO_NEUTRAL, 100, {"min_macro_f1": 0.66}, "macro_f1"),  # accurate (0.76), but one class never said: 0.65
    (GOOD, MIN_HOLDOUT_ROWS - 1, {}, "holdout_size"),  # too few reviews to tell
    (GOOD, 0, {}, "holdout_size"),  # nothing held out: nothing measured
])
def test_a_model_failing_a_blocking_gate_is_refused_and_never_made_current(tmp_path, metrics, n_holdout,
                                                                          minimums, failing):
    result, lake, checks = _train(tmp_path, metrics, n_holdout, **minimums)
    assert not result.success
    assert not checks[failing].passed and checks[failing].severity.value == "ERROR"
    assert set(checks) == {"holdout_size", "accuracy", "macro_f1", "neutral_recall"}
    assert not lake.exists(CURRENT_MODEL_POINTER)
    assert not lake.list_files("models/sentiment", recursive=True), "nothing of the refused model stays"
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert f"blocking checks failed: {failing}" in str(result.failure_data_for_node("sentiment_model").error)
