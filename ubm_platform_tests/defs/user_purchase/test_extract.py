"""Extraction of purchases from a real PostgreSQL, on hand-made Pagila rows: one partition, and a range
of partitions read by one query and cut into one file per partition."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pyarrow.parquet as pq
import pytest

from ubm_platform import sql_files
from ubm_platform.defs.metadata import PREVIEW_ROWS
from ubm_platform.defs.oltp_extract import PartitionStream, extract_partition
from ubm_platform.defs.user_purchase.extract import USER_PURCHASE, USER_PURCHASE_SCHEMA
from ubm_platform.partitions import partition_window

UTC = dt.timezone.utc


@pytest.fixture
def oltp(pg_database):
    with psycopg.connect(pg_database) as conn:
        conn.execute(sql_files.load("seed/pagila_subset_schema.sql"))
        conn.execute("INSERT INTO category (category_id, name) VALUES (1, 'Action'), (2, 'Comedy, Dark'), (3, 'Drama')")
        conn.execute("INSERT INTO film (film_id, title, language_id) VALUES (10, 'TWO CATS', 1), (11, 'NO CAT', 1)")
        # film 10 is in two categories: its payments must still appear once, with the lowest category id
        conn.execute("INSERT INTO film_category (film_id, category_id) VALUES (10, 3), (10, 2)")
        conn.execute("INSERT INTO inventory (inventory_id, film_id, store_id) VALUES (100, 10, 1), (101, 11, 1)")
        conn.execute(
            "INSERT INTO rental (rental_id, rental_date, inventory_id, customer_id, staff_id) VALUES "
            "(1000, '2022-02-01 10:00+00', 100, 1, 1), (1001, '2022-02-01 23:30+00', 101, 2, 1)"
        )
        payments = [
            (1, 1, 1000, "4.99", "2022-02-01 00:00:00+00"),  # first instant of the day: in
            (2, 1, 1000, "1.00", "2022-02-01 23:59:59.999999+00"),  # last instant: in
            (3, 2, 1001, "0.00", "2022-02-01 12:00:00+05"),  # 07:00 UTC: in
            (4, 2, 1001, "2.99", "2022-02-02 00:00:00+00"),  # next day: out
            (5, 3, 999999, "7.50", "2022-02-01 08:00:00+00"),  # rental unknown to the database: kept
            (6, 3, 1001, "3.00", "2022-02-01 01:00:00+02"),  # 2022-01-31 23:00 UTC: out
        ]
        for row in payments:
            conn.execute(
                "INSERT INTO payment (payment_id, customer_id, rental_id, amount, payment_date, staff_id) "
                "VALUES (%s, %s, %s, %s, %s, 1)", row)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        yield conn


@pytest.fixture
def arrow_conn(oltp, pg_database):
    """The extraction's kind of connection (ADBC), to the same database as `oltp`."""
    with adbc.connect(pg_database, autocommit=True) as conn:
        yield conn


def test_extracts_exactly_the_days_payments_once_each(oltp, arrow_conn):
    sink = io.BytesIO()
    rows = extract_partition(arrow_conn, USER_PURCHASE, "2022-02-01", sink).rows
    table = pq.read_table(io.BytesIO(sink.getvalue()))
    assert table.schema.equals(USER_PURCHASE_SCHEMA, check_metadata=False)
    by_id = {r["payment_id"]: r for r in table.to_pylist()}
    assert rows == table.num_rows == 4
    assert sorted(by_id) == [1, 2, 3, 5]
    assert by_id[1]["category"] == "Comedy, Dark" and by_id[1]["film_id"] == 10
    assert by_id[3]["category"] is None and by_id[3]["film_id"] == 11
    assert by_id[5]["film_id"] is None and by_id[5]["rental_ts"] is None
    assert by_id[2]["amount"] == Decimal("1.00000") and by_id[3]["amount"] == Decimal("0")
    assert by_id[2]["payment_ts"] == dt.datetime(2022, 2, 1, 23, 59, 59, 999999, tzinfo=UTC)
    assert by_id[3]["payment_ts"] == dt.datetime(2022, 2, 1, 7, 0, tzinfo=UTC)
    assert by_id[1]["rental_ts"] == dt.datetime(2022, 2, 1, 10, 0, tzinfo=UTC)


