"""`ubm`: the things that are not Dagster runs (seeding, printing results, model tools), and
`ubm run`, which materializes days through Dagster and shows progress instead of pages of logs."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

from ubm_platform.settings import load_settings, parse_day

DAILY_SUMMARY_SQL = "warehouse/user_behavior_metric_daily_summary.sql"
METRIC_ROWS_SQL = "warehouse/user_behavior_metric_partition_rows.sql"


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


@contextmanager
def _published_warehouse():
    """The warehouse as analysts read it: what the last build published (a run may be building the next)."""
    with _resources("warehouse") as resources:
        yield resources.warehouse.for_analysts()


# -- ubm seed -------------------------------------------------------------------------------
def cmd_seed(args: argparse.Namespace) -> int:
    from ubm_platform.instance import ensure_dagster_home
    from ubm_platform.partitions import granularity
    from ubm_platform.seed.generator import seed

    settings = load_settings()
    ensure_dagster_home(settings)  # what Dagster's own CLI and UI then find (`dg launch`, `dagster asset ...`)
    start = parse_day(args.date_from or settings.partition_start, "--from")
    end = parse_day(args.date_to, "--to")
    began = time.monotonic()
    with _resources("oltp") as resources, resources.oltp.connect() as conn:
        _say(f"seeding {resources.oltp.describe()} and {settings.landing}: {start} .. {end}, scale {args.scale}")
        summary = seed(conn, settings.landing, start, end, args.scale, args.seed, progress=lambda m: _say(f"  {m}"),
                       partitioning=granularity())
    _say(
        f"seeded {summary.customers} customers, {summary.films} films, {summary.rentals} rentals, "
        f"{summary.payments} payments, {summary.reviews} reviews ({summary.bad_review_rows} of them bad rows, as vendors "
        f"send, for the quarantine) in {len(summary.days)} days of {granularity().name} files "
        f"({time.monotonic() - began:.1f}s)"
    )
    return 0


# -- ubm run --------------------------------------------------------------------------------
PROGRESS_RUN_CONFIG = {"loggers": {"progress": {}}}


def _partition_tags(keys: list[str]) -> dict:
    """One partition, or the whole range in one run (the assets have single-run backfill policies), as
    `dagster asset materialize --partition` / `--partition-range` tag it."""
    from ubm_platform.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG

    return {PARTITION_TAG: keys[0]} if len(keys) == 1 else {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}


def _launch(defs, instance, keys: list[str], assets: Sequence) -> bool:
    """What `dagster asset materialize --select <assets> --partition-range <keys>` does, in this process
    (with the progress logger, and tags that tie the run to this process); print failures; True on success."""
    from ubm_platform.runs import process_tags

    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=list(assets),
        # the run lives and dies with this process: its tags let the next start tell (ubm_platform/runs.py)
        tags={**_partition_tags(keys), **process_tags()},
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
    from ubm_platform.runs import reap

    instance = DagsterInstance.get()
    began = time.monotonic()
    with _resources("lake") as resources:
        reaped = reap(instance, resources.lake)  # runs of killed `ubm` processes, and their staging
        has_model = resources.lake.has_current_model()
    if reaped.runs or reaped.staging:
        _say(str(reaped))
    # One launch; the asset graph orders it: a model in the selection is trained after the range's
    # reviews are landed and before they are classified.
    from dagster import AssetKey

    from ubm_platform.defs.jobs import DAILY_ASSETS

    assets = sorted(DAILY_ASSETS.resolve(defs.resolve_asset_graph()), key=lambda k: k.to_user_string())
    assets += [AssetKey("sentiment_model")] if args.retrain_model or not has_model else []
    _say(f"materializing {', '.join(a.to_user_string() for a in assets)} for {keys[0]}..{keys[-1]} in one run")
    if not _launch(defs, instance, keys, assets):
        return 1
    _say(f"done: {len(keys)} partitions in {time.monotonic() - began:.1f}s (runs recorded in {instance.root_directory})")
    return 0


# -- ubm show -------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace) -> int:
    from ubm_platform.defs.metadata import markdown_table

    first, last = (day.isoformat() for day in _day_range(args.date_from, args.date_to))
    window = {"date_from": first, "date_to": last}
    with _published_warehouse() as warehouse:
        summary_columns, summary = warehouse.query(DAILY_SUMMARY_SQL, window)
        columns, rows = warehouse.query(METRIC_ROWS_SQL, window)
    _say(markdown_table(summary_columns, summary) + "\n")
    shown = rows if args.limit <= 0 else rows[: args.limit]
    _say(markdown_table(columns, shown))
    _say(f"({len(rows)} rows of user_behavior_metric from {first} to {last}"
         + (f", first {len(shown)} shown)" if len(shown) < len(rows) else ")"))
    return 0


# -- ubm model ------------------------------------------------------------------------------
def _trainer_and_spark():
    """spark_jobs/train_sentiment_model.py (the code the sentiment_model asset runs) and a local Spark session."""
    from ubm_platform.resources.spark import load_spark_job, local_session

    return load_spark_job("train_sentiment_model.py"), local_session()


def cmd_model_train(args: argparse.Namespace) -> int:
    trainer, spark = _trainer_and_spark()
    model = trainer.train(spark, trainer.load_labeled(spark, args.labeled), args.out, args.holdout, args.seed)
    from ubm_platform.defs.sentiment.assets import model_summary

    _say(f"model {model['version']} in {args.out}: held-out {model_summary(model['metrics'])}")
    return 0


def cmd_model_evaluate(args: argparse.Namespace) -> int:
    trainer, spark = _trainer_and_spark()
    report = trainer.evaluate(spark, args.model, trainer.load_labeled(spark, args.labeled))
    _print_report(report, args.json)
    return 0


def cmd_model_cross_validate(args: argparse.Namespace) -> int:
    import tempfile

    from ubm_platform.defs.metadata import markdown_table
    from ubm_platform.defs.sentiment.assets import accuracy_interval

    trainer, spark = _trainer_and_spark()
    with tempfile.TemporaryDirectory(prefix="ubm-cv-") as work_dir:
        report = trainer.cross_validate(spark, trainer.load_labeled(spark, args.labeled), work_dir, args.folds, args.seed)
    if not args.json:
        _say(f"{args.folds}-fold cross-validation: each row classified by the model fitted on the other folds\n")
        _say(markdown_table(["fold", "n", "3-class accuracy", "its 95% CI", "binary accuracy", "macro F1"],
                            [(i + 1, f["n"], f"{f['accuracy_3class']:.4f}",
                              "{:.4f}-{:.4f}".format(*accuracy_interval(f["accuracy_3class"], f["n"])),
                              f"{f['accuracy_binary']:.4f}", f"{f['macro_f1_3class']:.4f}")
                             for i, f in enumerate(report["per_fold"])]) + "\n")
        _say("all folds pooled:")
    _print_report(report, args.json)
    return 0


def _print_report(report: dict, as_json: bool) -> None:
    from ubm_platform.defs.metadata import markdown_table
    from ubm_platform.defs.sentiment.assets import accuracy_text

    if as_json:
        print(json.dumps(report))
        return
    rows = [(label, *(f"{v[k]:.4f}" for k in ("precision", "recall", "f1")), v["support"])
            for label, v in [*report["per_class"].items(), ("macro avg", report["macro_avg"]),
                             ("weighted avg", report["weighted_avg"])]]
    _say(markdown_table(["class", "precision", "recall", "f1", "support"], rows))
    _say(f"\nmacro F1: {report['macro_f1_3class']:.4f}, neutral recall: {report['per_class']['neutral']['recall']:.4f}")
    _say(f"accuracy (3-class): {accuracy_text(report['accuracy_3class'], report['n'], 4)}")
    _say(f"accuracy (positive vs negative, non-neutral rows): "
         f"{accuracy_text(report['accuracy_binary'], report['n_binary'], 4)}")
    matrix = report["confusion_matrix"]
    _say("\nconfusion matrix (rows: true class)")
    _say(markdown_table(["", *matrix["labels"]], [(l, *c) for l, c in zip(matrix["labels"], matrix["matrix"])]))


# -- ubm sql --------------------------------------------------------------------------------
def _setting(name: str) -> str:
    """A setting's value or catalogued default, as the user should see it."""
    from ubm_platform.settings import value_or_default

    return value_or_default(name) or f"({name} unset)"


