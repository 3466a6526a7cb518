"""What user_purchase_staging extracts from the OLTP database: its query, schema and value checks."""

import pyarrow as pa
import pyarrow.compute as pc

from ubm_platform.defs.oltp_extract import OltpExtract

USER_PURCHASE_SCHEMA = pa.schema(
    [
        pa.field("payment_id", pa.int64(), nullable=False),
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("rental_id", pa.int64()),
        pa.field("film_id", pa.int64()),
        pa.field("category", pa.string()),
        pa.field("amount", pa.decimal128(18, 5), nullable=False),
        pa.field("payment_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("rental_ts", pa.timestamp("us", tz="UTC")),
    ]
)

USER_PURCHASE = OltpExtract(
    query="oltp/extract_user_purchase.sql",
    schema=USER_PURCHASE_SCHEMA,
    time_column="payment_ts",
    id_column="payment_id",
    bad_values={"negative_amounts": lambda rows: pc.less(rows.column("amount"), 0)},
)
