"""Stream rows from the OLTP PostgreSQL into Parquet in bounded memory: a table's snapshot into one file,
or a time-partitioned table into one file per partition.

A partitioned extraction (`OltpExtract`: its query in sql/oltp/, its rows ordered by its time column)
covers a run's whole range of partitions with one query. ADBC's PostgreSQL driver runs it as a binary COPY and decodes the rows into Arrow record
batches in C; a thread keeps reading the next batches while the caller writes, checks and publishes the
current partition. The stream is cut at partition boundaries: each partition gets its own Parquet file
(an empty one, with the schema, when it has no rows), and the numbers of its keys-and-values check are
counted from the batches as they are written. Memory is bounded by a few batches, not by the range.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ubm_platform import sql_files
from ubm_platform.defs import quality
from ubm_platform.defs.metadata import PREVIEW_ROWS, written_partition_metadata
from ubm_platform.defs.partitioned import PartitionOutcome, gate, materialize_partitions
from ubm_platform.partitions import PartitionWindow, partition_window

DEFAULT_BATCH_BYTES = 2 << 20  # measured: 8 MB batches added ~35 MB of peak RSS for no speed
PREFETCH_BATCHES = 2  # read ahead while a partition is checked and published; bounds memory
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class OltpExtract:
    """What one partitioned extraction reads and how its rows are checked."""

    query: str  # under sql/; selects the window [:window_start, :window_end), ordered by time_column
    schema: pa.Schema  # of the written files; its non-nullable columns are the keys
    time_column: str  # the partitioning timestamp
    id_column: str  # one row per id in a partition
    # name -> the rows' mask of a bad value, counted per partition (e.g. negative amounts)
    bad_values: dict[str, Callable[[pa.RecordBatch], pa.Array]] = field(default_factory=dict)


@dataclass
class PartitionStats:
    """What a partition's keys_and_values check needs, counted while it is written."""

    rows: int = 0
    null_ids: int = 0  # rows with a null in a non-nullable (key) column
    duplicate_ids: int = 0
    bad_values: dict[str, int] = field(default_factory=dict)
    first_rows: pa.Table | None = None  # the first PREVIEW_ROWS rows written, for the materialization's preview

    @property
    def clean(self) -> bool:
        return self.null_ids == 0 and self.duplicate_ids == 0 and not any(self.bad_values.values())

    def check_metadata(self) -> dict[str, int]:
        return {"rows": self.rows, "null_ids": self.null_ids, "duplicate_ids": self.duplicate_ids, **self.bad_values}