def _redshift_hint() -> str:
    where = ", ".join(f"{name}={_setting(name)}" for name in (
        "UBM_REDSHIFT_HOST", "UBM_REDSHIFT_PORT", "UBM_REDSHIFT_DATABASE", "UBM_REDSHIFT_USER"))
    return ("the warehouse is Redshift (UBM_ENV=aws): query it with a Redshift client (psql, DBeaver, the Redshift "
            f"query editor) on {where}, with UBM_REDSHIFT_PASSWORD or, when UBM_REDSHIFT_IAM=1, IAM credentials for "
            "UBM_REDSHIFT_CLUSTER_ID; the metric is public.user_behavior_metric, the lake's datasets spectrum.*")


def _sql_statement(conn, sql: str) -> bool:
    """Run SQL on DuckDB and print its result as a table; False, with DuckDB's message, when it fails."""
    import duckdb

    try:
        relation = conn.sql(sql)
        if relation is not None:  # None: a statement without a result (SET, PRAGMA...)
            relation.show()
    except duckdb.Error as exc:
        _say(f"Error: {exc}")
        return False
    return True


def _sql_prompt(conn, path) -> bool:
    """A read-eval-print loop: statements end with ';' (and may span lines); .quit or end of input leaves."""
    import duckdb

    interactive = sys.stdin.isatty()
    if interactive:
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
        _say(f"DuckDB {duckdb.__version__} on {path}, read-only. End statements with ';' (try SHOW ALL TABLES;), "
             "leave with .quit or Ctrl-D.")
    ok, lines = True, []
    while True:
        try:
            line = input(("...> " if lines else "ubm> ") if interactive else "")
        except EOFError:
            break
        except KeyboardInterrupt:  # Ctrl-C drops the statement being typed, as shells do
            lines = []
            _say("")
            continue
        if not lines and line.strip() in (".quit", ".exit"):
            break
        lines.append(line)
        statement = "\n".join(lines).strip()
        if not statement or statement.endswith(";"):
            ok = (not statement or _sql_statement(conn, statement)) and ok
            lines = []
    if "\n".join(lines).strip():  # input ended without the last ';'
        ok = _sql_statement(conn, "\n".join(lines)) and ok
    return ok


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from ubm_platform.resources.warehouse import open_duckdb

    settings = load_settings()
    if settings.env != "local":
        _say(_redshift_hint())
        return 1
    path = settings.warehouse_path
    if not path.exists():
        _say(f"no warehouse yet at {path}: `ubm run --from DAY --to DAY` builds it")
        return 1
    try:
        conn = open_duckdb(path, settings.home, read_only=True)
    except duckdb.Error as exc:
        _say(f"cannot open {path}: {exc}")
        return 1
    with conn:
        ok = _sql_statement(conn, args.sql) if args.sql is not None else _sql_prompt(conn, path)
    return 0 if ok else 1


