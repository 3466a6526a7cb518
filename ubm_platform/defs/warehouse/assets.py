"""user_behavior_metric: the analysts' table, built in the warehouse from the lake's staged data."""


from decimal import Decimal

from dagster import AssetExecutionContext, BackfillPolicy, MetadataValue, TableColumn, TableSchema, asset

from ubm_platform.defs import quality
from ubm_platform.defs.partitioned import BlockedPartition, PartitionLog, PartitionOutcome, materialize_partitions
from ubm_platform.defs.metadata import markdown_table
from ubm_platform.defs.movie_review.assets import classified_movie_review
from ubm_platform.defs.user_purchase.assets import user_purchase_staging
from ubm_platform.partitions import FRESHNESS, GRANULARITY, HOURLY, partition_window, partitions_def
from ubm_platform.resources.warehouse import WarehouseResource
from ubm_platform.settings import load_settings

METRIC_COLUMNS = TableSchema(
    columns=[
        TableColumn("customerid", "bigint", description="Customer id (OLTP customer.customer_id, vendor cid)."),
        TableColumn("amount_spent", "decimal(18,5)", description="Sum of the customer's payments in the partition."),
        TableColumn("purchase_count", "bigint", description="Number of the customer's payments in the partition."),
        TableColumn("review_score", "bigint", description="Number of the customer's positive reviews in the partition."),
        TableColumn("review_count", "bigint", description="Number of the customer's reviews in the partition."),
        TableColumn("insert_date", "date", description="The partition's UTC day."),
        *([TableColumn("insert_hour", "smallint", description="The partition's UTC hour (0-23).")]
          if GRANULARITY is HOURLY else []),
    ]
)
PREVIEW_SQL = "warehouse/user_behavior_metric_partition_preview.sql"
# Type families, so DuckDB's DECIMAL(18,5) and Redshift's numeric compare alike.
TYPE_FAMILIES = {"bigint": "integer", "int8": "integer", "integer": "integer", "smallint": "integer",
                 "int2": "integer", "decimal": "decimal", "numeric": "decimal", "date": "date"}


def _family(data_type: str) -> str:
    base = data_type.lower().split("(")[0].strip()
    return TYPE_FAMILIES.get(base, base)


def metric_checks(stats: dict, columns: list[tuple[str, str]]) -> list:
    """The metric's checks, from the numbers the warehouse computed inside the replacing transaction."""
    expected = {c.name: _family(c.type) for c in METRIC_COLUMNS.columns}
    found = {name: _family(data_type) for name, data_type in columns}
    schema_differences = {c: f"{found.get(c, 'missing')} (expected {t})" for c, t in expected.items() if found.get(c) != t}
    amount, staged_amount = Decimal(stats["metric_amount_spent"]), Decimal(stats["staged_amount"])
    return [
        quality.result("schema", not schema_differences, differences=str(schema_differences or "none")),
        quality.result("keys", stats["null_customer_ids"] == 0 and stats["duplicate_keys"] == 0,
                       rows=stats["metric_rows"], null_customer_ids=stats["null_customer_ids"],
                       duplicate_keys=stats["duplicate_keys"]),
        quality.result("values", stats["invalid_values"] == 0, rows_with_invalid_values=stats["invalid_values"]),
        quality.result(
            "reconciliation",
            amount == staged_amount and stats["metric_purchase_count"] == stats["staged_purchases"]
            and stats["metric_review_count"] == stats["classified_reviews"],
            amount_spent=float(amount), staged_amount=float(staged_amount),
            purchase_count=int(stats["metric_purchase_count"]), staged_purchases=int(stats["staged_purchases"]),
            review_count=int(stats["metric_review_count"]), classified_reviews=int(stats["classified_reviews"]),
        ),
    ]


@asset(
    partitions_def=partitions_def,
    group_name="warehouse",
    deps=[user_purchase_staging, classified_movie_review],
    kinds={"duckdb" if load_settings().env == "local" else "redshift"},
    owners=["team:data-platform"],
    description="One row per customer active in the partition's day (or hour, UBM_PARTITION=hourly), "
    "with a purchase or a review: spend, purchase "
    "count, positive and total reviews. Built in the warehouse by sql/warehouse/ over the lake; a "
    "re-run replaces the partition in one transaction.",
    metadata={"dagster/column_schema": METRIC_COLUMNS},
    check_specs=quality.specs(
        "user_behavior_metric",
        blocking={
            "schema": "Columns and types as analysts expect.",
            "keys": "No null customer ids; one row per customer and partition.",
            "values": "amount_spent >= 0, purchase_count >= 0, 0 <= review_score <= review_count.",
            "reconciliation": "The partition's totals equal the staged purchases and the classified reviews.",
        },
        warning={},
    ),
    freshness_policy=FRESHNESS,
    backfill_policy=BackfillPolicy.single_run(),
)
def user_behavior_metric(context: AssetExecutionContext, warehouse: WarehouseResource):
    keys = context.partition_keys
    # One warehouse connection for the run; the lake is read once for the whole range.
    with warehouse.metric_range(keys) as metric:
        def materialize_partition(key: str, progress: PartitionLog) -> PartitionOutcome:
            replacement = metric.replace(
                key, accept=lambda stats, columns: not quality.blocking_failures(metric_checks(stats, columns))
            )
            checks = metric_checks(replacement.stats, replacement.columns)
            if not replacement.committed:
                raise BlockedPartition(f"user_behavior_metric {key}", checks)
            progress.info(key, f"{replacement.rows} customer rows")
            metadata = {"dagster/row_count": replacement.rows, "dagster/column_schema": METRIC_COLUMNS}
            if key == keys[-1]:  # a range run shows its last partition's preview only (defs/partitioned.py)
                columns, preview = metric.query(PREVIEW_SQL, partition_window(key).sql_params)
                metadata["preview"] = MetadataValue.md(markdown_table(columns, preview))
            return PartitionOutcome(metadata, checks)

        yield from materialize_partitions(context, materialize_partition)
