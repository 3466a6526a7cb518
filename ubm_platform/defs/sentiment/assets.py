"""sentiment_model: the Spark ML classifier that labels reviews negative / neutral / positive."""

import json
import math

from dagster import AssetCheckResult, AssetExecutionContext, BackfillPolicy, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from ubm_platform.defs import quality
from ubm_platform.defs.metadata import markdown_table
from ubm_platform.defs.partitioned import LAKE_IO_MANAGER, lake_input
from ubm_platform.resources.lake import LakeIOManager, LakePartitions
from ubm_platform.resources.spark import SparkJobResource
from ubm_platform.settings import load_settings

MIN_HOLDOUT_ROWS = 10
MIN_NEUTRAL_RECALL = 0.30  # the target on sentences (docs/model.md): a warning
SMALL_SAMPLE = 1000  # an accuracy measured on fewer reviews is printed with its 95% interval
Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


class SentimentModelConfig(Config):
    training_data: str = Field(
        default=load_settings().training_data or "",
        description="Labelled CSV (review_str,score); empty: the scored vendor rows in the lake so far. "
        "Defaults to UBM_TRAINING_DATA.",
    )
    holdout_fraction: float = Field(default=0.2, description="Share of rows kept out of training for evaluation.")
    training_params: dict = Field(
        default_factory=dict,
        description="Training parameters overriding the tuned defaults (DEFAULT_PARAMS in "
        "spark_jobs/train_sentiment_model.py, docs/model.md); the model's version hashes them.",
    )
    min_macro_f1: float = Field(
        default=0.45, description="A model below this held-out 3-class macro-F1 (every class counts alike) is "
        "refused, never made current.",
    )
    min_accuracy: float = Field(
        default=0.55, description="A model below this held-out 3-class accuracy is refused, never made current."
    )


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of the proportion successes / n: unlike p +- z*se it stays within [0, 1]
    and is not empty at p = 1, which matters for the few dozen held-out reviews of a demo."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_interval(accuracy: float, n: int) -> tuple[float, float]:
    """The 95% Wilson interval of an accuracy measured on n reviews (accuracy * n of them right)."""
    return wilson_interval(round(accuracy * n), n)


def accuracy_text(accuracy: float, n: int, digits: int = 3) -> str:
    """An accuracy as printed: with the number of reviews it was measured on, and its 95% interval when
    they are few (a 0.913 on 23 reviews is anything from 0.73 to 0.98)."""
    text = f"{accuracy:.{digits}f} on {n} reviews"
    if n < SMALL_SAMPLE:
        low, high = accuracy_interval(accuracy, n)
        text += f" (95% CI {low:.{digits}f}-{high:.{digits}f})"
    return text


def model_summary(metrics: dict) -> str:
    """How a model does, every class first: macro-F1, neutral recall, then the accuracies."""
    return (f"macro F1 {metrics['macro_f1_3class']:.4f}, neutral recall {metrics['per_class']['neutral']['recall']:.4f}, "
            f"3-class accuracy {accuracy_text(metrics['accuracy_3class'], metrics['n'], 4)}, "
            f"binary accuracy {accuracy_text(metrics['accuracy_binary'], metrics['n_binary'], 4)}")


def accuracy_metadata(name: str, accuracy: float, n: int) -> dict:
    low, high = accuracy_interval(accuracy, n)
    return {name: accuracy, f"{name}_n": n, f"{name}_ci95_low": round(low, 4), f"{name}_ci95_high": round(high, 4)}


def report_metadata(metrics: dict) -> dict:
    """The classification report as materialization metadata: each accuracy with its sample size and
    95% Wilson interval."""
    metadata = {  # every class first: a model that never says neutral can still be accurate
        "macro_f1_3class": metrics["macro_f1_3class"],
        "neutral_recall": metrics["per_class"]["neutral"]["recall"],
        **accuracy_metadata("accuracy_3class", metrics["accuracy_3class"], metrics["n"]),
        **accuracy_metadata("accuracy_binary", metrics["accuracy_binary"], metrics["n_binary"]),
    }
    rows = []
    for label, values in metrics["per_class"].items():
        metadata[f"{label}_f1"] = values["f1"]
        rows.append((label, *(round(values[k], 4) for k in ("precision", "recall", "f1")), values["support"]))
    for name in ("macro_avg", "weighted_avg"):
        values = metrics[name]
        rows.append((name, *(round(values[k], 4) for k in ("precision", "recall", "f1")), values["support"]))
    metadata["classification_report"] = MetadataValue.md(
        markdown_table(["class", "precision", "recall", "f1", "support"], rows)
    )
    matrix = metrics["confusion_matrix"]
    metadata["confusion_matrix"] = MetadataValue.md(
        markdown_table(["true \\ predicted", *matrix["labels"]],
                       [(label, *counts) for label, counts in zip(matrix["labels"], matrix["matrix"])])
    )
    return metadata