# -- ubm summary ----------------------------------------------------------------------------
DEV_HOST, DEV_PORT = "127.0.0.1", 3000
DASHBOARD_HOST, DASHBOARD_PORT = "127.0.0.1", 8050


def _lake_lines(root) -> list[str]:
    """One line per dataset of the local lake: its days, the quarantine's rows, the current model."""
    import pyarrow.parquet as pq

    from ubm_platform.resources.lake import DATASET_PATHS

    lines = []
    for name, relative in DATASET_PATHS.items():
        folder = root / relative
        if name == "sentiment_model":
            pointer = folder / "current.json"
            state = f"current: {json.loads(pointer.read_text())['version']}" if pointer.exists() else "no model yet"
        elif snapshot := sorted(folder.glob("*.parquet")):
            state = f"snapshot, {sum(pq.read_metadata(f).num_rows for f in snapshot)} rows"
        else:
            days = sorted(p.name.removeprefix("insert_date=") for p in folder.glob("insert_date=*"))
            state = f"{len(days)} days, {days[0]} .. {days[-1]}" if days else "empty"
            if name == "movie_review_quarantine" and days:
                bad = sum(pq.read_metadata(f).num_rows for f in folder.rglob("*.parquet"))
                state += f", {bad} bad rows with line number and reason"
        lines.append(f"               {relative:<30} {state}")
    return lines


def _warehouse_line(path) -> str:
    if not path.exists():
        return f"{path}: not built yet (`ubm run`)"
    with _published_warehouse() as warehouse:  # every day: the widest window a DATE holds
        _columns, days = warehouse.query(DAILY_SUMMARY_SQL, {"date_from": "0001-01-01",
                                                                       "date_to": "9999-12-31"})
    if not days:
        return f"{path}: user_behavior_metric is empty"
    return (f"{path}: user_behavior_metric, {sum(day[1] for day in days)} rows over {len(days)} days "
            f"({days[0][0]} .. {days[-1][0]})")


def _answer_lines(path) -> list[str]:
    """The three questions' headlines, when they have been built."""
    import duckdb

    if not path.exists():
        return []
    try:
        with _published_warehouse() as warehouse:
            _columns, rows = warehouse.query("warehouse/question_answers.sql")
    except duckdb.CatalogException:
        return []
    if not rows:
        return []
    (lift, low, high, genre_p, pairs, rho, similarity_p, customers, difference, d_low, d_high, review_p,
     positive, negative) = rows[0]

    def number(value, form: str = ".3f") -> str:
        return "-" if value is None else format(value, form)

    return [
        "  answers    (docs/analytics.md; tables genre_affinity, similarity_by_activity_summary, review_rental_effect_comparison)",
        f"    next rental in the same genre:   lift {number(lift, '.2f')} (95% {number(low, '.2f')} .. {number(high, '.2f')}), "
        f"p {number(genre_p)}, {pairs} consecutive pairs",
        f"    alike rentals vs activity:       Spearman rho {number(rho)}, p {number(similarity_p)}, {customers} customers",
        f"    same genre after positive vs negative reviews: {number(difference, '+.3f')} "
        f"(95% {number(d_low, '+.3f')} .. {number(d_high, '+.3f')}), p {number(review_p)}, "
        f"{positive} positive / {negative} negative reviews",
    ]