def to_schema(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The driver's batch in `schema`: integer widths, numeric (text) to decimal, UTC timestamps."""
    columns = []
    for field_ in schema:
        column = batch.column(field_.name)
        if isinstance(column.type, pa.ExtensionType):  # PostgreSQL numeric arrives as its text
            column = column.storage
        columns.append(column.cast(field_.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _micros(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


class _Prefetcher:
    """Batches of a RecordBatchReader, read and converted by a thread up to PREFETCH_BATCHES ahead.

    The driver and pyarrow release the GIL while they decode and cast, so PostgreSQL keeps producing
    while the caller writes Parquet and publishes."""

    _END = object()

    def __init__(self, reader: pa.RecordBatchReader, schema: pa.Schema):
        self._reader = reader
        self._schema = schema
        self._queue: queue.Queue = queue.Queue(maxsize=PREFETCH_BATCHES)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="oltp-prefetch", daemon=True)
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
                if not self._put(to_schema(batch, self._schema)):
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


def _reader(conn, query: str, batch_bytes: int):
    """(cursor, its RecordBatchReader) for a query without bound parameters."""
    cursor = conn.cursor()
    cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
    cursor.execute(query)
    return cursor, cursor.fetch_record_batch()


class PartitionStream:
    """The rows of consecutive partitions, read by one query and handed out partition by partition.

    Call `write_partition` for the partitions in ascending order. Rows between two requested
    partitions (keys not asked for) are skipped; a window with no rows gets an empty file.
    """

    def __init__(self, conn, extract: OltpExtract, windows: list[PartitionWindow],
                 batch_bytes: int = DEFAULT_BATCH_BYTES):
        if not windows:
            raise ValueError("no partitions to extract")
        self.extract = extract
        self._windows = sorted(windows, key=lambda w: w.start)
        # ADBC's driver can stream only a query without bound parameters (a bound one is read whole into
        # memory), so the window travels as literals adapted by psycopg, as psycopg itself binds COPY's.
        query = sql_files.with_literals(
            sql_files.load(extract.query),
            {"window_start": self._windows[0].start, "window_end": self._windows[-1].end},
        )
        self._cursor, reader = _reader(conn, query, batch_bytes)
        self._batches = _Prefetcher(reader, extract.schema)
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

    def _timestamps(self, batch: pa.RecordBatch) -> np.ndarray:
        return batch.column(self.extract.time_column).cast(pa.int64()).to_numpy()

    def _check_order(self, ts: np.ndarray) -> None:
        """Cutting the stream at boundaries is only right if the query orders rows by that time."""
        if (self._last_ts is not None and ts[0] < self._last_ts) or bool(np.any(ts[1:] < ts[:-1])):
            raise RuntimeError(f"{self.extract.query} must return rows ordered by {self.extract.time_column}")
        self._last_ts = int(ts[-1])

    def write_partition(self, window: PartitionWindow, sink) -> PartitionStats:
        """Write the window's rows to `sink` as Parquet (each slice of a batch a row group); its numbers."""
        start, end = _micros(window.start), _micros(window.end)
        stats = PartitionStats(bad_values=dict.fromkeys(self.extract.bad_values, 0))
        ids = []
        with pq.ParquetWriter(sink, self.extract.schema, compression="zstd") as writer:
            while (batch := self._next_batch()) is not None:
                ts = self._timestamps(batch)
                first, stop = np.searchsorted(ts, [start, end], side="left")
                if stop < batch.num_rows:
                    self._pending = batch.slice(stop)
                rows = batch.slice(first, stop - first)
                if rows.num_rows:
                    _count(self.extract, rows, stats, ids)
                    written = _without_null_keys(rows)
                    writer.write_batch(written)
                    _keep_first_rows(written, stats)
                if self._pending is not None:
                    break
        if ids:
            seen = np.concatenate(ids)
            stats.duplicate_ids = int(seen.size - np.unique(seen).size)
        return stats

    def close(self) -> None:
        self._batches.stop(cancel=self._cursor.adbc_cancel)
        self._cursor.close()

    def __enter__(self) -> "PartitionStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _count(extract: OltpExtract, rows: pa.RecordBatch, stats: PartitionStats, ids: list) -> None:
    stats.rows += rows.num_rows
    stats.null_ids += sum(rows.column(f.name).null_count for f in extract.schema if not f.nullable)
    for name, is_bad in extract.bad_values.items():
        stats.bad_values[name] += pc.sum(is_bad(rows)).as_py() or 0
    ids.append(rows.column(extract.id_column).drop_null().to_numpy())


def _keep_first_rows(written: pa.RecordBatch, stats: PartitionStats) -> None:
    have = stats.first_rows.num_rows if stats.first_rows is not None else 0
    if have < PREVIEW_ROWS and written.num_rows:
        head = pa.Table.from_batches([written.slice(0, PREVIEW_ROWS - have)])
        stats.first_rows = head if stats.first_rows is None else pa.concat_tables([stats.first_rows, head])


def _without_null_keys(rows: pa.RecordBatch) -> pa.RecordBatch:
    """Rows with a null in a non-nullable column cannot be written; they are counted (null_ids), and
    the keys_and_values check then blocks the partition, so its file is never published anyway."""
    valid = [pc.is_valid(rows.column(f.name)) for f in rows.schema if not f.nullable
             and rows.column(f.name).null_count]
    if not valid:
        return rows
    keep = valid[0]
    for mask in valid[1:]:
        keep = pc.and_(keep, mask)
    return rows.filter(keep)


def extract_partition(conn, extract: OltpExtract, partition_key: str, sink,
                      batch_bytes: int = DEFAULT_BATCH_BYTES) -> PartitionStats:
    """Write one partition's rows to `sink` (conn: an ADBC PostgreSQL connection)."""
    window = partition_window(partition_key)
    with PartitionStream(conn, extract, [window], batch_bytes) as stream:
        return stream.write_partition(window, sink)


def extract_table(conn, query: str, schema: pa.Schema, sink, batch_bytes: int = DEFAULT_BATCH_BYTES) -> int:
    """Write the rows of sql/<query> (a small table's snapshot) to `sink` as Parquet; how many."""
    cursor, reader = _reader(conn, sql_files.load(query), batch_bytes)
    rows = 0
    try:
        with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(to_schema(batch, schema))
                rows += batch.num_rows
    finally:
        cursor.close()
    return rows


# -- the partitioned extraction assets (user_purchase_staging, rental_staging) ---------------------------
EXTRACT_CHECKS = {
    "blocking": {"schema": "Columns and types as the warehouse expects.",
                 "keys_and_values": "No null keys, one row per id, no bad value."},
    "warning": {"volume": "The partition's row count is within the trailing mean +- 4 standard deviations."},
}


def materialize_extract(context, extract: OltpExtract, dataset: str, oltp, lake, warehouse) -> Iterator:
    """The body of a partitioned extraction asset: the run's range streamed by one query, each partition
    written to the lake, checked (EXTRACT_CHECKS), published and registered with the warehouse on its own."""
    volume = quality.VolumeBaseline(context.instance, dataset)

    def materialize_partition(key: str) -> PartitionOutcome:
        with lake.staged_partition(dataset, key) as staging:
            with lake.open_output(staging.join("part-00000.parquet")) as sink:
                stats = rows.write_partition(partition_window(key), sink)
            checks = [
                quality.schema_result("schema", quality.parquet_schema(lake, staging.path), extract.schema),
                quality.result("keys_and_values", stats.clean, **stats.check_metadata()),
            ]
            gate(f"{dataset} {key}", checks)
        register_partition(key)
        checks.append(volume.result("volume", key, stats.rows))
        metadata = written_partition_metadata(lake, staging.final, stats.rows, 1, extract.schema, stats.first_rows)
        return PartitionOutcome(metadata, checks)

    windows = [partition_window(key) for key in context.partition_keys]
    with (
        oltp.connect_arrow() as conn,
        PartitionStream(conn, extract, windows) as rows,
        warehouse.partition_registry(dataset, lake.dataset_uri(dataset)) as register_partition,
    ):
        yield from materialize_partitions(context, materialize_partition)