def model_checks(model: dict, min_macro_f1: float, min_accuracy: float) -> list[AssetCheckResult]:
    """The quality gates of a trained model, on its held-out split: a model failing a blocking one is
    never made current (classification goes on with the model before it)."""
    metrics = model.get("metrics") or {}
    n = metrics.get("n", 0)
    measured = {"n_holdout": model["n_holdout"], "n_train": model["n_train"]}
    if not metrics:
        not_measured = {**measured, "note": "no held-out rows: nothing measured"}
        return [quality.result("holdout_size", False, minimum=MIN_HOLDOUT_ROWS, **measured),
                quality.result("macro_f1", False, minimum=min_macro_f1, **not_measured),
                quality.result("accuracy", False, minimum=min_accuracy, **not_measured),
                quality.result("neutral_recall", False, warning=True, minimum=MIN_NEUTRAL_RECALL, **not_measured)]
    accuracy, (low, high) = metrics["accuracy_3class"], accuracy_interval(metrics["accuracy_3class"], n)
    neutral = metrics["per_class"].get("neutral", {})
    return [
        quality.result("holdout_size", model["n_holdout"] >= MIN_HOLDOUT_ROWS, minimum=MIN_HOLDOUT_ROWS, **measured),
        quality.result("macro_f1", metrics["macro_f1_3class"] >= min_macro_f1,
                       macro_f1_3class=metrics["macro_f1_3class"], n=n, minimum=min_macro_f1),
        quality.result("accuracy", accuracy >= min_accuracy, accuracy_3class=accuracy, n=n,
                       ci95_low=round(low, 4), ci95_high=round(high, 4), minimum=min_accuracy),
        quality.result("neutral_recall", neutral.get("recall", 0.0) >= MIN_NEUTRAL_RECALL, warning=True,
                       neutral_recall=neutral.get("recall", 0.0), neutral_support=neutral.get("support", 0),
                       minimum=MIN_NEUTRAL_RECALL),
    ]


@asset(
    group_name="sentiment",
    io_manager_key=LAKE_IO_MANAGER,
    ins={"movie_review_raw": lake_input()},
    kinds={"spark"},
    # what lets one launch over a range (`dagster asset materialize --select '*' --partition-range`)
    # include the model: it is trained once, after every day of the range is landed
    backfill_policy=BackfillPolicy.single_run(),
    owners=["team:data-platform"],
    description="A Spark ML pipeline (text normalisation, n-gram features, a trained classifier) fit on "
    "labelled reviews, evaluated on a held-out split, versioned under models/sentiment/<version>/.",
    check_specs=quality.specs(
        "sentiment_model",
        blocking={
            "holdout_size": f"At least {MIN_HOLDOUT_ROWS} held-out reviews to measure the model on.",
            "macro_f1": "Held-out 3-class macro-F1 (the mean of the classes' F1) at least min_macro_f1 (run config, "
            "default 0.45); a model below it is never made current.",
            "accuracy": "Held-out 3-class accuracy at least min_accuracy (run config, default 0.55); a model "
            "below it is never made current.",
        },
        warning={
            "neutral_recall": f"Held-out recall of the neutral class at least {MIN_NEUTRAL_RECALL}.",
        },
    ),
)
def sentiment_model(context: AssetExecutionContext, config: SentimentModelConfig, spark: SparkJobResource,
                    lake: LakeIOManager, movie_review_raw: LakePartitions):
    labeled = config.training_data or movie_review_raw.every_partition_uri()
    with lake.staged_model() as staging:
        model = spark.run_job(
            "train_sentiment_model.py",
            context=context,
            labeled_path=labeled,
            out_dir=lake.uri(staging.path),
            holdout_fraction=config.holdout_fraction,
            params=json.dumps(config.training_params, sort_keys=True),
        )
        checks = model_checks(model, config.min_macro_f1, config.min_accuracy)
        if quality.blocking_failures(checks):
            yield from checks
            hint = ("" if model["n_holdout"] >= MIN_HOLDOUT_ROWS else
                    f" ({model['n_holdout']} held-out rows in {labeled}: land more scored vendor files or set "
                    "UBM_TRAINING_DATA)")
            raise quality.refuse(f"model {model['version']}{hint}", quality.blocking_failures(checks))
        staging.final = final = lake.model_path(model["version"])
    lake.make_current_model(model["version"])
    context.log.info(f"model: {model['version']}, held-out {model_summary(model['metrics'])}")
    yield MaterializeResult(
        check_results=checks,
        metadata={
            "model_version": model["version"],
            "location": MetadataValue.path(lake.uri(final)),
            "training_data": labeled,
            "training_fingerprint": model["fingerprint"],
            "n_train": model["n_train"],
            "n_holdout": model["n_holdout"],
            "params": MetadataValue.json(model["params"]),
            **report_metadata(model["metrics"]),
        }
    )
