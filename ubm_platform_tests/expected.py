"""An independent computation of user_behavior_metric and the star schema, for end-to-end tests.

It shares no code with the platform: purchases come straight from PostgreSQL with a different
query (a day is `(payment_date AT TIME ZONE 'UTC')::date`), reviews from the vendor's CSV read
with the csv module and kept by the vendor contract's rules (README, "The vendor feed"), and
sentiment flags from the classified Parquet the Spark job wrote (the model's predictions are the one
input taken as given).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter, defaultdict
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


# -- the star schema, straight from the OLTP database and the vendor's files -----------------------------
# table -> (the OLTP query of its rows, the warehouse query of the same columns); the facts' queries take
# the first and last day. Days are computed here as `(ts AT TIME ZONE 'UTC')::date`, not from partitions.
STAR_ROWS = {
    "fact_rental": (
        "SELECT r.rental_id, r.customer_id, i.film_id, i.store_id, (r.rental_date AT TIME ZONE 'UTC')::date "
        "FROM rental r LEFT JOIN inventory i ON i.inventory_id = r.inventory_id "
        "WHERE (r.rental_date AT TIME ZONE 'UTC')::date BETWEEN %s::date AND %s::date",
        "SELECT rental_id, customer_id, film_id, store_id, rental_date FROM fact_rental "
        "WHERE rental_date BETWEEN ?::DATE AND ?::DATE"),
    "fact_payment": (
        "SELECT payment_id, customer_id, rental_id, amount, (payment_date AT TIME ZONE 'UTC')::date FROM payment "
        "WHERE (payment_date AT TIME ZONE 'UTC')::date BETWEEN %s::date AND %s::date",
        "SELECT payment_id, customer_id, rental_id, amount, payment_date FROM fact_payment "
        "WHERE payment_date BETWEEN ?::DATE AND ?::DATE"),
    "dim_film": (
        "SELECT f.film_id, f.title, trim(l.name), f.rating::text, f.length, f.rental_rate "
        "FROM film f JOIN language l ON l.language_id = f.language_id",
        "SELECT film_id, title, language, rating, length, rental_rate FROM dim_film"),
    "bridge_film_category": (
        "SELECT fc.film_id, c.name FROM film_category fc JOIN category c ON c.category_id = fc.category_id",
        "SELECT film_id, category FROM bridge_film_category"),
    "bridge_film_actor": ("SELECT film_id, actor_id FROM film_actor", "SELECT film_id, actor_id FROM bridge_film_actor"),
    "dim_customer": (
        "SELECT c.customer_id, c.store_id, ci.city, co.country FROM customer c "
        "JOIN address a ON a.address_id = c.address_id JOIN city ci ON ci.city_id = a.city_id "
        "JOIN country co ON co.country_id = ci.country_id",
        "SELECT customer_id, store_id, city, country FROM dim_customer WHERE is_current"),
}


def star_rows(dsn: str, warehouse_file: Path, first_day: str, last_day: str) -> dict[str, tuple[Counter, Counter]]:
    """table -> (its rows from the OLTP database, its rows in the warehouse), as multisets."""
    result = {}
    with psycopg.connect(dsn) as oltp, duckdb.connect(str(warehouse_file), read_only=True) as warehouse:
        for table, (oltp_sql, warehouse_sql) in STAR_ROWS.items():
            days = [first_day, last_day] if table.startswith("fact_") else []
            result[table] = (Counter(tuple(r) for r in oltp.execute(oltp_sql, days)),
                             Counter(tuple(r) for r in warehouse.execute(warehouse_sql, days).fetchall()))
    return result


def review_rows(review_files: dict[str, Path], warehouse_file: Path) -> tuple[Counter, Counter]:
    """fact_review's (review_id, customer_id, film_id, review_date) from the vendor's files of the given days
    (day -> file), and from the warehouse."""
    expected = Counter((row["review_id"], int(row["cid"]), int(row["film_id"]) if row.get("film_id") else None,
                        dt.date.fromisoformat(day))
                       for day, path in review_files.items() for row in valid_reviews(path))
    with duckdb.connect(str(warehouse_file), read_only=True) as conn:
        found = conn.execute("SELECT review_id, customer_id, film_id, review_date FROM fact_review "
                             "WHERE review_date BETWEEN ?::DATE AND ?::DATE", [min(review_files), max(review_files)])
        return expected, Counter(tuple(r) for r in found.fetchall())
