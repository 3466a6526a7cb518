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


def _counts(dsn):
    with psycopg.connect(dsn) as conn:
        tables = ["customer", "film", "category", "film_category", "inventory", "rental", "payment"]
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        counts["payment_checksum"] = conn.execute(
            "SELECT md5(string_agg(payment_id || ':' || customer_id || ':' || amount || ':' || payment_date, ',' "
            "ORDER BY payment_id)) FROM payment").fetchone()[0]
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
            seed(conn, landing, START, END, scale, random_seed)
        dsns[label] = (dsn, landing)
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
    dsn, landing = seeded["a"]
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
