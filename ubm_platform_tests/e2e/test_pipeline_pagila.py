"""The pipeline, unchanged, against the real Pagila database (../shared/data/pagila) through
UBM_OLTP_DSN, over its whole rental history in one `ubm run`, with real review sentences (SST) in the
vendor files; the metric, the star schema and the three questions compared with computations straight
from Pagila."""

from __future__ import annotations

import csv
import datetime as dt
import random
import subprocess
import uuid
from collections import defaultdict

import psycopg
import pyarrow.dataset as ds
import pytest

from ubm_platform_tests.conftest import run_cli, shared_data, sst_rows, ubm_env
from ubm_platform_tests.expected import expected_metric, review_rows, star_rows, valid_reviews, warehouse_metric
from ubm_platform_tests.expected_questions import (
    Answers,
    Films,
    consecutive_pairs,
    follow_rentals,
    genre_affinity,
    genre_transitions,
    similarity_by_activity,
)

HISTORY = ("2022-02-14", "2022-08-23")  # Pagila's rentals, first day to last
DAYS = ["2022-03-14", "2022-03-15"]  # two busy days of it
REVIEWS_A_DAY = 20


def history_days() -> list[str]:
    first, last = (dt.date.fromisoformat(day) for day in HISTORY)
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


@pytest.fixture(scope="module")
def pagila(pg_server, state_dirs):
    schema, data = shared_data("pagila/pagila-schema.sql"), shared_data("pagila/pagila-data.sql")
    train, dev = shared_data("reviews/sst/stsa.fine.train"), shared_data("reviews/sst/stsa.fine.dev")
    name = f"pagila_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = pg_server.get_uri(database=name)
    subprocess.run(
        [str(pg_server.bin_path / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(schema), "-f", str(data)],
        check=True, capture_output=True, timeout=300,
    )

    home = state_dirs("ubm_pagila")
    rng = random.Random(7)
    training = home / "sst_train.csv"
    with open(training, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review_str", "score"])
        writer.writerows(rng.sample(sst_rows(train), 3000))
    sentences = sst_rows(dev)
    for day in history_days():  # the vendor's files: real sentences, Pagila customers and films, some scored
        path = _vendor_file(home, day)
        path.parent.mkdir(parents=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["review_id", "cid", "film_id", "score", "review_str"])
            for i, (text, score) in enumerate(rng.sample(sentences, REVIEWS_A_DAY)):
                writer.writerow([f"{day}-{i}", rng.randint(1, 599), rng.randint(1, 1000), score if i % 2 else "", text])

    env = ubm_env(home, UBM_OLTP_DSN=dsn, UBM_TRAINING_DATA=str(training))
    result = run_cli(["run", "--from", HISTORY[0], "--to", HISTORY[-1]], env, timeout=1800)
    return home, dsn, result.stdout


def _vendor_file(home, day: str):
    return home / "landing" / "movie_review" / day / "movie_review.csv"


@pytest.mark.parametrize("day", DAYS)
def test_metric_on_pagila_matches_independent_computation(pagila, day):
    home, dsn, _out = pagila
    expected = expected_metric(
        dsn,
        _vendor_file(home, day),
        home / "lake" / "stage" / "classified_movie_review" / f"insert_date={day}",
        day,
    )
    assert warehouse_metric(home / "warehouse.duckdb", day) == expected


@pytest.mark.parametrize("day", DAYS)
def test_one_staged_row_per_pagila_payment(pagila, day):
    """Pagila's films can have several categories: the joins must not multiply payments."""
    home, dsn, _out = pagila
    staged = ds.dataset(str(home / "lake" / "stage" / "user_purchase" / f"insert_date={day}")).to_table()
    with psycopg.connect(dsn) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT payment_id FROM payment WHERE (payment_date AT TIME ZONE 'UTC')::date = %s::date", (day,))]
    assert sorted(staged.column("payment_id").to_pylist()) == sorted(ids)
    assert len(ids) > 50


def test_the_star_schema_holds_pagilas_rows(pagila):
    """Every fact and dimension row over the whole history. Real Pagila's quirks: films in several categories,
    films without actors or copies, payments dated before their rentals, a rental paid twice."""
    home, dsn, _out = pagila
    tables = star_rows(dsn, home / "warehouse.duckdb", *HISTORY)
    for table, (expected, built) in tables.items():
        assert built == expected, table
    assert len(tables["dim_customer"][0]) == 599 and len(tables["bridge_film_category"][0]) > 1000
    assert len(tables["fact_rental"][0]) == 16044  # every rental of Pagila
    expected, built = review_rows({day: _vendor_file(home, day) for day in history_days()}, home / "warehouse.duckdb")
    assert built == expected and len(expected) == REVIEWS_A_DAY * len(history_days())


def _pagila_behaviour(home, dsn) -> tuple[list, list, Films]:
    """Pagila's rentals of the history, the vendor's reviews with the model's sentiment, the films."""
    with psycopg.connect(dsn) as conn:
        rentals = conn.execute(
            "SELECT r.customer_id, r.rental_date, r.rental_id, i.film_id FROM rental r JOIN inventory i USING "
            "(inventory_id) WHERE (r.rental_date AT TIME ZONE 'UTC')::date BETWEEN %s AND %s", HISTORY).fetchall()
        genres, actors = defaultdict(set), defaultdict(set)
        for film, name in conn.execute("SELECT fc.film_id, c.name FROM film_category fc JOIN category c USING (category_id)"):
            genres[film].add(name)
        for film, actor in conn.execute("SELECT film_id, actor_id FROM film_actor"):
            actors[film].add(actor)
    classified = ds.dataset(str(home / "lake" / "stage" / "classified_movie_review"), partitioning="hive").to_table(
        columns=["review_id", "sentiment"]).to_pylist()
    sentiment = {row["review_id"]: row["sentiment"] for row in classified}
    reviews = [(row["review_id"], int(row["cid"]), int(row["film_id"]), dt.date.fromisoformat(day),
                sentiment[row["review_id"]]) for day in history_days() for row in valid_reviews(_vendor_file(home, day))]
    catalogue = Films(genres={f: frozenset(g) for f, g in genres.items()}, actors={f: frozenset(a) for f, a in actors.items()})
    return rentals, reviews, catalogue


def test_the_three_questions_on_pagila_match_a_computation_from_pagila(pagila):
    """Over the whole history: every count and share of the three questions, from Pagila's own tables and
    the vendor's files, in plain Python."""
    home, dsn, _out = pagila
    rentals, reviews, catalogue = _pagila_behaviour(home, dsn)
    pairs = consecutive_pairs(rentals)
    built = Answers(home / "warehouse.duckdb")
    affinity, summary, comparison = (built.one(table) for table in (
        "genre_affinity", "similarity_by_activity_summary", "review_rental_effect_comparison"))
    transitions = {(r["from_category"], r["to_category"]): r["weight"] for r in built.rows("genre_transition")}
    quartiles = {r["activity_quartile"]: r for r in built.rows("similarity_by_activity")}
    effect = {r["sentiment"]: [r["reviews"], r["follow_rentals"], r["same_genre_rentals"]]
              for r in built.rows("review_rental_effect")}

    expected = genre_affinity(pairs, catalogue)
    assert {name: affinity[name] for name in expected} == pytest.approx(expected)
    assert expected["consecutive_pairs"] == 16044 - 599  # every customer's rentals but their first
    assert affinity["lift_ci_low"] < affinity["lift"] < affinity["lift_ci_high"]
    assert transitions == pytest.approx(genre_transitions(pairs, catalogue))

    expected_quartiles, expected_summary = similarity_by_activity(pairs, catalogue)
    for q, (customers, low, high, n_pairs, mean) in expected_quartiles.items():
        row = quartiles[q]
        assert (row["customers"], row["min_rentals"], row["max_rentals"], row["pairs"]) == (customers, low, high, n_pairs)
        assert row["mean_similarity"] == pytest.approx(mean)
    assert summary["customers"] == expected_summary["customers"] == 599
    assert summary["spearman_rho"] == pytest.approx(expected_summary["spearman_rho"])

    expected_effect = follow_rentals(rentals, reviews, catalogue)
    assert effect == expected_effect and sum(n for n, _, _ in effect.values()) == len(reviews)
    share = {s: same / follow for s, (_, follow, same) in expected_effect.items()}
    assert comparison["share_difference"] == pytest.approx(share["positive"] - share["negative"])
    assert comparison["ci_low"] < comparison["share_difference"] < comparison["ci_high"]
