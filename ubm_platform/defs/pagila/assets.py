"""The OLTP database (Pagila) in the asset graph, and what the star schema reads from it, in the lake.

Pagila's tables are external assets: the graph starts where the data does. Two kinds of extraction
feed the warehouse's dimensional model (sql/dbt/models/star/):
- `rental_staging`: each partition's rentals, streamed like user_purchase_staging (the same
  `materialize_extract`: one binary-COPY query for a run's range, cut into one file per partition);
- the small, changing tables (customers with their addresses, films, their categories and actors),
  extracted whole by `pagila_snapshots` at each run into one Parquet file each; dim_customer's dbt
  snapshot keeps their history.
Both use the platform's own streaming COPY through ADBC rather than an extract-load library: the tables
are few and small, the lake I/O manager already publishes atomically to a folder or S3, and dlt or Sling
would add a dependency tree (and Sling a binary download) for no gain here.
"""

from dataclasses import dataclass

import pyarrow as pa
from dagster import AssetExecutionContext, AssetKey, AssetSpec, Backoff, BackfillPolicy, MaterializeResult, MetadataValue, RetryPolicy, multi_asset

from ubm_platform.defs.metadata import table_schema
from ubm_platform.defs.oltp_extract import EXTRACT_CHECKS, OltpExtract, extract_table, materialize_extract
from ubm_platform.defs.partitioned import LAKE_IO_MANAGER, partitioned_lake_asset
from ubm_platform.resources.lake import DATASET_PATHS, LakeIOManager
from ubm_platform.resources.oltp import OltpPostgresResource
from ubm_platform.resources.warehouse import WarehouseResource

PAGILA_TABLES = {
    "customer": "Customers: store, address and active flag.",
    "address": "Addresses, each in a city.",
    "city": "Cities, each in a country.",
    "country": "Countries.",
    "film": "Films: title, release year, language, rating, length, rental rate.",
    "language": "Languages of the films.",
    "category": "Genres.",
    "film_category": "A film's genres (a film can have several).",
    "actor": "Actors.",
    "film_actor": "Who plays in each film.",
    "inventory": "Copies of films in stores.",
    "rental": "Rentals: a copy rented by a customer, with when it was returned.",
    "payment": "Payments for rentals (partitioned by month in Pagila).",
}
UTC_TS = pa.timestamp("us", tz="UTC")


def pagila_table(name: str) -> AssetKey:
    return AssetKey(["pagila", name])


pagila_tables = [
    AssetSpec(pagila_table(name), group_name="oltp", kinds={"postgres"}, description=f"Pagila's `{name}` table. {text}")
    for name, text in PAGILA_TABLES.items()
]

RENTAL_SCHEMA = pa.schema([
    pa.field("rental_id", pa.int64(), nullable=False),
    pa.field("customer_id", pa.int64(), nullable=False),
    pa.field("inventory_id", pa.int64()),
    pa.field("film_id", pa.int64()),
    pa.field("store_id", pa.int64()),
    pa.field("staff_id", pa.int64()),
    pa.field("rental_ts", UTC_TS, nullable=False),
    pa.field("return_ts", UTC_TS),
])
RENTAL = OltpExtract(query="oltp/extract_rental.sql", schema=RENTAL_SCHEMA, time_column="rental_ts",
                     id_column="rental_id")


@partitioned_lake_asset(
    "rental_staging",
    group="staging",
    kinds={"postgres", "parquet"},
    description="One row per rental started on the partition's UTC day, with the rented copy's film and "
    "store, streamed from the OLTP PostgreSQL to stage/rental/insert_date=<day>/.",
    schema=RENTAL_SCHEMA,
    deps=[pagila_table("rental"), pagila_table("inventory")],
    **EXTRACT_CHECKS,
    retry_policy=RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL),
)
def rental_staging(
    context: AssetExecutionContext, oltp: OltpPostgresResource, lake: LakeIOManager, warehouse: WarehouseResource
):
    yield from materialize_extract(context, RENTAL, "rental_staging", oltp, lake, warehouse)


@dataclass(frozen=True)
class Snapshot:
    query: str
    schema: pa.Schema
    tables: tuple[str, ...]  # the Pagila tables it reads
    description: str


SNAPSHOTS = {
    "customer_staging": Snapshot(
        "oltp/snapshot_customer.sql",
        pa.schema([
            pa.field("customer_id", pa.int64(), nullable=False), ("store_id", pa.int64()),
            ("first_name", pa.string()), ("last_name", pa.string()), ("email", pa.string()),
            ("active", pa.bool_()), ("create_date", pa.date32()), ("address_id", pa.int64()),
            ("address", pa.string()), ("district", pa.string()), ("postal_code", pa.string()),
            ("city", pa.string()), ("country", pa.string()),
        ]),
        ("customer", "address", "city", "country"),
        "Every customer as they are now, with their address, city and country.",
    ),
    "film_staging": Snapshot(
        "oltp/snapshot_film.sql",
        pa.schema([
            pa.field("film_id", pa.int64(), nullable=False), ("title", pa.string()), ("release_year", pa.int32()),
            ("language", pa.string()), ("rating", pa.string()), ("length", pa.int32()),
            ("rental_rate", pa.decimal128(4, 2)), ("rental_duration", pa.int32()),
            ("replacement_cost", pa.decimal128(5, 2)),
        ]),
        ("film", "language"),
        "Every film with its language.",
    ),
    "film_category_staging": Snapshot(
        "oltp/snapshot_film_category.sql",
        pa.schema([pa.field("film_id", pa.int64(), nullable=False), pa.field("category", pa.string(), nullable=False)]),
        ("film_category", "category"),
        "A film's categories by name.",
    ),
    "film_actor_staging": Snapshot(
        "oltp/snapshot_film_actor.sql",
        pa.schema([pa.field("film_id", pa.int64(), nullable=False), pa.field("actor_id", pa.int64(), nullable=False),
                   ("first_name", pa.string()), ("last_name", pa.string())]),
        ("film_actor", "actor"),
        "Who plays in each film.",
    ),
}


@multi_asset(
    specs=[AssetSpec(name, group_name="staging", kinds={"postgres", "parquet"}, owners=["team:data-platform"],
                     deps=[pagila_table(t) for t in snapshot.tables],
                     description=f"{snapshot.description} Replaced whole at each run ({DATASET_PATHS[name]}/).",
                     metadata={"dagster/column_schema": table_schema(snapshot.schema)}).with_io_manager_key(LAKE_IO_MANAGER)
           for name, snapshot in SNAPSHOTS.items()],
    can_subset=True,
    # in a backfill of partitions, extracted once, in the range's one run
    backfill_policy=BackfillPolicy.single_run(),
    retry_policy=RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL),
)
def pagila_snapshots(
    context: AssetExecutionContext, oltp: OltpPostgresResource, lake: LakeIOManager, warehouse: WarehouseResource
):
    with oltp.connect_arrow() as conn:
        for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
            name = key.path[-1]
            snapshot = SNAPSHOTS[name]
            with lake.staged_directory(DATASET_PATHS[name]) as staged:
                with lake.open_output(staged.join("part-00000.parquet")) as sink:
                    rows = extract_table(conn, snapshot.query, snapshot.schema, sink)
            warehouse.register_table(name, lake.dataset_uri(name))
            yield MaterializeResult(asset_key=key, metadata={
                "dagster/row_count": rows, "location": MetadataValue.path(lake.dataset_uri(name))})
