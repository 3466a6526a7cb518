"""The vendor's reviews: landed and validated (movie_review_raw), then classified by Spark."""


import pyarrow as pa
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from ubm_platform.defs.metadata import lake_partition_metadata, table_schema
from ubm_platform.defs.movie_review.validation import (
    QUARANTINE_SCHEMA,
    RAW_REVIEW_SCHEMA,
    validate_reviews,
)
from ubm_platform.defs.sentiment.assets import current_model_uri, sentiment_model
from ubm_platform.partitions import daily_partitions
from ubm_platform.resources.lake import LakeResource, LandingResource, ParquetFileWriter
from ubm_platform.resources.spark import SparkJobResource
from ubm_platform.resources.warehouse import WarehouseResource

CLASSIFIED_SCHEMA = pa.schema(
    [("cid", pa.int64()), ("review_id", pa.string()), ("positive_review", pa.bool_()),
     ("sentiment", pa.string()), ("probability", pa.float64()), ("model_version", pa.string())]
)


@asset(
    partitions_def=daily_partitions,
    group_name="movie_review",
    kinds={"csv", "parquet"},
    owners=["team:data-platform"],
    description="The vendor's review file for the day, validated row by row: good rows to "
    "raw/movie_review/insert_date=<day>/, bad rows with line number and reason to "
    "quarantine/movie_review/insert_date=<day>/.",
    metadata={"dagster/column_schema": table_schema(RAW_REVIEW_SCHEMA)},
)
def movie_review_raw(
    context: AssetExecutionContext, landing: LandingResource, lake: LakeResource
) -> MaterializeResult:
    day = context.partition_key
    source = landing.review_file(day)
    if not landing.exists(source):
        raise Failure(
            description=f"The vendor's review file for {day} has not arrived: expected {landing.uri(source)}",
            allow_retries=True,
        )
    raw_partition = lake.partition_path("movie_review_raw", day)
    quarantine_partition = lake.partition_path("movie_review_quarantine", day)
    with lake.staged_directory(raw_partition) as raw_dir, lake.staged_directory(quarantine_partition) as bad_dir:
        with (
            landing.open_input(source) as stream,
            ParquetFileWriter(lake, f"{raw_dir.path}/part-00000.parquet", RAW_REVIEW_SCHEMA) as valid,
            ParquetFileWriter(lake, f"{bad_dir.path}/part-00000.parquet", QUARANTINE_SCHEMA) as quarantined,
        ):
            report = validate_reviews(
                stream, landing.uri(source), day, valid.write, quarantined.write, log=context.log.warning
            )
    if report.quarantined_rows:
        context.log.warning(
            f"{day}: {report.quarantined_rows} of {report.raw_rows} rows of {landing.uri(source)} quarantined "
            f"in {lake.uri(quarantine_partition)}: {dict(report.reasons)}"
        )
    metadata = lake_partition_metadata(lake, raw_partition, report.valid_rows)
    metadata.update(report.as_metadata())
    metadata["quarantine_location"] = MetadataValue.path(lake.uri(quarantine_partition))
    return MaterializeResult(metadata=metadata)


@asset(
    partitions_def=daily_partitions,
    group_name="movie_review",
    deps=[movie_review_raw, sentiment_model],
    kinds={"spark", "parquet"},
    owners=["team:data-platform"],
    description="Each valid review of the day classified negative / neutral / positive by the current "
    "sentiment model (spark_jobs/classify_movie_review.py), in stage/classified_movie_review/insert_date=<day>/.",
    metadata={"dagster/column_schema": table_schema(CLASSIFIED_SCHEMA)},
)
def classified_movie_review(
    context: AssetExecutionContext, spark: SparkJobResource, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    day = context.partition_key
    model_uri = current_model_uri(lake)
    partition = lake.partition_path("classified_movie_review", day)
    with lake.staged_directory(partition) as staging:
        summary = spark.run_job(
            "classify_movie_review.py",
            input_path=lake.uri(lake.partition_path("movie_review_raw", day)),
            output_path=lake.uri(staging.path),
            insert_date=day,
            model_dir=model_uri,
        )
    warehouse.register_partition("classified_movie_review", lake.dataset_path("classified_movie_review"), day)
    context.log.info(f"{day}: classified {summary['rows']} reviews with {summary['model_version']}")
    metadata = lake_partition_metadata(lake, partition, summary["rows"])
    metadata.update({f"{label}_reviews": n for label, n in summary["by_sentiment"].items()})
    metadata["model_version"] = summary["model_version"]
    return MaterializeResult(metadata=metadata)