def test_a_day_without_payments_gives_an_empty_file_with_the_schema(arrow_conn):
    sink = io.BytesIO()
    assert extract_partition(arrow_conn, USER_PURCHASE, "2023-05-05", sink).rows == 0
    table = pq.read_table(io.BytesIO(sink.getvalue()))
    assert table.num_rows == 0 and table.schema.equals(USER_PURCHASE_SCHEMA, check_metadata=False)


def test_streams_in_blocks_rather_than_one_frame(oltp, arrow_conn):
    """With a small block size, the day arrives as many row groups: memory follows the block, not the day."""
    oltp.execute(
        "INSERT INTO payment (payment_id, customer_id, rental_id, amount, payment_date, staff_id) "
        "SELECT 100 + g, 1 + g % 50, 1000, 1.99, '2022-03-01 00:00+00'::timestamptz + g * interval '1 second', 1 "
        "FROM generate_series(1, 20000) AS g"
    )
    sink = io.BytesIO()
    assert extract_partition(arrow_conn, USER_PURCHASE, "2022-03-01", sink, batch_bytes=64 << 10).rows == 20000
    parquet = pq.ParquetFile(io.BytesIO(sink.getvalue()))
    assert parquet.metadata.num_row_groups > 5
    assert sorted(parquet.read().column("payment_id").to_pylist()) == list(range(101, 20101))


# -- a range of partitions: one query, one file per partition ----------------------------------------
def _insert_payments(conn, rows: list[tuple]) -> None:
    """(payment_id, customer_id, amount, payment_date) rows, on rental 1000."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO payment (payment_id, customer_id, rental_id, amount, payment_date, staff_id) "
            "VALUES (%s, %s, 1000, %s, %s, 1)", rows)


def _expected_ids(conn, window) -> list[int]:
    """The window's payment ids, straight from the payment table (not through the extraction query)."""
    found = conn.execute("SELECT payment_id FROM payment WHERE payment_date >= %s AND payment_date < %s",
                         (window.start, window.end)).fetchall()
    return sorted(r[0] for r in found)


def _extract_range(arrow_conn, keys: list[str], batch_bytes: int) -> dict[str, tuple]:
    """Partition key -> (its stats, its file's table), for consecutive partitions read by one stream."""
    windows = [partition_window(k) for k in keys]
    out = {}
    with PartitionStream(arrow_conn, USER_PURCHASE, windows, batch_bytes=batch_bytes) as stream:
        for window in windows:
            sink = io.BytesIO()
            stats = stream.write_partition(window, sink)
            out[window.key] = (stats, pq.read_table(io.BytesIO(sink.getvalue())))
    return out


