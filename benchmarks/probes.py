"""The benchmark's own measuring programs, each run as a subprocess by benchmarks.run:

    python -m benchmarks.probes spark-session
    python -m benchmarks.probes copy-baseline --from 2022-01-01 --to 2022-06-30
    python -m benchmarks.probes classify-generate --out DIR --rows 1000000
    python -m benchmarks.probes classify-compare --input DIR --warmup-input DIR --out DIR --model MODEL_DIR

Each prints one `BENCH_RESULT {json}` line with its inner timings (what it did, measured inside the
process, without the interpreter's start-up), which benchmarks.run records next to the wall time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

RESULT_PREFIX = "BENCH_RESULT "
KEYWORD_PATTERN = r"(?i)\b(good|great|best|love|brilliant|joy)\b"


def _emit(result: dict) -> None:
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)


# -- spark-session: the fixed cost of a local SparkSession ----------------------------------
def spark_session(_args: argparse.Namespace) -> None:
    began = time.monotonic()
    from ubm_platform.resources.spark import local_session

    imported = time.monotonic()
    spark = local_session()
    started = time.monotonic()
    spark.stop()
    stopped = time.monotonic()
    _emit({"import_s": imported - began, "session_start_s": started - imported, "stop_s": stopped - started})


# -- copy-baseline: PostgreSQL's own COPY of the extraction query, output discarded ---------
def copy_baseline(args: argparse.Namespace) -> None:
    import psycopg

    from ubm_platform import sql_files
    from ubm_platform.resources.oltp import embedded_dsn
    from ubm_platform.settings import load_settings

    start = dt.datetime.combine(dt.date.fromisoformat(args.date_from), dt.time(), tzinfo=dt.timezone.utc)
    end = dt.datetime.combine(dt.date.fromisoformat(args.date_to), dt.time(), tzinfo=dt.timezone.utc)
    end += dt.timedelta(days=1)
    dsn = os.environ.get("UBM_OLTP_DSN") or embedded_dsn(load_settings().embedded_pg_dir)
    sql = sql_files.to_paramstyle(sql_files.load("oltp/extract_user_purchase.sql"), "pyformat")
    copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    began = time.monotonic()
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TIME ZONE 'UTC'")  # as the platform's connections do
        connected = time.monotonic()
        n_bytes = newlines = chunks = 0
        with conn.cursor() as cur, cur.copy(copy_sql, {"window_start": start, "window_end": end}) as copy:
            while True:
                chunk = copy.read()
                if not chunk:
                    break
                n_bytes += len(chunk)
                newlines += bytes(chunk).count(b"\n")  # no field of this query holds a newline
                chunks += 1
        done = time.monotonic()
    _emit({"connect_s": connected - began, "copy_s": done - connected, "rows": max(0, newlines - 1),
           "bytes": n_bytes, "chunks": chunks, "range": [args.date_from, args.date_to]})


# -- classify-generate: synthetic reviews in bounded batches --------------------------------
def classify_generate(args: argparse.Namespace) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ubm_platform.seed.generator import TITLE_WORDS
    from ubm_platform.seed.reviews import make_reviews

    began = time.monotonic()
    rng = np.random.default_rng(args.seed)
    words = np.array(TITLE_WORDS)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    schema = pa.schema([("cid", pa.int64()), ("review_id", pa.string()), ("review_str", pa.string())])
    written = part = 0
    while written < args.rows:
        n = min(args.batch, args.rows - written)
        titles = [f"{a} {b}".upper() for a, b in zip(rng.choice(words, n), rng.choice(words, n))]
        texts, _scores = make_reviews(rng, titles, n)
        table = pa.table({
            "cid": rng.integers(1, args.customers + 1, n),
            "review_id": [f"bench-{written + i:09d}" for i in range(n)],
            "review_str": texts,
        }, schema=schema)
        # One file per batch: Spark reads the input with at least as many tasks as there are cores.
        pq.write_table(table, out / f"part-{part:05d}.parquet", compression="zstd")
        written += n
        part += 1
    _emit({"rows": written, "files": part, "bytes": sum(p.stat().st_size for p in out.iterdir()),
           "seconds": time.monotonic() - began})


# -- classify-compare: the model vs a keyword rule, same input, same job, same session --------------
def keyword_classify(spark, reviews, model_dir: str, carry: tuple[str, ...] = ()):
    """A keyword rule in Spark SQL functions with classify_movie_review.classify's signature and columns: the job
    (classify_partitions: partition assignment, partitioned write, counts) with it differs from the model's only
    in how a review is classified."""
    from pyspark.sql import functions as F

    positive = F.coalesce(F.col("review_str").cast("string"), F.lit("")).rlike(KEYWORD_PATTERN)
    return reviews.select(
        F.col("cid").cast("long").alias("cid"),
        F.col("review_id").cast("string").alias("review_id"),
        positive.alias("positive_review"),
        F.when(positive, F.lit("positive")).otherwise(F.lit("negative")).alias("sentiment"),
        F.lit(1.0).alias("probability"),
        F.lit("keyword-rule").alias("model_version"),
        *carry,
    )


TIMED_ROUNDS = 2


def classify_compare(args: argparse.Namespace) -> None:
    from ubm_platform.resources.spark import load_spark_job, local_session

    classifier = load_spark_job("classify_movie_review.py")
    began = time.monotonic()
    spark = local_session()
    cores = spark.sparkContext.defaultParallelism
    session_s = time.monotonic() - began
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    # One partition each: the input folder (the job's partitions file names folders under --input).
    out.mkdir(parents=True)

    def partitions(folder: str) -> str:
        listing = out / f"partitions-{Path(folder).name}.json"
        listing.write_text(json.dumps({"partitions": [{"key": "2022-03-15", "path": Path(folder).name}]}))
        return str(listing)

    def job(kind: str, folder: str, output: str) -> tuple[float, dict]:
        rule = classifier.classify if kind == "model" else keyword_classify
        t0 = time.monotonic()
        summary = classifier.classify_partitions(spark, str(Path(folder).parent), partitions(folder), str(out / output),
                                                 args.model, rule)
        return time.monotonic() - t0, summary

    # Warm-up (untimed) on a small input: class loading, the model's load and scorer, JIT for both paths.
    warm_began = time.monotonic()
    for kind in ("model", "keyword"):
        job(kind, args.warmup_input, f"warmup-{kind}")
    warmup_s = time.monotonic() - warm_began
    # Alternating timed rounds; each kind's best round is its time (steady state: a round's JIT or a
    # neighbour's burst on this shared machine only ever adds time).
    runs: dict[str, list[float]] = {"model": [], "keyword": []}
    summaries: dict[str, dict] = {}
    for _ in range(TIMED_ROUNDS):
        for kind in ("model", "keyword"):
            seconds, summaries[kind] = job(kind, args.input, kind)
            runs[kind].append(seconds)
    spark.stop()
    result = {"session_start_s": session_s, "warmup_s": warmup_s, "spark_cores": cores}
    for kind in ("model", "keyword"):
        result[kind] = {"seconds": min(runs[kind]), "runs_s": runs[kind], "rows": summaries[kind]["rows"],
                        "by_sentiment": summaries[kind]["by_sentiment"]}
    result["model"].update(model_version=summaries["model"]["model_version"], applied_by=summaries["model"]["applied_by"])
    result["keyword"]["pattern"] = KEYWORD_PATTERN
    _emit(result)
    if not args.keep_output:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.probes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spark-session").set_defaults(func=spark_session)
    copy = commands.add_parser("copy-baseline")
    copy.add_argument("--from", dest="date_from", required=True)
    copy.add_argument("--to", dest="date_to", required=True)
    copy.set_defaults(func=copy_baseline)
    gen = commands.add_parser("classify-generate")
    gen.add_argument("--out", required=True)
    gen.add_argument("--rows", type=int, required=True)
    gen.add_argument("--batch", type=int, default=100_000)
    gen.add_argument("--customers", type=int, default=599)
    gen.add_argument("--seed", type=int, default=7)
    gen.set_defaults(func=classify_generate)
    cmp_ = commands.add_parser("classify-compare")
    cmp_.add_argument("--input", required=True)
    cmp_.add_argument("--warmup-input", required=True)
    cmp_.add_argument("--out", required=True)
    cmp_.add_argument("--model", required=True)
    cmp_.add_argument("--keep-output", action="store_true")
    cmp_.set_defaults(func=classify_compare)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
