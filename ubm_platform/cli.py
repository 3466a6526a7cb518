"""`ubm`: the things that are not Dagster runs (seeding, printing results, model tools), and
`ubm run`, which materializes days through Dagster and shows progress instead of pages of logs."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from typing import Sequence

from ubm_platform.settings import load_settings, parse_day

DAILY_SUMMARY_SQL = "warehouse/user_behavior_metric_daily_summary.sql"
METRIC_ROWS_SQL = "warehouse/user_behavior_metric_partition_rows.sql"
DAILY_ASSETS = ["user_purchase_staging", "movie_review_raw", "classified_movie_review", "user_behavior_metric"]


def _day_range(date_from: str, date_to: str) -> tuple[dt.date, dt.date]:
    start, end = parse_day(date_from, "--from"), parse_day(date_to, "--to")
    if end < start:
        raise SystemExit(f"ubm: --to {end} is before --from {start}")
    return start, end


def _partition_keys(date_from: str, date_to: str) -> list[str]:
    """The partition keys of the days --from..--to: the days, or their hours with UBM_PARTITION=hourly."""
    from ubm_platform.partitions import granularity

    return granularity().keys_between(*_day_range(date_from, date_to))


def _say(message: str) -> None:
    print(message, flush=True)


def _resources(*keys: str):
    """The configured resources of this environment, outside a run (EnvVar values resolved)."""
    from dagster import build_resources

    from ubm_platform.environments import resources_for

    resources = resources_for(load_settings())
    return build_resources({key: resources[key] for key in keys})


# -- ubm seed -------------------------------------------------------------------------------
def cmd_seed(args: argparse.Namespace) -> int:
    from ubm_platform.partitions import granularity
    from ubm_platform.seed.generator import seed

    settings = load_settings()
    start = parse_day(args.date_from or settings.partition_start, "--from")
    end = parse_day(args.date_to, "--to")
    began = time.monotonic()
    with _resources("oltp") as resources, resources.oltp.connect() as conn:
        _say(f"seeding {resources.oltp.describe()} and {settings.landing}: {start} .. {end}, scale {args.scale}")
        summary = seed(conn, settings.landing, start, end, args.scale, args.seed, progress=lambda m: _say(f"  {m}"),
                       partitioning=granularity())
    _say(
        f"seeded {summary.customers} customers, {summary.films} films, {summary.rentals} rentals, "
        f"{summary.payments} payments, {summary.reviews} reviews in {len(summary.days)} days of {granularity().name} files "
        f"({time.monotonic() - began:.1f}s)"
    )
    return 0


# -- ubm run --------------------------------------------------------------------------------
PROGRESS_RUN_CONFIG = {"loggers": {"progress": {}}}


def _range_tags(keys: list[str]) -> dict:
    """One run for the whole range: the daily assets have single-run backfill policies."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


def _execute(defs, job_name: str, instance, keys: list[str] | None) -> bool:
    """Run a job of the definitions in this process; print failures; True on success."""
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance,
        tags=_range_tags(keys) if keys else None,
        run_config=PROGRESS_RUN_CONFIG,
        raise_on_error=False,
    )
    if result.success:
        return True
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None and error.cause is not None and "DagsterExecutionStepExecutionError" in error.message:
            error = error.cause  # the user code's exception, not Dagster's wrapper
        message = error.message.strip() if error else "unknown error"
        _say(f"  FAILED {event.step_key}: {message}")
    _say(f"  full logs: run {result.run_id} in the Dagster instance ($DAGSTER_HOME; `make dev` to browse)")
    return False