@pytest.mark.parametrize("batch_bytes", [256, 8 << 20], ids=["tiny-batches", "one-batch"])
def test_a_range_is_cut_into_partitions_at_their_exact_boundaries(oltp, arrow_conn, partitioning, batch_bytes):
    """Rows at the first instant of a partition belong to it, not to the one before; a partition in the
    middle without rows still gets its (empty) file; every row lands in exactly one partition."""
    first = dt.datetime(2022, 2, 10, 22, tzinfo=UTC) if partitioning.name == "hourly" else dt.datetime(2022, 2, 10, tzinfo=UTC)
    step = partitioning.step
    keys = [(first + i * step).strftime(partitioning.key_format) for i in range(4)]
    boundary_rows = []
    for i in (0, 1, 3):  # partition 2 stays empty
        start = first + i * step
        boundary_rows += [
            (1000 + 10 * i, 1, "1.00", start),  # exactly at the boundary: in this partition
            (1001 + 10 * i, 1, "2.00", start + step / 2),
            (1002 + 10 * i, 2, "3.00", start + step - dt.timedelta(microseconds=1)),  # last instant: still in
        ]
    boundary_rows.append((1100, 3, "4.00", first + 4 * step))  # first instant after the range: out
    boundary_rows.append((1101, 3, "5.00", first - dt.timedelta(microseconds=1)))  # just before: out
    _insert_payments(oltp, boundary_rows)

    extracted = _extract_range(arrow_conn, keys, batch_bytes)

    assert list(extracted) == keys
    for key in keys:
        stats, table = extracted[key]
        expected = _expected_ids(oltp, partition_window(key))
        assert table.schema.equals(USER_PURCHASE_SCHEMA, check_metadata=False)
        assert sorted(table.column("payment_id").to_pylist()) == expected, key
        assert stats.rows == table.num_rows == len(expected)
        assert (stats.null_ids, stats.bad_values, stats.duplicate_ids) == (0, {"negative_amounts": 0}, 0)
        # the preview's rows, kept while writing, are the file's first rows
        preview = stats.first_rows.to_pylist() if stats.first_rows is not None else []
        assert preview == table.slice(0, PREVIEW_ROWS).to_pylist()
    assert extracted[keys[2]][1].num_rows == 0


def test_checks_counted_while_writing_find_duplicate_ids_negative_amounts_and_null_ids(oltp, arrow_conn):
    """Bad rows planted in PostgreSQL are counted per partition as an independent query counts them."""
    oltp.execute("ALTER TABLE payment ALTER COLUMN customer_id DROP NOT NULL")
    _insert_payments(oltp, [
        (2001, 1, "1.00", dt.datetime(2022, 4, 1, 1, tzinfo=UTC)),
        (2001, 1, "1.00", dt.datetime(2022, 4, 1, 2, tzinfo=UTC)),  # a payment_id twice in a day
        (2002, 2, "-3.50", dt.datetime(2022, 4, 1, 3, tzinfo=UTC)),  # a negative amount
        (2003, None, "2.00", dt.datetime(2022, 4, 2, 4, tzinfo=UTC)),  # a null customer id
        (2001, 3, "2.00", dt.datetime(2022, 4, 2, 5, tzinfo=UTC)),  # the same id again, on the next day
        (2004, 3, "2.00", dt.datetime(2022, 4, 3, 6, tzinfo=UTC)),  # a clean day
    ])
    keys = ["2022-04-01", "2022-04-02", "2022-04-03"]

    extracted = _extract_range(arrow_conn, keys, batch_bytes=256)

    for key in keys:
        window = partition_window(key)
        rows, ids, distinct_ids, null_customers, negative = oltp.execute(
            "SELECT count(*), count(payment_id), count(DISTINCT payment_id), count(*) - count(customer_id), "
            "count(*) FILTER (WHERE amount < 0) FROM payment WHERE payment_date >= %s AND payment_date < %s",
            (window.start, window.end)).fetchone()
        stats, table = extracted[key]
        assert stats.rows == rows, key
        # a row with a null id cannot go into the file (non-nullable column): counted, not written
        assert table.num_rows == rows - null_customers - (rows - ids), key
        assert stats.duplicate_ids == ids - distinct_ids, key
        assert stats.null_ids == null_customers + (rows - ids), key
        assert stats.bad_values["negative_amounts"] == negative, key
    assert [extracted[k][0].duplicate_ids for k in keys] == [1, 0, 0]  # per partition, not per range
    assert [extracted[k][0].null_ids for k in keys] == [0, 1, 0]
    assert [extracted[k][0].bad_values["negative_amounts"] for k in keys] == [1, 0, 0]


