"""Classify movie reviews with the trained sentiment model (PySpark, self-contained, spark-submit ready).

One job classifies a whole range of partitions: it reads every listed raw partition at once,
classifies once, and writes the result partitioned by partition into one output folder, so a
backfill pays Spark's start-up, the model load and the job scheduling once, not once per day.

Usage (entry_point.py beside it, see there):
    spark-submit --py-files entry_point.py classify_movie_review.py --input RAW_DATASET_DIR --partitions PARTITIONS_JSON \
        --output OUT_DIR --model MODEL_DIR

PARTITIONS_JSON lists the partitions to classify, in order, each with its folder under --input:
    {"partitions": [{"key": "2022-01-02", "path": "insert_date=2022-01-02"}, ...]}
Partition i's classified rows are written to OUT_DIR/partition_index=i/ (an empty Parquet file when
it has no rows); the summary gives, per partition, that folder, its row count and its count by
sentiment.
"""
from __future__ import annotations

import posixpath
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

from pyspark.ml import PipelineModel
from pyspark.ml.pipeline import PipelineSharedReadWrite
from pyspark.ml.functions import vector_to_array
from pyspark.ml.util import DefaultParamsReader
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from entry_point import Argument, JobArguments, main

LABELS = ["negative", "neutral", "positive"]
# The raw columns classification reads (movie_review_raw's Parquet has more); given, not inferred,
# so reading hundreds of partitions reads no footers up front.
INPUT_SCHEMA = "review_id STRING, cid BIGINT, film_id BIGINT, review_str STRING"
PARTITION_COLUMN = "partition_index"


def _read_text(path: str) -> str:
    if "://" not in path or path.startswith("file:"):
        local = path[len("file:"):] if path.startswith("file:") else path
        with open(local, "r", encoding="utf-8") as f:
            return f.read()
    spark = SparkSession.getActiveSession()
    return "\n".join(r.value for r in spark.read.text(path, wholetext=True).collect())


_MODELS: dict = {}
_METADATA: dict = {}
LOAD_THREADS = 8


def load_pipeline(spark: SparkSession, path: str) -> PipelineModel:
    """What `PipelineModel.load(path)` returns, with the stages read concurrently.

    Reading a stage is a few small Spark jobs (its metadata, then its data); `PipelineModel.load` reads
    the model's 13 stages one after another, and that was the largest part of a one-day classification's
    fixed cost after Spark's start-up. Spark runs jobs from several threads at once, so the reads overlap
    (docs/performance.md, "One-day pipeline vs Spark start"). Same reader functions as `PipelineModel.load`,
    same stages."""
    sc = spark.sparkContext  # what pyspark 3.5's readers take (EMR); pyspark 4's take it too
    metadata = DefaultParamsReader.loadMetadata(path, sc, "org.apache.spark.ml.PipelineModel")
    uids = metadata["paramMap"]["stageUids"]
    stage_paths = [PipelineSharedReadWrite.getStagePath(uid, index, len(uids), os.path.join(path, "stages"))
                   for index, uid in enumerate(uids)]
    with ThreadPoolExecutor(max_workers=LOAD_THREADS, thread_name_prefix="load-model-stage") as pool:
        stages = list(pool.map(lambda stage_path: DefaultParamsReader.loadParamsInstance(stage_path, sc), stage_paths))
    return PipelineModel(stages)._resetUid(metadata["uid"])


def model_metadata(spark: SparkSession, model_dir: str) -> dict:
    """The model's ubm_model.json (version, labels, quality), read once per process."""
    if model_dir not in _METADATA:
        _METADATA[model_dir] = json.loads(_read_text(os.path.join(model_dir, "ubm_model.json")))
    return _METADATA[model_dir]


def load_model(spark: SparkSession, model_dir: str) -> PipelineModel:
    """The model's PipelineModel, loaded once per process: a range of days reuses it (a load costs seconds)."""
    if model_dir not in _MODELS:
        _MODELS[model_dir] = load_pipeline(spark, os.path.join(model_dir, "pipeline"))
    return _MODELS[model_dir]


_SCORERS: dict = {}
SCORER_CLASS = "ubm.sentiment.LinearTextScorer"
JVM_UDFS_JAR = re.compile(r"(ubm-jvm-udfs-\w+)\.jar$")


def saved_scorer_path(spark: SparkSession, model_dir: str) -> str | None:
    """Where the model's scorer, as the session's spark_jobs/jvm jar builds it, is kept: beside the model, named by
    the jar (its name is the hash of its sources, so a scorer saved by other code is never read). None when the
    session's jars do not name it."""
    for jar in spark.sparkContext.getConf().get("spark.jars", "").split(","):
        found = JVM_UDFS_JAR.search(jar.strip())
        if found:
            return _join(model_dir, f"scorer/{found.group(1)}.ser.gz")
    return None


