"""The vendor's reviews: landed and validated (movie_review_raw), then classified by Spark."""

import json

import pyarrow as pa
import pyarrow.compute as pc
from dagster import AssetExecutionContext, Failure, MetadataValue

from ubm_platform import sql_files
from ubm_platform.defs import quality
from ubm_platform.defs.partitioned import PartitionOutcome, gate, materialize_partitions, partitioned_lake_asset
from ubm_platform.defs.metadata import lake_partition_metadata
from ubm_platform.defs.movie_review.validation import (
    QUARANTINE_SCHEMA,
    RAW_REVIEW_SCHEMA,
    UnreadableFile,
    validate_reviews,
)
from ubm_platform.resources.lake import LakeIOManager, LakePartitions, LandingResource, ParquetFileWriter
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform.resources.spark import SparkJobResource
from ubm_platform.resources.warehouse import WarehouseResource

CLASSIFIED_SCHEMA = pa.schema(
    [("cid", pa.int64()), ("review_id", pa.string()), ("positive_review", pa.bool_()),
     ("sentiment", pa.string()), ("probability", pa.float64()), ("model_version", pa.string()),
     ("film_id", pa.int64())]  # the film reviewed, when the vendor names one
)


MAX_QUARANTINE_SHARE = 0.05
SENTIMENTS = ["negative", "neutral", "positive"]


def review_checks(report, lake: LakeIOManager, raw_dir: str, bad_dir: str, oltp: OltpPostgresResource) -> list:
    """Row accounting (blocking), quarantine share and orphan reviews (warnings) of a landed file."""
    landed = sum(b.num_rows for b in quality.scan(lake, raw_dir, ["cid"]))
    quarantined = sum(b.num_rows for b in quality.scan(lake, bad_dir, ["line_number"]))
    cids: set[int] = set()
    for batch in quality.scan(lake, raw_dir, ["cid"]):
        cids.update(batch.column("cid").to_pylist())
    with oltp.connect() as conn:
        sql = sql_files.to_paramstyle(sql_files.load("oltp/known_customers.sql"), "pyformat")
        known = {row[0] for row in conn.execute(sql, {"customer_ids": sorted(cids)})}
    orphans = sorted(cids - known)
    share = report.quarantined_rows / report.raw_rows if report.raw_rows else 0.0
    return [
        quality.result(
            "row_accounting",
            report.raw_rows == report.valid_rows + report.quarantined_rows
            and landed == report.valid_rows and quarantined == report.quarantined_rows,
            raw_rows=report.raw_rows, valid_rows=report.valid_rows, quarantined_rows=report.quarantined_rows,
            landed_rows=landed, quarantine_file_rows=quarantined,
        ),
        quality.result("quarantine_share", share <= MAX_QUARANTINE_SHARE, warning=True,
                       quarantined_share=round(share, 4), threshold=MAX_QUARANTINE_SHARE),
        quality.result("orphan_reviews", not orphans, warning=True, unknown_customers=len(orphans),
                       examples=str(orphans[:10])),
        quality.result("has_reviews", report.valid_rows > 0, warning=True, valid_rows=report.valid_rows,
                       raw_rows=report.raw_rows),
    ]


@partitioned_lake_asset(
    "movie_review_raw",
    group="movie_review",
    kinds={"csv", "parquet"},
    description="The vendor's review file for the day, validated row by row: good rows to "
    "raw/movie_review/insert_date=<day>/, bad rows with line number and reason to "
    "quarantine/movie_review/insert_date=<day>/.",
    schema=RAW_REVIEW_SCHEMA,
    blocking={"row_accounting": "Rows in the vendor file = rows landed + rows quarantined."},
    warning={
        "quarantine_share": f"At most {MAX_QUARANTINE_SHARE:.0%} of the file's rows quarantined.",
        "orphan_reviews": "Every review's cid is a known customer.",
        "has_reviews": "The file holds at least one valid review (a quiet day flows on: the metric is "
        "then built from the purchases alone).",
        "volume": "The partition's row count is within the trailing mean +- 4 standard deviations.",
    },
)
def movie_review_raw(
    context: AssetExecutionContext, landing: LandingResource, lake: LakeIOManager, oltp: OltpPostgresResource
):
    volume = quality.VolumeBaseline(context.instance, "movie_review_raw")

    def materialize_partition(key: str) -> PartitionOutcome:
        source = landing.review_file(key)
        if not landing.exists(source):
            raise Failure(
                description=f"The vendor's review file for {key} has not arrived: expected {landing.uri(source)}",
                allow_retries=True,
            )
        with (lake.staged_partition("movie_review_raw", key) as raw_dir,
              lake.staged_partition("movie_review_quarantine", key) as bad_dir):
            with (
                landing.open_input(source) as stream,
                ParquetFileWriter(lake, raw_dir.join("part-00000.parquet"), RAW_REVIEW_SCHEMA) as valid,
                ParquetFileWriter(lake, bad_dir.join("part-00000.parquet"), QUARANTINE_SCHEMA) as quarantined,
            ):
                try:
                    report = validate_reviews(
                        stream, landing.uri(source), key, valid.write, quarantined.write, log=context.log.warning
                    )
                except UnreadableFile as refused:  # the same file fails the same way: no retry
                    raise Failure(description=f"{key}: the vendor's file is refused: {refused}",
                                  allow_retries=False) from None
            checks = review_checks(report, lake, raw_dir.path, bad_dir.path, oltp)
            gate(f"movie_review_raw {key}", checks)
        if report.quarantined_rows:
            context.log.warning(
                f"{key}: {report.quarantined_rows} of {report.raw_rows} rows of {landing.uri(source)} quarantined "
                f"in {lake.uri(bad_dir.final)}: {dict(report.reasons)}"
            )
        checks.append(volume.result("volume", key, report.valid_rows))
        metadata = lake_partition_metadata(lake, raw_dir.final, report.valid_rows)
        metadata.update(report.as_metadata())
        metadata["quarantine_location"] = MetadataValue.path(lake.uri(bad_dir.final))
        return PartitionOutcome(metadata, checks)

    yield from materialize_partitions(context, materialize_partition)


