"""Stream purchases from PostgreSQL into Parquet, one file per partition, in bounded memory.

One query covers a run's whole range of partitions (sql/oltp/extract_user_purchase.sql, its rows ordered
by payment time). ADBC's PostgreSQL driver runs it as a binary COPY and decodes the rows into Arrow record
batches in C; a thread keeps reading the next batches while the caller writes, checks and publishes the
current partition. The stream is cut at partition boundaries: each partition gets its own Parquet file
(an empty one, with the schema, when it has no rows), and the numbers of its keys-and-values check are
counted from the batches as they are written. Memory is bounded by a few batches, not by the range.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ubm_platform import sql_files
from ubm_platform.defs.metadata import PREVIEW_ROWS
from ubm_platform.partitions import PartitionWindow, partition_window

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

EXTRACT_QUERY = "oltp/extract_user_purchase.sql"
DEFAULT_BATCH_BYTES = 2 << 20  # measured: 8 MB batches added ~35 MB of peak RSS for no speed
PREFETCH_BATCHES = 2  # read ahead while a partition is checked and published; bounds memory
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass
class PurchaseStats:
    """What the keys_and_values check needs, counted while a partition is written."""

    rows: int = 0
    null_ids: int = 0  # null payment_id or customer_id
    negative_amounts: int = 0
    duplicate_payment_ids: int = 0
    first_rows: pa.Table | None = None  # the first PREVIEW_ROWS rows written, for the materialization's preview


def to_schema(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The driver's batch in USER_PURCHASE_SCHEMA: integer widths, numeric (text) to decimal, UTC timestamps."""
    columns = []
    for field in USER_PURCHASE_SCHEMA:
        column = batch.column(field.name)
        if isinstance(column.type, pa.ExtensionType):  # PostgreSQL numeric arrives as its text
            column = column.storage
        columns.append(column.cast(field.type))
    return pa.RecordBatch.from_arrays(columns, schema=USER_PURCHASE_SCHEMA)


def _micros(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


class _Prefetcher:
    """Batches of a RecordBatchReader, read and converted by a thread up to PREFETCH_BATCHES ahead.

    The driver and pyarrow release the GIL while they decode and cast, so PostgreSQL keeps producing
    while the caller writes Parquet and publishes."""

    _END = object()

    def __init__(self, reader: pa.RecordBatchReader):
        self._reader = reader
        self._queue: queue.Queue = queue.Queue(maxsize=PREFETCH_BATCHES)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="user-purchase-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self) -> None:
        try:
            for batch in self._reader:
                if not self._put(to_schema(batch)):
                    return
            self._put(self._END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)

    def next(self) -> pa.RecordBatch | None:
        """The next batch, or None at the end of the stream."""
        item = self._queue.get()
        if item is self._END:
            self._queue.put(item)  # later calls see the end too
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self, cancel) -> None:
        """Stop reading; `cancel()` (the query's) is called first if the stream is not finished, so the
        server stops computing the rest of a range after a failed partition and the read returns."""
        self._stopped.set()
        if self._thread.is_alive():
            cancel()
        self._thread.join()