def _compiled_scorer(spark: SparkSession, scorer_class, model_dir: str):
    """(the JVM scorer, where it came from): read from where saved_scorer_path keeps it, else built from the saved
    stages and kept there for the next job (a model's folder never changes, so neither does its scorer)."""
    from py4j.protocol import Py4JJavaError

    jsc = spark.sparkContext._jsc
    saved = saved_scorer_path(spark, model_dir)
    unreadable = False
    try:
        scorer = scorer_class.load(saved, jsc) if saved else None
    except Py4JJavaError as exc:  # built again, and kept in its place
        print(f"[classify_movie_review] cannot read the scorer at {saved}: {exc.java_exception.getMessage()}",
              file=sys.stderr, flush=True)
        scorer, unreadable = None, True
    if scorer is not None:
        return scorer, f"read from {saved}"
    scorer = scorer_class.fromPipeline(load_model(spark, model_dir)._to_java())
    if saved:
        try:
            scorer.save(saved, jsc, unreadable)
        except Py4JJavaError as exc:  # a model folder this job may not write: the next job builds it again
            print(f"[classify_movie_review] could not keep the scorer at {saved}: "
                  f"{exc.java_exception.getMessage()}", file=sys.stderr, flush=True)
    return scorer, "built from the saved stages"


def model_scorer(spark: SparkSession, model_dir: str) -> tuple[str | None, str]:
    """(SQL function, what it is) applying the model in one JVM call per review: spark_jobs/jvm's
    LinearTextScorer, built from the saved stages and giving their probabilities (docs/model.md, "Speed"), or
    read back from where an earlier job kept it (saved_scorer_path).
    (None, why not) when the session lacks the class (spark-submit without the jar in --jars) or the model
    has a shape the scorer does not support: the model's own Spark ML stages are applied then."""
    key = (spark.sparkContext.applicationId, model_dir)
    if key not in _SCORERS:
        from py4j.java_gateway import JavaClass
        from py4j.protocol import Py4JJavaError
        from pyspark.errors.exceptions.captured import CapturedException

        scorer_class = spark.sparkContext._jvm.ubm.sentiment.LinearTextScorer
        if not isinstance(scorer_class, JavaClass):
            _SCORERS[key] = (None, f"Spark ML stages ({SCORER_CLASS} is not on the session's classpath)")
        else:
            try:
                scorer, source = _compiled_scorer(spark, scorer_class, model_dir)
                name = "ubm_sentiment_" + re.sub(r"\W", "_", str(model_metadata(spark, model_dir)["version"]))
                spark._jsparkSession.udf().register(name, scorer.udf(spark.sparkContext._jsc), scorer_class.returnType())
                _SCORERS[key] = (name, f"{scorer.describe()}, {source}")
            except (CapturedException, Py4JJavaError) as exc:  # pyspark converts the JVM's exceptions
                why = exc.java_exception.getMessage() if isinstance(exc, Py4JJavaError) else str(exc).splitlines()[0]
                _SCORERS[key] = (None, f"Spark ML stages ({SCORER_CLASS} cannot apply this model: {why})")
        if _SCORERS[key][0] is None:
            print(f"[classify_movie_review] applying the model with {_SCORERS[key][1]}", file=sys.stderr, flush=True)
    return _SCORERS[key]


def classify(spark: SparkSession, reviews: DataFrame, model_dir: str, carry: tuple[str, ...] = ()) -> DataFrame:
    """The reviews classified: cid, review_id, positive_review, sentiment, probability, model_version (the
    platform's CLASSIFIED_SCHEMA, ubm_platform/defs/movie_review/assets.py), then the `carry` columns."""
    meta = model_metadata(spark, model_dir)
    labels = meta.get("labels", LABELS)
    version = str(meta["version"])
    df = reviews.select(F.col("cid").cast("long").alias("cid"), F.col("review_id").cast("string").alias("review_id"),
                        F.coalesce(F.col("review_str").cast("string"), F.lit("")).alias("review_str"), *carry)
    scorer, _ = model_scorer(spark, model_dir)
    if scorer is not None:
        # the model's first rule is lower(coalesce(review_str, '')): Spark's lower(), not a copy of it
        out = df.withColumn("_s", F.expr(f"{scorer}(lower(review_str))"))
        out = out.withColumn("_p", F.col("_s.probability"))
        idx = F.col("_s.prediction")
    else:
        out = load_model(spark, model_dir).transform(df).withColumn("_p", vector_to_array(F.col("probability")))
        idx = F.col("prediction").cast("int")
    sentiment = F.element_at(F.array(*[F.lit(l) for l in labels]), idx + 1)
    return out.select(
        F.col("cid").cast("long").alias("cid"),
        F.col("review_id").cast("string").alias("review_id"),
        (sentiment == F.lit("positive")).alias("positive_review"),
        sentiment.alias("sentiment"),
        F.element_at(F.col("_p"), idx + 1).cast("double").alias("probability"),
        F.lit(version).alias("model_version"),
        *carry,
    )


