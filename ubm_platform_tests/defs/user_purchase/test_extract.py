"""Extraction of a day of purchases from a real PostgreSQL, on hand-made Pagila rows."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import psycopg
import pyarrow.parquet as pq
import pytest

from ubm_platform import sql_files
from ubm_platform.defs.user_purchase.extract import USER_PURCHASE_SCHEMA, extract_user_purchase

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
    with psycopg.connect(pg_database) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        yield conn


def test_extracts_exactly_the_days_payments_once_each(oltp):
    sink = io.BytesIO()
    rows = extract_user_purchase(oltp, "2022-02-01", sink)
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


def test_a_day_without_payments_gives_an_empty_file_with_the_schema(oltp):
    sink = io.BytesIO()
    assert extract_user_purchase(oltp, "2023-05-05", sink) == 0
    table = pq.read_table(io.BytesIO(sink.getvalue()))
    assert table.num_rows == 0 and table.schema.equals(USER_PURCHASE_SCHEMA, check_metadata=False)


def test_streams_in_blocks_rather_than_one_frame(oltp):
    """With a small block size, the day arrives as many row groups: memory follows the block, not the day."""
    oltp.execute(
        "INSERT INTO payment (payment_id, customer_id, rental_id, amount, payment_date, staff_id) "
        "SELECT 100 + g, 1 + g % 50, 1000, 1.99, '2022-03-01 00:00+00'::timestamptz + g * interval '1 second', 1 "
        "FROM generate_series(1, 20000) AS g"
    )
    sink = io.BytesIO()
    assert extract_user_purchase(oltp, "2022-03-01", sink, block_bytes=64 << 10) == 20000
    parquet = pq.ParquetFile(io.BytesIO(sink.getvalue()))
    assert parquet.metadata.num_row_groups > 5
    assert sorted(parquet.read().column("payment_id").to_pylist()) == list(range(101, 20101))
