"""Stream a partition of purchases from PostgreSQL into Parquet in bounded memory.

PostgreSQL's COPY streams the query result as CSV; pyarrow parses it block by block and each block
becomes a Parquet row group. Memory is bounded by the block size, not by the day's size.
"""

from __future__ import annotations

import io

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ubm_platform import sql_files
from ubm_platform.partitions import partition_window

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

DEFAULT_BLOCK_BYTES = 8 << 20


class _CopyStream(io.RawIOBase):
    """A readable file over the chunks of a psycopg COPY ... TO STDOUT."""

    def __init__(self, copy: psycopg.Copy):
        self._copy = copy
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._pending:
            chunk = self._copy.read()
            if not chunk:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n




def copy_query_to_parquet(
    conn: psycopg.Connection,
    sql: str,
    params: dict,
    schema: pa.Schema,
    sink,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> int:
    """Run `COPY (sql) TO STDOUT` and write the rows to `sink` as Parquet; returns the row count."""
    # Timestamps arrive as UTC wall-clock text (the query converts them); read them as naive, then tag UTC.
    read_types = {
        f.name: (pa.timestamp("us") if pa.types.is_timestamp(f.type) else f.type) for f in schema
    }
    copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    rows = 0
    with conn.cursor() as cur, cur.copy(copy_sql, params) as copy:
        reader = pacsv.open_csv(
            io.BufferedReader(_CopyStream(copy), buffer_size=1 << 20),
            read_options=pacsv.ReadOptions(block_size=block_bytes, use_threads=False),
            convert_options=pacsv.ConvertOptions(
                column_types=read_types, include_columns=schema.names, strings_can_be_null=True, quoted_strings_can_be_null=False
            ),
        )
        with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
            for batch in reader:
                table = pa.Table.from_batches([batch]).cast(schema)
                writer.write_table(table)
                rows += table.num_rows
    return rows


def extract_user_purchase(
    conn: psycopg.Connection, partition_key: str, sink, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> int:
    """Write the partition's user_purchase_staging rows to `sink`; returns the row count."""
    window = partition_window(partition_key)
    sql = sql_files.to_paramstyle(sql_files.load("oltp/extract_user_purchase.sql"), "pyformat")
    return copy_query_to_parquet(
        conn, sql, {"window_start": window.start, "window_end": window.end}, USER_PURCHASE_SCHEMA, sink, block_bytes
    )