def read_partitions(text: str, where: str) -> list[dict]:
    """The partitions file's list of {key, path}; a clear error naming the file when it is malformed."""
    try:
        partitions = json.loads(text)["partitions"]
        if not isinstance(partitions, list) or not partitions:
            raise ValueError("'partitions' must be a non-empty list")
        for p in partitions:
            if not isinstance(p.get("key"), str) or not p["key"] or not isinstance(p.get("path"), str):
                raise ValueError(f"each partition needs a non-empty string 'key' and a string 'path', got {p!r}")
            if not p["path"] or "://" in p["path"] or posixpath.isabs(p["path"]) or ".." in p["path"].split("/"):
                raise ValueError(f"partition {p['key']}: 'path' must be a non-empty path relative to --input, got {p['path']!r}")
        keys = [p["key"] for p in partitions]
        if len(set(keys)) != len(keys):
            raise ValueError("partition keys repeat")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{where}: not a partitions file: {exc}") from None
    return partitions


def _join(root: str, relative: str) -> str:
    return f"{root.rstrip('/')}/{relative}"


def _read_inputs(spark: SparkSession, input_path: str, partitions: list[dict]) -> DataFrame:
    return spark.read.schema(INPUT_SCHEMA).parquet(*[_join(input_path, p["path"]) for p in partitions])


def partition_indexed(spark: SparkSession, input_path: str, partitions: list[dict]) -> DataFrame:
    """The listed partitions' reviews, read in ONE scan, each row with its partition's index.

    One scan, not one per partition: a union of 181 scans compiles 181 plans (seconds each time).
    A row's partition is its file's folder: the last path segments of the file's location, as
    many as the partition's path has, matched against the listed paths.
    """
    depths = {len(p["path"].split("/")) for p in partitions}
    if len(depths) != 1:
        raise ValueError(f"the partitions' paths must all have the same depth, got depths {sorted(depths)}")
    depth = depths.pop()
    index = spark.createDataFrame([(p["path"], i) for i, p in enumerate(partitions)],
                                  f"_partition_path STRING, {PARTITION_COLUMN} INT")
    folder = F.regexp_extract(F.col("_metadata.file_path"), r"^(.*)/[^/]*$", 1)
    relative = F.array_join(F.slice(F.split(folder, "/"), -depth, depth), "/")
    return (_read_inputs(spark, input_path, partitions).withColumn("_partition_path", relative)
            .join(F.broadcast(index), "_partition_path").drop("_partition_path"))


ARGUMENTS = JobArguments(
    "Classify movie reviews with the sentiment model",
    Argument("input_path", "--input", "the raw reviews dataset folder"),
    Argument("partitions_uri", "--partitions", "JSON file of the partitions to classify (see above)"),
    Argument("output_path", "--output", "the folder to write partition_index=<i>/ folders to"),
    Argument("model_dir", "--model", "model directory (pipeline/ + ubm_model.json)"),
)


def run(spark: SparkSession, input_path: str, partitions_uri: str, output_path: str, model_dir: str) -> dict:
    return classify_partitions(spark, input_path, partitions_uri, output_path, model_dir, classify)


def classify_partitions(spark: SparkSession, input_path: str, partitions_uri: str, output_path: str, model_dir: str,
                        classify_reviews) -> dict:
    """The job, with the function that classifies the reviews given: `run` gives `classify`; the benchmark gives a
    keyword rule of the same signature, to compare the two per review inside the same job (benchmarks/probes.py)."""
    partitions = read_partitions(_read_text(partitions_uri), partitions_uri)
    reviews = partition_indexed(spark, input_path, partitions)
    result = classify_reviews(spark, reviews, model_dir, carry=("film_id", PARTITION_COLUMN))
    result.write.mode("overwrite").partitionBy(PARTITION_COLUMN).parquet(output_path)
    # The schema is given: a range with no review at all writes no file, and there is nothing to infer it from.
    written = spark.read.schema(result.schema).parquet(output_path)
    counts: dict[int, dict[str, int]] = {}
    for r in written.groupBy(PARTITION_COLUMN, "sentiment").agg(F.count(F.lit(1)).alias("n")).collect():
        counts.setdefault(int(r[PARTITION_COLUMN]), {})[r["sentiment"]] = int(r["n"])
    # Every review read must have found its partition (a file's folder not matched would drop its rows).
    read = _read_inputs(spark, input_path, partitions).count()  # from the files' footers
    classified = sum(n for by in counts.values() for n in by.values())
    if read != classified:
        raise ValueError(f"{read} reviews read under {input_path} but {classified} classified: the folders of some "
                         f"input files did not match the paths listed in {partitions_uri}")
    empty = spark.createDataFrame([], written.drop(PARTITION_COLUMN).schema)
    summary = []
    for index, partition in enumerate(partitions):
        folder = f"{PARTITION_COLUMN}={index}"
        if index not in counts:  # a partition without reviews still gets its (empty) Parquet file
            empty.coalesce(1).write.mode("overwrite").parquet(_join(output_path, folder))
        by = counts.get(index, {})
        summary.append({"key": partition["key"], "output": folder, "rows": sum(by.values()),
                        "by_sentiment": {label: by.get(label, 0) for label in LABELS}})
    return {"partitions": summary, "rows": classified,
            "by_sentiment": {label: sum(p["by_sentiment"][label] for p in summary) for label in LABELS},
            "model_version": model_metadata(spark, model_dir)["version"], "applied_by": model_scorer(spark, model_dir)[1]}


if __name__ == "__main__":
    main(ARGUMENTS, run)
