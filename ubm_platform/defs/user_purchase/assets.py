"""user_purchase_staging: a day of customer payments, from the OLTP PostgreSQL to the lake."""

import pyarrow.compute as pc
from dagster import AssetExecutionContext, Backoff, BackfillPolicy, RetryPolicy, asset

from ubm_platform.defs import quality
from ubm_platform.defs.partitioned import PartitionOutcome, gate, materialize_partitions
from ubm_platform.defs.metadata import lake_partition_metadata, table_schema
from ubm_platform.defs.user_purchase.extract import USER_PURCHASE_SCHEMA, extract_user_purchase
from ubm_platform.partitions import FRESHNESS, partitions_def
from ubm_platform.resources.lake import LakeResource
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform.resources.warehouse import WarehouseResource

DATASET = "user_purchase_staging"


def purchase_checks(lake: LakeResource, directory: str) -> list:
    """Schema, keys and values of a staged day of purchases."""
    rows = null_keys = negative = 0
    payment_ids: set[int] = set()
    for batch in quality.scan(lake, directory, ["payment_id", "customer_id", "amount"]):
        rows += batch.num_rows
        null_keys += batch.column("customer_id").null_count + batch.column("payment_id").null_count
        negative += pc.sum(pc.less(batch.column("amount"), 0)).as_py() or 0
        payment_ids.update(batch.column("payment_id").to_pylist())
    duplicates = rows - len(payment_ids)
    return [
        quality.schema_result("schema", quality.parquet_schema(lake, directory), USER_PURCHASE_SCHEMA),
        quality.result("keys_and_values", null_keys == 0 and negative == 0 and duplicates == 0,
                       rows=rows, null_ids=null_keys, negative_amounts=negative, duplicate_payment_ids=duplicates),
    ]


@asset(
    partitions_def=partitions_def,
    group_name="user_purchase",
    kinds={"postgres", "parquet"},
    owners=["team:data-platform"],
    description="One row per payment made on the partition's UTC day, with its rental, film and "
    "category, streamed from the OLTP PostgreSQL to stage/user_purchase/insert_date=<day>/.",
    metadata={"dagster/column_schema": table_schema(USER_PURCHASE_SCHEMA)},
    check_specs=quality.specs(
        "user_purchase_staging",
        blocking={"schema": "Columns and types as the warehouse expects.",
                  "keys_and_values": "No null ids, one row per payment, no negative amount."},
        warning={"volume": "The partition's row count is within the trailing mean +- 4 standard deviations."},
    ),
    freshness_policy=FRESHNESS,
    backfill_policy=BackfillPolicy.single_run(),
    # A database restart or a network blip should not fail the day.
    retry_policy=RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL),
)
def user_purchase_staging(
    context: AssetExecutionContext, oltp: OltpPostgresResource, lake: LakeResource, warehouse: WarehouseResource
):
    volume = quality.VolumeBaseline(context.instance, DATASET)

    def materialize_partition(key: str) -> PartitionOutcome:
        partition = lake.partition_path(DATASET, key)
        with lake.staged_directory(partition) as staging:
            with lake.open_output(f"{staging.path}/part-00000.parquet") as sink:
                rows = extract_user_purchase(conn, key, sink)
            checks = purchase_checks(lake, staging.path)
            gate(f"user_purchase_staging {key}", checks)
        warehouse.register_partition(DATASET, lake.dataset_path(DATASET), key)
        checks.append(volume.result("volume", key, rows))
        context.log.info(f"{key}: {rows} payments from {oltp.describe()}")
        return PartitionOutcome(lake_partition_metadata(lake, partition, rows), checks)

    with oltp.connect() as conn:  # one connection for every day of the run
        yield from materialize_partitions(context, materialize_partition)
