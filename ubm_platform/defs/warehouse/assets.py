"""user_behavior_metric: the analysts' table, built in the warehouse from the lake's staged data."""


from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, TableColumn, TableSchema, asset

from ubm_platform.defs.metadata import markdown_table
from ubm_platform.defs.movie_review.assets import classified_movie_review
from ubm_platform.defs.user_purchase.assets import user_purchase_staging
from ubm_platform.partitions import daily_partitions
from ubm_platform.resources.warehouse import WarehouseResource
from ubm_platform.settings import load_settings

METRIC_COLUMNS = TableSchema(
    columns=[
        TableColumn("customerid", "bigint", description="Customer id (OLTP customer.customer_id, vendor cid)."),
        TableColumn("amount_spent", "decimal(18,5)", description="Sum of the customer's payments that day."),
        TableColumn("purchase_count", "bigint", description="Number of the customer's payments that day."),
        TableColumn("review_score", "bigint", description="Number of the customer's positive reviews that day."),
        TableColumn("review_count", "bigint", description="Number of the customer's reviews that day."),
        TableColumn("insert_date", "date", description="The partition's UTC day."),
    ]
)
PREVIEW_SQL = "warehouse/user_behavior_metric_partition_rows.sql"


@asset(
    partitions_def=daily_partitions,
    group_name="warehouse",
    deps=[user_purchase_staging, classified_movie_review],
    kinds={"duckdb" if load_settings().env == "local" else "redshift"},
    owners=["team:data-platform"],
    description="One row per customer active on the day (a purchase or a review): spend, purchase "
    "count, positive and total reviews. Built in the warehouse by sql/warehouse/ over the lake; a "
    "re-run replaces the day in one transaction.",
    metadata={"dagster/column_schema": METRIC_COLUMNS},
)
def user_behavior_metric(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    day = context.partition_key
    rows = warehouse.replace_metric_partition(day)
    columns, preview = warehouse.query(PREVIEW_SQL, {"date_from": day, "date_to": day})
    context.log.info(f"{day}: user_behavior_metric has {rows} rows")
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "dagster/column_schema": METRIC_COLUMNS,
            "preview": MetadataValue.md(markdown_table(columns, preview[:5])),
        }
    )