def classified_checks(lake: LakeIOManager, directory: str, raw_rows: int) -> list:
    rows = bad_labels = bad_probability = 0
    for batch in quality.scan(lake, directory, ["sentiment", "probability"]):
        rows += batch.num_rows
        bad_labels += batch.num_rows - (pc.sum(pc.is_in(batch.column("sentiment"), pa.array(SENTIMENTS))).as_py() or 0)
        probability = batch.column("probability")
        in_range = pc.and_(pc.greater_equal(probability, 0.0), pc.less_equal(probability, 1.0))
        bad_probability += batch.num_rows - (pc.sum(pc.fill_null(in_range, False)).as_py() or 0)
    return [
        quality.schema_result("schema", quality.parquet_schema(lake, directory), CLASSIFIED_SCHEMA),
        quality.result("reconciliation", rows == raw_rows and bad_labels == 0 and bad_probability == 0,
                       classified_rows=rows, raw_rows=raw_rows, unknown_sentiments=bad_labels,
                       probability_out_of_range=bad_probability),
    ]


@partitioned_lake_asset(
    "classified_movie_review",
    group="movie_review",
    inputs=("movie_review_raw", "sentiment_model"),
    kinds={"spark", "parquet"},
    description="Each valid review of the day classified negative / neutral / positive by the current "
    "sentiment model (spark_jobs/classify_movie_review.py), in stage/classified_movie_review/insert_date=<day>/.",
    schema=CLASSIFIED_SCHEMA,
    blocking={"schema": "Columns and types as the warehouse expects.",
              "reconciliation": "Every landed review classified exactly once, with a known label."},
    warning={},
)
def classified_movie_review(
    context: AssetExecutionContext, spark: SparkJobResource, lake: LakeIOManager, warehouse: WarehouseResource,
    movie_review_raw: LakePartitions, sentiment_model: str,
):
    # One Spark job for the run's whole range (Spark start-up, model load and scheduling paid once);
    # each day is then checked and published on its own, as a one-day run does.
    with lake.staging_area("classified_movie_review") as area:
        partitions_file = area.join("partitions.json")
        lake.write_text(partitions_file, json.dumps({"partitions": [
            {"key": key, "path": path} for key, path in movie_review_raw.partition_folders().items()]}))
        summary = spark.run_job(
            "classify_movie_review.py",
            context=context,
            input_path=movie_review_raw.uri,
            partitions_uri=lake.uri(partitions_file),
            output_path=lake.uri(area.join("classified")),
            model_dir=sentiment_model,
        )
        classified = {p["key"]: p for p in summary["partitions"]}

        def materialize_partition(key: str) -> PartitionOutcome:
            raw_rows = sum(b.num_rows for b in quality.scan(lake, movie_review_raw.partition_path(key), ["cid"]))
            staged = area.join("classified", classified[key]["output"])
            checks = classified_checks(lake, staged, raw_rows)
            gate(f"classified_movie_review {key}", checks)
            partition = lake.publish_partition(staged, "classified_movie_review", key)
            register_partition(key)
            rows = classified[key]["rows"]
            metadata = lake_partition_metadata(lake, partition, rows)
            metadata.update({f"{label}_reviews": n for label, n in classified[key]["by_sentiment"].items()})
            metadata["model_version"] = summary["model_version"]
            metadata["model_applied_by"] = summary["applied_by"]  # the JVM scorer, or Spark ML stages and why
            return PartitionOutcome(metadata, checks)

        with warehouse.partition_registry(
            "classified_movie_review", lake.dataset_uri("classified_movie_review")
        ) as register_partition:
            yield from materialize_partitions(context, materialize_partition)