# -- the asset over a range: each partition written, checked and published on its own -----------------
def _materialize_range(pg_database: str, tmp_path, first: str, last: str):
    from dagster import DagsterInstance, materialize
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from ubm_platform.defs.user_purchase.assets import user_purchase_staging
    from ubm_platform.resources.lake import LakeIOManager
    from ubm_platform.resources.oltp import OltpPostgresResource
    from ubm_platform.resources.warehouse import DuckDBWarehouseResource

    lake = LakeIOManager(root=str(tmp_path / "lake"))
    result = materialize(
        [user_purchase_staging], instance=DagsterInstance.ephemeral(), raise_on_error=False,
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        resources={"oltp": OltpPostgresResource(dsn=pg_database), "lake": lake,
                   "warehouse": DuckDBWarehouseResource(path=str(tmp_path / "w.duckdb"))},
    )
    return result, tmp_path / "lake" / "stage" / "user_purchase"


def test_a_range_run_publishes_each_day_with_its_own_rows_and_an_empty_day_too(oltp, pg_database, tmp_path):
    _insert_payments(oltp, [(3000 + i, 1, "1.00", dt.datetime(2022, 5, 1 + 2 * (i % 2), i, tzinfo=UTC)) for i in range(6)])
    result, dataset = _materialize_range(pg_database, tmp_path, "2022-05-01", "2022-05-03")
    assert result.success
    for key in ("2022-05-01", "2022-05-02", "2022-05-03"):
        files = list((dataset / f"insert_date={key}").glob("*.parquet"))
        assert len(files) == 1, key
        assert sorted(pq.read_table(files[0]).column("payment_id").to_pylist()) == _expected_ids(oltp, partition_window(key))
    assert not list((dataset / "_staging").glob("**/*.parquet"))


def test_a_blocked_day_publishes_nothing_and_the_days_before_it_stay_published(oltp, pg_database, tmp_path):
    _insert_payments(oltp, [
        (4001, 1, "1.00", dt.datetime(2022, 6, 1, 5, tzinfo=UTC)),
        (4002, 1, "-1.00", dt.datetime(2022, 6, 2, 5, tzinfo=UTC)),  # blocks 2022-06-02
        (4003, 1, "1.00", dt.datetime(2022, 6, 3, 5, tzinfo=UTC)),
    ])
    result, dataset = _materialize_range(pg_database, tmp_path, "2022-06-01", "2022-06-03")
    assert not result.success
    assert len(list((dataset / "insert_date=2022-06-01").glob("*.parquet"))) == 1
    assert not (dataset / "insert_date=2022-06-02").exists() and not (dataset / "insert_date=2022-06-03").exists()
    assert not list((dataset / "_staging").glob("**/*.parquet"))
    # Dagster's record = the published days; each day's checks recorded against it
    assert [m.partition for m in result.asset_materializations_for_node("user_purchase_staging")] == ["2022-06-01"]
    recorded = result.asset_materializations_for_node("user_purchase_staging")[0]
    assert recorded.metadata["failed_checks"].value == "none"
    keys_checks = {e.asset_check_evaluation_data.partition: e.asset_check_evaluation_data.passed
                   for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                   and e.asset_check_evaluation_data.check_name == "keys_and_values"}
    assert keys_checks == {"2022-06-02": False}
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert not retries, "a data-quality failure is not retried (the retry policy is for transient faults)"


def test_a_stream_closed_before_its_end_leaves_the_connection_usable(oltp, arrow_conn):
    """After a failed partition the rest of the range is cancelled, not left running on the connection."""
    _insert_payments(oltp, [(5000 + i, 1, "1.00", dt.datetime(2022, 7, 1 + i % 5, 1, tzinfo=UTC)) for i in range(50)])
    windows = [partition_window(f"2022-07-0{d}") for d in range(1, 6)]
    with PartitionStream(arrow_conn, USER_PURCHASE, windows, batch_bytes=256) as stream:
        assert stream.write_partition(windows[0], io.BytesIO()).rows == 10
    with arrow_conn.cursor() as cursor:
        cursor.execute("SELECT count(*) AS n FROM payment")
        assert cursor.fetchone()[0] == oltp.execute("SELECT count(*) FROM payment").fetchone()[0]
