"""Train the review sentiment classifier (PySpark, self-contained, spark-submit ready).

Usage:
    spark-submit train_sentiment_model.py --labeled reviews.csv --out /models/sentiment [--holdout 0.2] [--seed 42]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IDF, CountVectorizer, NGram, RegexTokenizer, SQLTransformer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

LABELS = ["negative", "neutral", "positive"]

DEFAULT_PARAMS = {
    "ngram_max": 2,
    "min_df": 1.0,
    "vocab_size": 1 << 18,
    "reg_param": 0.05,
    "elastic_net": 0.0,
    "max_iter": 100,
}


def score_to_sentiment(score: int) -> str:
    s = int(score)
    if s < 1 or s > 5:
        raise ValueError(f"score must be in 1..5, got {score!r}")
    if s <= 2:
        return "negative"
    if s == 3:
        return "neutral"
    return "positive"


def _log(msg: str) -> None:
    print(f"[train_sentiment_model] {msg}", file=sys.stderr, flush=True)


def _is_csv(path: str) -> bool:
    if path.lower().endswith(".csv"):
        return True
    return os.path.isfile(path) and not path.lower().endswith(".parquet")


def load_labeled(spark: SparkSession, path: str) -> DataFrame:
    if _is_csv(path):
        raw = (
            spark.read.option("header", True).option("multiLine", True).option("escape", '"')
            .option("quote", '"').option("mode", "PERMISSIVE").csv(path)
        )
    else:
        raw = spark.read.parquet(path).where(F.col("score").isNotNull())
    missing = [c for c in ("review_str", "score") if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {raw.columns}")
    score_d = F.expr("try_cast(cast(score as string) as double)")
    df = raw.select(F.col("review_str").cast("string").alias("review_str"), score_d.alias("_sd"))
    ok = (
        F.col("review_str").isNotNull() & (F.length(F.trim(F.col("review_str"))) > 0)
        & F.col("_sd").isNotNull() & (F.col("_sd") == F.floor(F.col("_sd")))
        & (F.col("_sd") >= 1) & (F.col("_sd") <= 5)
    )
    counts = df.select(F.count(F.lit(1)).alias("n"), F.sum(F.when(ok, 1).otherwise(0)).alias("ok")).first()
    n, n_ok = int(counts["n"]), int(counts["ok"] or 0)
    _log(f"load_labeled {path}: {n} rows read, {n_ok} kept, {n - n_ok} dropped (empty text or score not in 1..5)")
    return df.where(ok).select("review_str", F.col("_sd").cast("int").alias("score"))


# --------------------------------------------------------------------------------------------------
# pipeline

def _build_pipeline(p: dict) -> Pipeline:
    norm = SQLTransformer(statement="SELECT *, lower(coalesce(review_str, '')) AS norm_text FROM __THIS__")
    tok = RegexTokenizer(inputCol="norm_text", outputCol="tok_1", pattern="\\w+|[^\\w\\s]+", gaps=False,
                         toLowercase=False, minTokenLength=1)
    stages = [norm, tok]
    tf_cols = []
    for n in range(1, int(p["ngram_max"]) + 1):
        if n > 1:
            stages.append(NGram(n=n, inputCol="tok_1", outputCol=f"tok_{n}"))
        stages.append(CountVectorizer(inputCol=f"tok_{n}", outputCol=f"tf_{n}", minDF=float(p["min_df"]),
                                      vocabSize=int(p["vocab_size"])))
        tf_cols.append(f"tf_{n}")
    stages.append(VectorAssembler(inputCols=tf_cols, outputCol="tf"))
    stages.append(IDF(inputCol="tf", outputCol="features"))
    stages.append(LogisticRegression(featuresCol="features", labelCol="label", family="multinomial",
                                     regParam=float(p["reg_param"]), elasticNetParam=float(p["elastic_net"]),
                                     maxIter=int(p["max_iter"])))
    return Pipeline(stages=stages)


def _with_label(df: DataFrame) -> DataFrame:
    return df.withColumn(
        "label", F.when(F.col("score") <= 2, 0.0).when(F.col("score") == 3, 1.0).otherwise(2.0))


def fingerprint(labeled: DataFrame) -> str:
    """Order-independent sha256 of the multiset of (review_str, score) rows, computed inside Spark."""
    h = F.sha2(F.concat_ws("\u001f", F.col("review_str"), F.col("score").cast("string")), 256)
    parts = [F.conv(F.substring(h, 1 + 16 * i, 15), 16, 10).cast("decimal(38,0)") for i in range(4)]
    row = labeled.select(*[p.alias(f"p{i}") for i, p in enumerate(parts)]).agg(
        F.count(F.lit(1)).alias("n"), *[F.sum(f"p{i}").alias(f"s{i}") for i in range(4)]).first()
    payload = "|".join([str(row["n"])] + [str(row[f"s{i}"] or 0) for i in range(4)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _split(labeled: DataFrame, holdout_fraction: float, seed: int):
    u = F.pmod(F.xxhash64(F.col("review_str"), F.col("score"), F.lit(int(seed))), F.lit(1000003)) / 1000003.0
    d = labeled.withColumn("_u", u)
    return d.where(F.col("_u") >= holdout_fraction).drop("_u"), d.where(F.col("_u") < holdout_fraction).drop("_u")


def train(spark: SparkSession, labeled: DataFrame, out_dir: str, holdout_fraction: float = 0.2, seed: int = 42,
          params: dict | None = None) -> dict:
    p = dict(DEFAULT_PARAMS)
    p.update(params or {})
    p["holdout_fraction"] = float(holdout_fraction)
    p["seed"] = int(seed)
    labeled = labeled.select("review_str", F.col("score").cast("int").alias("score")).cache()
    fp = fingerprint(labeled)
    version = "sentiment-" + hashlib.sha256((fp + json.dumps(p, sort_keys=True)).encode("utf-8")).hexdigest()[:12]
    tr, ho = _split(labeled, holdout_fraction, seed)
    n_train, n_holdout = tr.count(), ho.count()
    metrics = None
    if n_holdout > 0 and holdout_fraction > 0:
        m = _build_pipeline(p).fit(_with_label(tr))
        metrics = _report(spark, m, ho)
    final = _build_pipeline(p).fit(_with_label(labeled))
    final.write().overwrite().save(os.path.join(out_dir, "pipeline"))
    meta = {
        "version": version,
        "fingerprint": fp,
        "params": p,
        "n_train": n_train,
        "n_holdout": n_holdout,
        "saved_model_trained_on": "all_rows",
        "labels": LABELS,
        "metrics": metrics,
    }
    os.makedirs(out_dir, exist_ok=True) if "://" not in out_dir else None
    _write_text(spark, os.path.join(out_dir, "ubm_model.json"), json.dumps(meta, indent=2, sort_keys=True))
    labeled.unpersist()
    return meta


def _write_text(spark, path: str, text: str) -> None:
    if "://" not in path or path.startswith("file:"):
        local = path[len("file:"):] if path.startswith("file:") else path
        with open(local, "w", encoding="utf-8") as f:
            f.write(text)
        return
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    out = fs.create(hpath, True)
    out.write(bytearray(text.encode("utf-8")))
    out.close()


# --------------------------------------------------------------------------------------------------
# evaluation

def _predict(model: PipelineModel, df: DataFrame) -> DataFrame:
    out = model.transform(df)
    return out.withColumn("_p", vector_to_array(F.col("probability")))


def _report(spark: SparkSession, model: PipelineModel, labeled: DataFrame) -> dict:
    pred = _predict(model, _with_label(labeled))
    agg = (pred.groupBy(F.col("label").cast("int").alias("t"), F.col("prediction").cast("int").alias("p"))
           .agg(F.count(F.lit(1)).alias("n"),
                F.sum(F.when(F.col("_p")[2] > F.col("_p")[0], 1).otherwise(0)).alias("bin_pos"))
           .collect())
    return _metrics_from_counts(agg)


def _metrics_from_counts(rows) -> dict:
    k = len(LABELS)
    cm = [[0] * k for _ in range(k)]
    bin_total = bin_correct = 0
    for r in rows:
        t, p, n, bp = int(r["t"]), int(r["p"]), int(r["n"]), int(r["bin_pos"] or 0)
        cm[t][p] += n
        if t == 0:
            bin_total += n
            bin_correct += n - bp
        elif t == 2:
            bin_total += n
            bin_correct += bp
    n = sum(map(sum, cm))
    per_class = {}
    for i, lab in enumerate(LABELS):
        tp = cm[i][i]
        support = sum(cm[i])
        predicted = sum(cm[r][i] for r in range(k))
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[lab] = {"precision": prec, "recall": rec, "f1": f1, "support": support}
    macro = {m: sum(per_class[l][m] for l in LABELS) / k for m in ("precision", "recall", "f1")}
    macro["support"] = n
    weighted = {m: (sum(per_class[l][m] * per_class[l]["support"] for l in LABELS) / n if n else 0.0)
                for m in ("precision", "recall", "f1")}
    weighted["support"] = n
    rnd = lambda d: {kk: (round(v, 6) if isinstance(v, float) else v) for kk, v in d.items()}
    return {
        "accuracy_3class": round(sum(cm[i][i] for i in range(k)) / n, 6) if n else 0.0,
        "macro_f1_3class": round(macro["f1"], 6),
        "weighted_f1_3class": round(weighted["f1"], 6),
        "accuracy_binary": round(bin_correct / bin_total, 6) if bin_total else 0.0,
        "n": n,
        "n_binary": bin_total,
        "per_class": {l: rnd(per_class[l]) for l in LABELS},
        "macro_avg": rnd(macro),
        "weighted_avg": rnd(weighted),
        "confusion_matrix": {"labels": list(LABELS), "matrix": cm},
    }


def evaluate(spark: SparkSession, model_dir: str, labeled: DataFrame) -> dict:
    model = PipelineModel.load(os.path.join(model_dir, "pipeline"))
    return _report(spark, model, labeled.select("review_str", F.col("score").cast("int").alias("score")))


def run(spark: SparkSession, labeled_path: str, out_dir: str, holdout_fraction: float = 0.2, seed: int = 42) -> dict:
    """What the platform calls (in-process locally, through spark-submit's main() on EMR)."""
    return train(spark, load_labeled(spark, labeled_path), out_dir, holdout_fraction=holdout_fraction, seed=seed)


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
    ap = argparse.ArgumentParser(description="Train the review sentiment classifier")
    ap.add_argument("--labeled", required=True, help="CSV (review_str,score) or Parquet dir/glob")
    ap.add_argument("--out", required=True, help="output model directory")
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    spark = SparkSession.builder.appName("train_sentiment_model").getOrCreate()
    try:
        with _dagster_pipes() as pipes:
            labeled = load_labeled(spark, args.labeled)
            meta = train(spark, labeled, args.out, holdout_fraction=args.holdout, seed=args.seed)
            if pipes is not None:  # the model's metadata becomes the asset's materialization metadata
                pipes.report_custom_message(meta)
        print(json.dumps(meta, indent=2, sort_keys=True))
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
