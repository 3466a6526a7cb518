"""The pipeline, unchanged, against the real Pagila database (../shared/data/pagila) through
UBM_OLTP_DSN, with real review sentences (SST) in the vendor files."""

from __future__ import annotations

import csv
import random
import subprocess
import uuid

import psycopg
import pyarrow.dataset as ds
import pytest

from ubm_platform_tests.conftest import run_cli, shared_data, sst_rows, ubm_env
from ubm_platform_tests.expected import expected_metric, review_rows, star_rows, warehouse_metric

DAYS = ["2022-03-14", "2022-03-15"]  # two busy days of Pagila's history


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
    for day in DAYS:  # the vendor's files: real sentences, Pagila customers, a score on some rows
        path = home / "landing" / "movie_review" / day / "movie_review.csv"
        path.parent.mkdir(parents=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["review_id", "cid", "score", "review_str"])
            for i, (text, score) in enumerate(rng.sample(sentences, 60)):
                writer.writerow([f"{day}-{i}", rng.randint(1, 599), score if i % 2 else "", text])

    env = ubm_env(home, UBM_OLTP_DSN=dsn, UBM_TRAINING_DATA=str(training))
    result = run_cli(["run", "--from", DAYS[0], "--to", DAYS[-1]], env)
    return home, dsn, result.stdout


@pytest.mark.parametrize("day", DAYS)
def test_metric_on_pagila_matches_independent_computation(pagila, day):
    home, dsn, _out = pagila
    expected = expected_metric(
        dsn,
        home / "landing" / "movie_review" / day / "movie_review.csv",
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
    """Real Pagila's quirks: films in several categories, films without actors or copies, payments dated
    before their rentals, a rental paid twice."""
    home, dsn, _out = pagila
    tables = star_rows(dsn, home / "warehouse.duckdb", DAYS[0], DAYS[-1])
    for table, (expected, built) in tables.items():
        assert built == expected, table
    assert len(tables["dim_customer"][0]) == 599 and len(tables["bridge_film_category"][0]) > 1000
    expected, built = review_rows({day: home / "landing" / "movie_review" / day / "movie_review.csv" for day in DAYS},
                                  home / "warehouse.duckdb")
    assert built == expected and len(expected) == 120
