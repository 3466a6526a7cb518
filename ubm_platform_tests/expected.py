"""An independent computation of user_behavior_metric, for end-to-end tests.

It shares no code with the platform: purchases come straight from PostgreSQL with a different
query (a day is `(payment_date AT TIME ZONE 'UTC')::date`), reviews from the vendor's CSV read
with the csv module, and sentiment flags from the classified Parquet the Spark job wrote (the
model's predictions are the one input taken as given).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pyarrow.dataset as ds


def expected_metric(
    dsn: str, review_file: Path, classified_dir: Path, day: str, hour: int | None = None
) -> dict[int, tuple]:
    """customerid -> (amount_spent, purchase_count, review_score, review_count) for one day, or one
    hour of it (hourly partitions)."""
    spent: dict[int, Decimal] = defaultdict(Decimal)
    purchases: dict[int, int] = defaultdict(int)
    with psycopg.connect(dsn) as conn:
        for customer_id, amount in conn.execute(
            "SELECT customer_id, amount FROM payment WHERE (payment_date AT TIME ZONE 'UTC')::date = %s::date "
            "AND (%s::int IS NULL OR extract(hour FROM payment_date AT TIME ZONE 'UTC') = %s::int)",
            (day, hour, hour),
        ):
            spent[customer_id] += amount
            purchases[customer_id] += 1

    reviews: dict[int, int] = defaultdict(int)
    review_cid: dict[str, int] = {}
    with open(review_file, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            reviews[int(row["cid"])] += 1
            review_cid[row["review_id"]] = int(row["cid"])

    classified = ds.dataset(str(classified_dir), format="parquet").to_table().to_pylist()
    assert sorted(r["review_id"] for r in classified) == sorted(review_cid), "every review classified exactly once"
    positives: dict[int, int] = defaultdict(int)
    for row in classified:
        assert row["cid"] == review_cid[row["review_id"]]
        positives[row["cid"]] += bool(row["positive_review"])

    customers = set(spent) | set(reviews)
    return {
        c: (spent.get(c, Decimal(0)), purchases.get(c, 0), positives.get(c, 0), reviews.get(c, 0)) for c in customers
    }


def warehouse_metric(warehouse_file: Path, day: str, hour: int | None = None) -> dict[int, tuple]:
    hour_filter = "" if hour is None else f" AND insert_hour = {int(hour)}"
    with duckdb.connect(str(warehouse_file), read_only=True) as conn:
        rows = conn.execute(
            "SELECT customerid, amount_spent, purchase_count, review_score, review_count FROM user_behavior_metric "
            "WHERE insert_date = ?::DATE" + hour_filter,
            [day],
        ).fetchall()
    result = {row[0]: tuple(row[1:]) for row in rows}
    assert len(result) == len(rows), "one row per customer and partition"
    return result
