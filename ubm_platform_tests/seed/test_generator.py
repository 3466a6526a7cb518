"""`ubm seed`: Pagila-sized, deterministic, and its vendor files honour the vendor's contract."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import psycopg
import pytest

from ubm_platform.defs.movie_review.validation import validate_reviews
from ubm_platform.seed.generator import review_file_path, seed
from ubm_platform_tests.expected import valid_reviews

START, END = dt.date(2022, 1, 1), dt.date(2022, 6, 30)
TABLES = ["customer", "film", "category", "film_category", "inventory", "rental", "payment",
          "country", "city", "address", "language", "actor", "film_actor"]


def _checksum(conn, table: str, columns: list[str]) -> str:
    row = " || ':' || ".join(columns)
    return conn.execute(f"SELECT md5(string_agg({row}, ',' ORDER BY {row})) FROM {table}").fetchone()[0]


def _counts(dsn):
    with psycopg.connect(dsn) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        counts["payment_checksum"] = _checksum(conn, "payment", ["payment_id", "customer_id", "amount", "payment_date"])
        # the tables drawn from their own random streams: seeded too
        counts["address_checksum"] = _checksum(conn, "address", ["address_id", "address", "city_id", "phone"])
        counts["film_actor_checksum"] = _checksum(conn, "film_actor", ["film_id", "actor_id"])
        counts["orphan_payments"] = conn.execute(
            "SELECT count(*) FROM payment p LEFT JOIN rental r USING (rental_id) WHERE r.rental_id IS NULL"
        ).fetchone()[0]
        counts["days"] = conn.execute(
            "SELECT count(DISTINCT (payment_date AT TIME ZONE 'UTC')::date) FROM payment").fetchone()[0]
    return counts


@pytest.fixture(scope="module")
def seeded(pg_server, tmp_path_factory):
    dsns = {}
    for label, scale, random_seed in (("a", 1, 42), ("b", 1, 42), ("double", 2, 42)):
        name = f"seed_{label}_{tmp_path_factory.mktemp('x').name}".replace("-", "_").lower()
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        dsn = pg_server.get_uri(database=name)
        landing = tmp_path_factory.mktemp(f"landing_{label}")
        with psycopg.connect(dsn) as conn:
            summary = seed(conn, landing, START, END, scale, random_seed)
        dsns[label] = (dsn, landing, summary)
    return dsns


def test_scale_one_is_about_pagilas_size(seeded):
    counts = _counts(seeded["a"][0])
    assert counts["customer"] == 599 and counts["film"] == 1000 and counts["category"] == 16
    assert 14_000 <= counts["rental"] <= 18_500
    assert counts["rental"] <= counts["payment"] <= counts["rental"] * 1.01
    assert 4_000 <= counts["inventory"] <= 5_200
    assert counts["film_category"] > counts["film"]  # some films in several categories, as in Pagila
    assert counts["orphan_payments"] == 0
    assert counts["days"] >= 180


def _days():
    return [(START + dt.timedelta(days=i)).isoformat() for i in range((END - START).days + 1)]


def test_same_seed_same_data(seeded):
    assert _counts(seeded["a"][0]) == _counts(seeded["b"][0])
    for day in _days():  # the bad rows too
        assert review_file_path(seeded["a"][1], day).read_bytes() == review_file_path(seeded["b"][1], day).read_bytes()


def test_scale_multiplies_customers_and_rentals(seeded):
    one, two = _counts(seeded["a"][0]), _counts(seeded["double"][0])
    assert two["customer"] == 2 * one["customer"]
    assert 1.8 < two["rental"] / one["rental"] < 2.2
    assert two["film"] == one["film"]


def test_vendor_files_follow_the_contract(seeded):
    dsn, landing, _ = seeded["a"]
    with psycopg.connect(dsn) as conn:
        customers = {r[0] for r in conn.execute("SELECT customer_id FROM customer")}
    valid, raw_rows, reasons = [], 0, Counter()
    for day in _days():
        path = review_file_path(landing, day)
        landed = []
        with open(path, "rb") as f:
            report = validate_reviews(f, str(path), day, lambda t: landed.extend(t.to_pylist()), lambda t: None)
        assert report.valid_rows > 10
        assert report.quarantined_rows <= 0.05 * report.raw_rows, f"{day}: over the quarantine_share threshold"
        # The end-to-end tests' independent reading keeps the same rows as the validator.
        assert [(r["review_id"], int(r["cid"])) for r in valid_reviews(path)] == [
            (r["review_id"], r["cid"]) for r in landed]
        valid += landed
        raw_rows += report.raw_rows
        reasons += report.reasons
    assert {r["cid"] for r in valid} <= customers
    scored = sum(r["score"] is not None for r in valid)
    assert 0.3 * len(valid) < scored < 0.9 * len(valid)  # the vendor scores only some rows
    # A realistic share of bad rows (about 1.5%), of every kind the generator makes.
    assert 0.005 * raw_rows < sum(reasons.values()) < 0.025 * raw_rows
    assert len(reasons) == 5, reasons


@pytest.mark.parametrize("label", ["a", "double"])
@pytest.mark.parametrize(("table", "column", "parent", "key"), [
    ("customer", "address_id", "address", "address_id"),
    ("address", "city_id", "city", "city_id"),
    ("city", "country_id", "country", "country_id"),
    ("film", "language_id", "language", "language_id"),
    ("film_actor", "actor_id", "actor", "actor_id"),
    ("film_actor", "film_id", "film", "film_id"),
])
def test_dimension_keys_resolve(seeded, label, table, column, parent, key):
    with psycopg.connect(seeded[label][0]) as conn:
        orphans = conn.execute(
            f"SELECT count(*) FROM {table} t LEFT JOIN {parent} p ON p.{key} = t.{column} WHERE p.{key} IS NULL"
        ).fetchone()[0]
        rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    assert rows > 0 and orphans == 0, f"{orphans} of {rows} {table}.{column} not in {parent}"


def test_dimension_tables_are_pagila_like(seeded):
    dsn, _, summary = seeded["a"]
    counts = _counts(dsn)
    assert counts["country"] >= 20 and counts["city"] == 600 and counts["language"] == 6
    assert counts["address"] == summary.addresses == counts["customer"] + 4  # Pagila's first 4: stores and staff
    assert counts["actor"] == summary.actors == 200
    assert seeded["double"][2].addresses == 2 * counts["customer"] + 4
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(DISTINCT country_id) FROM city").fetchone()[0] == counts["country"]
        distinct_pairs = conn.execute("SELECT count(DISTINCT (actor_id, film_id)) FROM film_actor").fetchone()[0]
        cast = [n for (n,) in conn.execute(
            "SELECT count(fa.actor_id) FROM film f LEFT JOIN film_actor fa USING (film_id) GROUP BY f.film_id")]
    assert distinct_pairs == counts["film_actor"]
    assert len(cast) == counts["film"] and min(cast) == 0 and max(cast) <= 10
    assert 0 < cast.count(0) <= 5  # a few films without actors, as in Pagila
    assert 4 <= sum(cast) / len(cast) <= 7  # Pagila: 5,462 for 1,000 films