def cmd_summary(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.env == "local":
        _say(f"what has been built, under UBM_HOME={settings.home}:")
        _say(f"  lake       {settings.lake_root}: Parquet, one folder per day")
        for line in _lake_lines(settings.lake_root):
            _say(line)
        _say(f"  warehouse  {_warehouse_line(settings.warehouse_path)}")
        for line in _answer_lines(settings.warehouse_path):
            _say(line)
        from ubm_platform.defs.dashboard.assets import DASHBOARD_PATH

        page = settings.lake_root / DASHBOARD_PATH
        _say(f"  dashboard  {page if page.exists() else 'not built yet (`ubm run`)'}")
        _say(f"  runs       {settings.dagster_home}: the Dagster instance (runs, logs, checks)")
        query = [".venv/bin/ubm sql", '.venv/bin/ubm sql -c "SELECT * FROM user_behavior_metric LIMIT 10"']
    else:
        lake = f"s3://{_setting('UBM_S3_BUCKET')}/{_setting('UBM_S3_PREFIX')}"
        _say(f"where it is built (UBM_ENV=aws):\n  lake       {lake}\n  warehouse  Redshift, public.user_behavior_metric")
        query = [_redshift_hint()]
    _say("\nwhat to do next:")
    _say(f"  browse the assets, runs and checks:  make dev  (or .venv/bin/ubm dev), then open http://{DEV_HOST}:{DEV_PORT}")
    _say(f"  open the dashboard:                  make dashboard  (or .venv/bin/ubm dashboard), then open "
         f"http://{DASHBOARD_HOST}:{DASHBOARD_PORT}")
    _say(f"  query the warehouse:                 {query[0]}")
    for line in query[1:]:
        _say(f"                                       {line}")
    return 0


# -- ubm dashboard ------------------------------------------------------------------------------


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard page from the lake (a local folder or S3), read again at each request: a run
    that rebuilds it shows at the next reload."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ubm_platform.defs.dashboard.assets import DASHBOARD_PATH

    with _resources("lake") as resources:
        lake = resources.lake
    if not lake.exists(DASHBOARD_PATH):
        _say(f"no dashboard yet at {lake.uri(DASHBOARD_PATH)}: `ubm run --from DAY --to DAY` builds it")
        return 1

    class Dashboard(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/", "/index.html"):
                self.send_error(404)
                return
            page = lake.read_text(DASHBOARD_PATH).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_args) -> None:  # one line at start is enough
            pass

    server = ThreadingHTTPServer((args.host, args.port), Dashboard)
    _say(f"the dashboard ({lake.uri(DASHBOARD_PATH)}) at http://{args.host}:{server.server_port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


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
    dg = str(Path(sys.executable).with_name("dg"))  # `dg dev` on the project (pyproject.toml's [tool.dg])
    os.chdir(PROJECT_ROOT)
    os.execv(dg, [dg, "dev", "--host", args.host, "--port", str(args.port)])
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
    run.add_argument("--retrain-model", action="store_true", help="train sentiment_model again (on the landed reviews, unless UBM_TRAINING_DATA is set)")
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
    dev.add_argument("--host", default=DEV_HOST)
    dev.add_argument("--port", type=int, default=DEV_PORT)
    dev.set_defaults(func=cmd_dev)

    sql = commands.add_parser(
        "sql", help="an SQL prompt on the warehouse (DuckDB, read-only); with UBM_ENV=aws, how to reach Redshift")
    sql.add_argument("-c", "--command", dest="sql", default=None, help="run this SQL, print the result and exit")
    sql.set_defaults(func=cmd_sql)

    dashboard = commands.add_parser("dashboard", help="serve the analysts' dashboard (built by each run)")
    dashboard.add_argument("--host", default=DASHBOARD_HOST)
    dashboard.add_argument("--port", type=int, default=DASHBOARD_PORT, help="0: any free port")
    dashboard.set_defaults(func=cmd_dashboard)
    summary = commands.add_parser("summary", help="what has been built under UBM_HOME, and what to do next")
    summary.set_defaults(func=cmd_summary)

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
