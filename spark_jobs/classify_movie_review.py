"""Classify movie reviews with the trained sentiment model (PySpark, self-contained, spark-submit ready).

Usage:
    spark-submit classify_movie_review.py --input IN_PARQUET_DIR --output OUT_DIR --date 2022-01-02 --model MODEL_DIR
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os

from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

LABELS = ["negative", "neutral", "positive"]


def _read_text(path: str) -> str:
    if "://" not in path or path.startswith("file:"):
        local = path[len("file:"):] if path.startswith("file:") else path
        with open(local, "r", encoding="utf-8") as f:
            return f.read()
    spark = SparkSession.getActiveSession()
    return "\n".join(r.value for r in spark.read.text(path, wholetext=True).collect())


_MODELS: dict = {}


def load_model(model_dir: str):
    """(PipelineModel, metadata), loaded once per process: a range of days reuses it (a load costs seconds)."""
    if model_dir not in _MODELS:
        meta = json.loads(_read_text(os.path.join(model_dir, "ubm_model.json")))
        _MODELS[model_dir] = (PipelineModel.load(os.path.join(model_dir, "pipeline")), meta)
    return _MODELS[model_dir]


def classify(spark: SparkSession, reviews: DataFrame, model_dir: str) -> DataFrame:
    model, meta = load_model(model_dir)
    labels = meta.get("labels", LABELS)
    version = str(meta["version"])
    df = reviews.select(F.col("cid").cast("long").alias("cid"), F.col("review_id").cast("string").alias("review_id"),
                        F.coalesce(F.col("review_str").cast("string"), F.lit("")).alias("review_str"))
    out = model.transform(df).withColumn("_p", vector_to_array(F.col("probability")))
    idx = F.col("prediction").cast("int")
    sentiment = F.element_at(F.array(*[F.lit(l) for l in labels]), idx + 1)
    return out.select(
        F.col("cid").cast("long").alias("cid"),
        F.col("review_id").cast("string").alias("review_id"),
        (sentiment == F.lit("positive")).alias("positive_review"),
        sentiment.alias("sentiment"),
        F.element_at(F.col("_p"), idx + 1).cast("double").alias("probability"),
        F.lit(version).alias("model_version"),
    )


def _validate_date(insert_date: str) -> str:
    try:
        if not isinstance(insert_date, str) or len(insert_date) != 10:
            raise ValueError
        _dt.date.fromisoformat(insert_date)
    except ValueError:
        raise ValueError(f"insert_date must be YYYY-MM-DD, got {insert_date!r}") from None
    return insert_date


def run(spark: SparkSession, input_path: str, output_path: str, insert_date: str, model_dir: str) -> dict:
    _validate_date(insert_date)
    reviews = spark.read.parquet(input_path)
    result = classify(spark, reviews, model_dir)
    result.write.mode("overwrite").parquet(output_path)
    written = spark.read.parquet(output_path)
    counts = {r["sentiment"]: int(r["n"]) for r in written.groupBy("sentiment").agg(F.count(F.lit(1)).alias("n")).collect()}
    by = {l: counts.get(l, 0) for l in LABELS}
    return {"rows": sum(counts.values()), "by_sentiment": by, "model_version": load_model(model_dir)[1]["version"]}


def _dagster_pipes():
    """Dagster Pipes when the platform launched this job on EMR (context read from and messages written to
    S3, see ubm_platform/resources/emr.py); a no-op context for a hand-run spark-submit."""
    if "DAGSTER_PIPES_CONTEXT" not in os.environ:
        from contextlib import nullcontext

        return nullcontext()
    import boto3
    from dagster_pipes import PipesS3ContextLoader, PipesS3MessageWriter, open_dagster_pipes

    s3 = boto3.client("s3")
    return open_dagster_pipes(context_loader=PipesS3ContextLoader(s3), message_writer=PipesS3MessageWriter(s3))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Classify movie reviews with the sentiment model")
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--date", required=True, help="insert date YYYY-MM-DD (informational)")
    ap.add_argument("--model", required=True, help="model directory (pipeline/ + ubm_model.json)")
    args = ap.parse_args(argv)
    _validate_date(args.date)
    spark = SparkSession.builder.appName("classify_movie_review").getOrCreate()
    try:
        with _dagster_pipes() as pipes:
            summary = run(spark, args.input, args.output, args.date, args.model)
            if pipes is not None:  # the summary becomes the asset's materialization metadata
                pipes.report_custom_message(summary)
        print(json.dumps(summary, sort_keys=True))
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
