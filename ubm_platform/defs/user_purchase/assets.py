"""user_purchase_staging: a partition (day or hour) of customer payments, from the OLTP PostgreSQL to the lake."""

from dagster import AssetExecutionContext, Backoff, RetryPolicy

from ubm_platform.defs import quality
from ubm_platform.defs.partitioned import PartitionOutcome, gate, materialize_partitions, partitioned_lake_asset
from ubm_platform.defs.metadata import written_partition_metadata
from ubm_platform.defs.user_purchase.extract import USER_PURCHASE_SCHEMA, PurchaseStats, PurchaseStream
from ubm_platform.partitions import partition_window
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform.resources.warehouse import WarehouseResource

DATASET = "user_purchase_staging"


def purchase_checks(lake: LakeIOManager, directory: str, stats: PurchaseStats) -> list:
    """Schema (the written file's footer), keys and values (counted while writing) of a staged partition."""
    clean = stats.null_ids == 0 and stats.negative_amounts == 0 and stats.duplicate_payment_ids == 0
    return [
        quality.schema_result("schema", quality.parquet_schema(lake, directory), USER_PURCHASE_SCHEMA),
        quality.result("keys_and_values", clean, rows=stats.rows, null_ids=stats.null_ids,
                       negative_amounts=stats.negative_amounts, duplicate_payment_ids=stats.duplicate_payment_ids),
    ]


@partitioned_lake_asset(
    DATASET,
    group="user_purchase",
    kinds={"postgres", "parquet"},
    description="One row per payment made on the partition's UTC day, with its rental, film and "
    "category, streamed from the OLTP PostgreSQL to stage/user_purchase/insert_date=<day>/.",
    schema=USER_PURCHASE_SCHEMA,
    blocking={"schema": "Columns and types as the warehouse expects.",
              "keys_and_values": "No null ids, one row per payment, no negative amount."},
    warning={"volume": "The partition's row count is within the trailing mean +- 4 standard deviations."},
    # A database restart or a network blip should not fail the day.
    retry_policy=RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL),
)
def user_purchase_staging(
    context: AssetExecutionContext, oltp: OltpPostgresResource, lake: LakeIOManager, warehouse: WarehouseResource
):
    volume = quality.VolumeBaseline(context.instance, DATASET)

    def materialize_partition(key: str) -> PartitionOutcome:
        with lake.staged_partition(DATASET, key) as staging:
            with lake.open_output(staging.join("part-00000.parquet")) as sink:
                stats = purchases.write_partition(partition_window(key), sink)
            checks = purchase_checks(lake, staging.path, stats)
            gate(f"user_purchase_staging {key}", checks)
        register_partition(key)
        checks.append(volume.result("volume", key, stats.rows))
        metadata = written_partition_metadata(lake, staging.final, stats.rows, 1, USER_PURCHASE_SCHEMA,
                                              stats.first_rows)
        return PartitionOutcome(metadata, checks)

    # One connection and one query for the run's whole range, cut into partitions as it streams.
    windows = [partition_window(key) for key in context.partition_keys]
    with (
        oltp.connect_arrow() as conn,
        PurchaseStream(conn, windows) as purchases,
        warehouse.partition_registry(DATASET, lake.dataset_uri(DATASET)) as register_partition,
    ):
        yield from materialize_partitions(context, materialize_partition)