class PurchaseStream:
    """The purchases of consecutive partitions, read by one query and handed out partition by partition.

    Call `write_partition` for the partitions in ascending order. Rows between two requested
    partitions (keys not asked for) are skipped; a window with no rows gets an empty file.
    """

    def __init__(self, conn, windows: list[PartitionWindow], batch_bytes: int = DEFAULT_BATCH_BYTES):
        if not windows:
            raise ValueError("no partitions to extract")
        self._windows = sorted(windows, key=lambda w: w.start)
        # ADBC's driver can stream only a query without bound parameters (a bound one is read whole into
        # memory), so the window travels as literals adapted by psycopg, as psycopg itself binds COPY's.
        query = sql_files.with_literals(
            sql_files.load(EXTRACT_QUERY),
            {"window_start": self._windows[0].start, "window_end": self._windows[-1].end},
        )
        self._cursor = conn.cursor()
        self._cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
        self._cursor.execute(query)
        self._batches = _Prefetcher(self._cursor.fetch_record_batch())
        self._pending: pa.RecordBatch | None = None  # rows read but not yet written (a later partition's)
        self._last_ts: int | None = None

    def _next_batch(self) -> pa.RecordBatch | None:
        if self._pending is not None:
            batch, self._pending = self._pending, None
            return batch
        batch = self._batches.next()
        if batch is not None and batch.num_rows:
            self._check_order(self._timestamps(batch))
        return batch

    @staticmethod
    def _timestamps(batch: pa.RecordBatch) -> np.ndarray:
        return batch.column("payment_ts").cast(pa.int64()).to_numpy()

    def _check_order(self, ts: np.ndarray) -> None:
        """Cutting the stream at boundaries is only right if the query orders rows by payment time."""
        if (self._last_ts is not None and ts[0] < self._last_ts) or bool(np.any(ts[1:] < ts[:-1])):
            raise RuntimeError(f"{EXTRACT_QUERY} must return rows ordered by payment time")
        self._last_ts = int(ts[-1])

    def write_partition(self, window: PartitionWindow, sink) -> PurchaseStats:
        """Write the window's rows to `sink` as Parquet (each slice of a batch a row group); its numbers."""
        start, end = _micros(window.start), _micros(window.end)
        stats = PurchaseStats()
        payment_ids = []
        with pq.ParquetWriter(sink, USER_PURCHASE_SCHEMA, compression="zstd") as writer:
            while (batch := self._next_batch()) is not None:
                ts = self._timestamps(batch)
                first, stop = np.searchsorted(ts, [start, end], side="left")
                if stop < batch.num_rows:
                    self._pending = batch.slice(stop)
                rows = batch.slice(first, stop - first)
                if rows.num_rows:
                    _count(rows, stats, payment_ids)
                    written = _without_null_keys(rows)
                    writer.write_batch(written)
                    _keep_first_rows(written, stats)
                if self._pending is not None:
                    break
        if payment_ids:
            ids = np.concatenate(payment_ids)
            stats.duplicate_payment_ids = int(ids.size - np.unique(ids).size)
        return stats

    def close(self) -> None:
        self._batches.stop(cancel=self._cursor.adbc_cancel)
        self._cursor.close()

    def __enter__(self) -> "PurchaseStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _count(rows: pa.RecordBatch, stats: PurchaseStats, payment_ids: list) -> None:
    payment_id = rows.column("payment_id")
    stats.rows += rows.num_rows
    stats.null_ids += payment_id.null_count + rows.column("customer_id").null_count
    stats.negative_amounts += pc.sum(pc.less(rows.column("amount"), 0)).as_py() or 0
    payment_ids.append(payment_id.drop_null().to_numpy())


def _keep_first_rows(written: pa.RecordBatch, stats: PurchaseStats) -> None:
    have = stats.first_rows.num_rows if stats.first_rows is not None else 0
    if have < PREVIEW_ROWS and written.num_rows:
        head = pa.Table.from_batches([written.slice(0, PREVIEW_ROWS - have)])
        stats.first_rows = head if stats.first_rows is None else pa.concat_tables([stats.first_rows, head])


def _without_null_keys(rows: pa.RecordBatch) -> pa.RecordBatch:
    """Rows with a null in a non-nullable column cannot be written; they are counted (null_ids), and
    the keys_and_values check then blocks the partition, so its file is never published anyway."""
    valid = [pc.is_valid(rows.column(f.name)) for f in USER_PURCHASE_SCHEMA if not f.nullable
             and rows.column(f.name).null_count]
    if not valid:
        return rows
    keep = valid[0]
    for mask in valid[1:]:
        keep = pc.and_(keep, mask)
    return rows.filter(keep)


def extract_user_purchase(conn, partition_key: str, sink, batch_bytes: int = DEFAULT_BATCH_BYTES) -> PurchaseStats:
    """Write one partition's user_purchase_staging rows to `sink` (conn: an ADBC PostgreSQL connection)."""
    window = partition_window(partition_key)
    with PurchaseStream(conn, [window], batch_bytes) as stream:
        return stream.write_partition(window, sink)
