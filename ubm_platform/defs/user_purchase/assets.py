"""user_purchase_staging: a partition (day or hour) of customer payments, from the OLTP PostgreSQL to the lake."""

from dagster import AssetExecutionContext, Backoff, RetryPolicy

from ubm_platform.defs.oltp_extract import EXTRACT_CHECKS, materialize_extract
from ubm_platform.defs.pagila.assets import pagila_table
from ubm_platform.defs.partitioned import partitioned_lake_asset
from ubm_platform.defs.user_purchase.extract import USER_PURCHASE, USER_PURCHASE_SCHEMA
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform.resources.warehouse import WarehouseResource

DATASET = "user_purchase_staging"


@partitioned_lake_asset(
    DATASET,
    group="user_purchase",
    kinds={"postgres", "parquet"},
    description="One row per payment made on the partition's UTC day, with its rental, film and "
    "category, streamed from the OLTP PostgreSQL to stage/user_purchase/insert_date=<day>/.",
    schema=USER_PURCHASE_SCHEMA,
    deps=[pagila_table(name) for name in ("payment", "rental", "inventory", "film_category", "category")],
    **EXTRACT_CHECKS,
    # A database restart or a network blip should not fail the day.
    retry_policy=RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL),
)
def user_purchase_staging(
    context: AssetExecutionContext, oltp: OltpPostgresResource, lake: LakeIOManager, warehouse: WarehouseResource
):
    yield from materialize_extract(context, USER_PURCHASE, DATASET, oltp, lake, warehouse)