def cmd_run(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from ubm_platform.instance import ensure_dagster_home

    settings = load_settings()
    keys = _partition_keys(args.date_from, args.date_to)
    ensure_dagster_home(settings)
    from ubm_platform.definitions import defs
    from ubm_platform.defs.sentiment.assets import CURRENT_POINTER

    instance = DagsterInstance.get()
    began = time.monotonic()
    with _resources("lake") as resources:
        has_model = resources.lake.exists(CURRENT_POINTER)
    if args.retrain_model or not has_model:
        if not settings.training_data:
            _say(f"landing the vendor's reviews of {keys[0]}..{keys[-1]} to train the sentiment model on their scores")
            if not _execute(defs, "movie_review_landing_job", instance, keys):
                return 1
        _say("training sentiment_model")
        if not _execute(defs, "sentiment_model_job", instance, None):
            return 1
    _say(f"materializing {', '.join(DAILY_ASSETS)} for {keys[0]}..{keys[-1]} in one run")
    if not _execute(defs, "daily_pipeline_job", instance, keys):
        return 1
    _say(f"done: {len(keys)} partitions in {time.monotonic() - began:.1f}s (runs recorded in {instance.root_directory})")
    return 0


# -- ubm show -------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace) -> int:
    from ubm_platform.defs.metadata import markdown_table

    first, last = (day.isoformat() for day in _day_range(args.date_from, args.date_to))
    window = {"date_from": first, "date_to": last}
    with _resources("warehouse") as resources:
        summary_columns, summary = resources.warehouse.query(DAILY_SUMMARY_SQL, window)
        columns, rows = resources.warehouse.query(METRIC_ROWS_SQL, window)
    _say(markdown_table(summary_columns, summary) + "\n")
    shown = rows if args.limit <= 0 else rows[: args.limit]
    _say(markdown_table(columns, shown))
    _say(f"({len(rows)} rows of user_behavior_metric from {first} to {last}"
         + (f", first {len(shown)} shown)" if len(shown) < len(rows) else ")"))
    return 0


# -- ubm model ------------------------------------------------------------------------------
def _trainer_and_spark():
    """spark_jobs/train_sentiment_model.py (the code the sentiment_model asset runs) and a local Spark session."""
    from ubm_platform.resources.spark import LocalSparkResource, load_spark_job

    return load_spark_job("train_sentiment_model.py"), LocalSparkResource().session()


def cmd_model_train(args: argparse.Namespace) -> int:
    trainer, spark = _trainer_and_spark()
    model = trainer.train(spark, trainer.load_labeled(spark, args.labeled), args.out, args.holdout, args.seed)
    metrics = model["metrics"]
    _say(f"model {model['version']} in {args.out}: held-out 3-class accuracy {metrics['accuracy_3class']:.4f}, "
         f"binary accuracy {metrics['accuracy_binary']:.4f}, macro F1 {metrics['macro_f1_3class']:.4f}")
    return 0


def cmd_model_evaluate(args: argparse.Namespace) -> int:
    trainer, spark = _trainer_and_spark()
    report = trainer.evaluate(spark, args.model, trainer.load_labeled(spark, args.labeled))
    _print_report(report, args.json)
    return 0


def cmd_model_cross_validate(args: argparse.Namespace) -> int:
    import tempfile

    from ubm_platform.defs.metadata import markdown_table

    trainer, spark = _trainer_and_spark()
    with tempfile.TemporaryDirectory(prefix="ubm-cv-") as work_dir:
        report = trainer.cross_validate(spark, trainer.load_labeled(spark, args.labeled), work_dir, args.folds, args.seed)
    if not args.json:
        _say(f"{args.folds}-fold cross-validation: each row classified by the model fitted on the other folds\n")
        _say(markdown_table(["fold", "n", "3-class accuracy", "binary accuracy", "macro F1"],
                            [(i + 1, f["n"], f"{f['accuracy_3class']:.4f}", f"{f['accuracy_binary']:.4f}",
                              f"{f['macro_f1_3class']:.4f}") for i, f in enumerate(report["per_fold"])]) + "\n")
        _say("all folds pooled:")
    _print_report(report, args.json)
    return 0


def _print_report(report: dict, as_json: bool) -> None:
    from ubm_platform.defs.metadata import markdown_table

    if as_json:
        print(json.dumps(report))
        return
    rows = [(label, *(f"{v[k]:.4f}" for k in ("precision", "recall", "f1")), v["support"])
            for label, v in [*report["per_class"].items(), ("macro avg", report["macro_avg"]),
                             ("weighted avg", report["weighted_avg"])]]
    _say(markdown_table(["class", "precision", "recall", "f1", "support"], rows))
    _say(f"\naccuracy (3-class): {report['accuracy_3class']:.4f} on {report['n']} reviews")
    _say(f"accuracy (positive vs negative, non-neutral rows): {report['accuracy_binary']:.4f} on {report['n_binary']}")
    matrix = report["confusion_matrix"]
    _say("\nconfusion matrix (rows: true class)")
    _say(markdown_table(["", *matrix["labels"]], [(l, *c) for l, c in zip(matrix["labels"], matrix["matrix"])]))


# -- ubm doctor ----------------------------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    from ubm_platform.doctor import diagnose

    return diagnose(_say)


# -- ubm dev --------------------------------------------------------------------------------
def cmd_dev(args: argparse.Namespace) -> int:
    import os

    from ubm_platform.instance import ensure_dagster_home
    from ubm_platform.settings import PROJECT_ROOT

    ensure_dagster_home(load_settings())
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    command = [sys.executable, "-m", "dagster", "dev", "-w", workspace, "-h", args.host, "-p", str(args.port)]
    os.execv(sys.executable, command)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ubm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    seed = commands.add_parser("seed", help="fill the OLTP database and the vendor landing area with sample data")
    # Default read when seeding, not here: a bad setting must not stop `ubm doctor` from reporting it.
    seed.add_argument("--from", dest="date_from", default=None, help="first day (default UBM_PARTITION_START)")
    seed.add_argument("--to", dest="date_to", default="2022-06-30")
    seed.add_argument("--scale", type=float, default=1.0, help="1 is about Pagila's size")
    seed.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    seed.set_defaults(func=cmd_seed)

    run = commands.add_parser("run", help="materialize the pipeline for a range of days through Dagster")
    run.add_argument("--from", dest="date_from", required=True)
    run.add_argument("--to", dest="date_to", required=True)
    run.add_argument("--retrain-model", action="store_true", help="train sentiment_model again first")
    run.set_defaults(func=cmd_run)

    show = commands.add_parser("show", help="print user_behavior_metric rows")
    show.add_argument("--from", dest="date_from", required=True)
    show.add_argument("--to", dest="date_to", required=True)
    show.add_argument("--limit", type=int, default=0, help="rows to print (0: all)")
    show.set_defaults(func=cmd_show)

    doctor = commands.add_parser(
        "doctor", help="check the configured environment (endpoints, bucket, credentials, Java); exit 1 on a problem")
    doctor.set_defaults(func=cmd_doctor)

    dev = commands.add_parser("dev", help="start the Dagster UI on the platform's definitions")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=cmd_dev)

    model = commands.add_parser("model", help="train or evaluate the sentiment model outside the pipeline")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    labeled_help = ("labelled reviews: a CSV with header review_str,score (score 1..5), an SST sentence file "
                    "('<label 0..4> <text>' a line, e.g. stsa.fine.train), or a Parquet folder/glob")
    train = model_commands.add_parser("train", help="train on labelled reviews")
    train.add_argument("--labeled", required=True, help=labeled_help)
    train.add_argument("--out", required=True)
    train.add_argument("--holdout", type=float, default=0.2)
    train.add_argument("--seed", type=int, default=42)
    train.set_defaults(func=cmd_model_train)
    evaluate = model_commands.add_parser("evaluate", help="print the classification report on labelled reviews")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--labeled", required=True, help=labeled_help)
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(func=cmd_model_evaluate)
    cross_validate = model_commands.add_parser(
        "cross-validate", help="estimate the quality on unseen reviews: k-fold cross-validation of training")
    cross_validate.add_argument("--labeled", required=True, help=labeled_help)
    cross_validate.add_argument("--folds", type=int, default=5)
    cross_validate.add_argument("--seed", type=int, default=42)
    cross_validate.add_argument("--json", action="store_true")
    cross_validate.set_defaults(func=cmd_model_cross_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
