"""An independent computation of user_behavior_metric, for end-to-end tests.

It shares no code with the platform: purchases come straight from PostgreSQL with a different
query (a day is `(payment_date AT TIME ZONE 'UTC')::date`), reviews from the vendor's CSV read
with the csv module and kept by the vendor contract's rules (README, "The vendor feed"), and
sentiment flags from the classified Parquet the Spark job wrote (the model's predictions are the one
input taken as given).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pyarrow.dataset as ds


def valid_reviews(review_file: Path) -> list[dict]:
    """The rows of a vendor file that count, by the contract alone: as many fields as the header, cid a
    positive integer, a non-blank review_str, film_id empty or a positive integer, score empty or 1..5,
    and a review_id not seen in an earlier row that counts."""
    rows, seen = [], set()
    with open(review_file, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        for fields in reader:
            row = dict(zip(header, fields))
            if (
                len(fields) != len(header)
                or not re.fullmatch(r"0*[1-9][0-9]*", row["cid"])
                or not row["review_str"].strip()
                or not re.fullmatch(r"(0*[1-9][0-9]*)?", row.get("film_id", ""))
                or row.get("score", "") not in ("", "1", "2", "3", "4", "5")
                or row["review_id"] in seen
            ):
                continue
            seen.add(row["review_id"])
            rows.append(row)
    return rows


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
    for row in valid_reviews(review_file):
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


def expected_metric_in_home(home: Path, day: str, review_file: Path | None = None) -> dict[int, tuple]:
    """expected_metric for a day of the embedded default under UBM_HOME=home: its OLTP database, the
    vendor's file of the day (or `review_file`) and the day's classified partition."""
    from ubm_platform.resources.oltp import embedded_dsn

    return expected_metric(
        embedded_dsn(home / "oltp-pgdata"),
        review_file or home / "landing" / "movie_review" / day / "movie_review.csv",
        home / "lake" / "stage" / "classified_movie_review" / f"insert_date={day}",
        day,
    )
