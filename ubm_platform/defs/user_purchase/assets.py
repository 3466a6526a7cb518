"""user_purchase_staging: a day of customer payments, from the OLTP PostgreSQL to the lake."""


from dagster import AssetExecutionContext, Backoff, MaterializeResult, RetryPolicy, asset

from ubm_platform.defs.metadata import lake_partition_metadata, table_schema
from ubm_platform.defs.user_purchase.extract import USER_PURCHASE_SCHEMA, extract_user_purchase
from ubm_platform.partitions import daily_partitions
from ubm_platform.resources.lake import LakeResource
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform.resources.warehouse import WarehouseResource

DATASET = "user_purchase_staging"


@asset(
    partitions_def=daily_partitions,
    group_name="user_purchase",
    kinds={"postgres", "parquet"},
    owners=["team:data-platform"],
    description="One row per payment made on the partition's UTC day, with its rental, film and "
    "category, streamed from the OLTP PostgreSQL to stage/user_purchase/insert_date=<day>/.",
    metadata={"dagster/column_schema": table_schema(USER_PURCHASE_SCHEMA)},
    # A database restart or a network blip should not fail the day.
    retry_policy=RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL),
)
def user_purchase_staging(
    context: AssetExecutionContext, oltp: OltpPostgresResource, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    day = context.partition_key
    partition = lake.partition_path(DATASET, day)
    with lake.staged_directory(partition) as staging:
        with oltp.connect() as conn, lake.open_output(f"{staging.path}/part-00000.parquet") as sink:
            rows = extract_user_purchase(conn, day, sink)
    warehouse.register_partition(DATASET, lake.dataset_path(DATASET), day)
    context.log.info(f"{day}: {rows} payments from {oltp.describe()} to {lake.uri(partition)}")
    return MaterializeResult(metadata=lake_partition_metadata(lake, partition, rows))
