"""The whole pipeline with hourly partitions (UBM_PARTITION=hourly), run as a user runs it, compared
with an independent computation hour by hour."""

from __future__ import annotations


import duckdb
import psycopg
import pytest

from ubm_platform.resources.oltp import embedded_dsn
from ubm_platform_tests.conftest import install_model, run_cli, ubm_env
from ubm_platform_tests.expected import expected_metric, valid_reviews, warehouse_metric

DAYS = ["2022-01-01", "2022-01-02"]


@pytest.fixture(scope="module")
def hourly_platform(state_dirs, trained_model):
    home = state_dirs("ubm_home_hourly")
    env = ubm_env(home, UBM_PARTITION="hourly")
    run_cli(["seed", "--from", DAYS[0], "--to", DAYS[-1], "--scale", "4"], env)
    install_model(home, trained_model)  # training is the first launch's subject (test_pipeline_embedded.py)
    result = run_cli(["run", "--from", DAYS[0], "--to", DAYS[-1]], env)
    return home, env, result.stdout


def _expected(home, day: str, hour: int):
    return expected_metric(
        embedded_dsn(home / "oltp-pgdata"),
        home / "landing" / "movie_review" / day / f"{hour:02d}" / "movie_review.csv",
        home / "lake" / "stage" / "classified_movie_review" / f"insert_date={day}" / f"insert_hour={hour:02d}",
        day,
        hour,
    )


def test_every_hour_matches_an_independent_computation(hourly_platform):
    home, _env, _out = hourly_platform
    active_hours = 0
    for day in DAYS:
        for hour in range(24):
            expected = _expected(home, day, hour)
            assert warehouse_metric(home / "warehouse.duckdb", day, hour) == expected, (day, hour)
            active_hours += bool(expected)
    assert active_hours >= 24, "the seeded days have activity in many hours"


def test_hours_add_up_to_the_days_nothing_lost_at_hour_boundaries(hourly_platform):
    home, _env, _out = hourly_platform
    with psycopg.connect(embedded_dsn(home / "oltp-pgdata")) as conn:
        payments = conn.execute(
            "SELECT count(*), sum(amount) FROM payment WHERE (payment_date AT TIME ZONE 'UTC')::date BETWEEN %s AND %s",
            (DAYS[0], DAYS[-1])).fetchone()
    reviews = 0
    for folder in (home / "landing" / "movie_review").glob("*/*"):
        reviews += len(valid_reviews(folder / "movie_review.csv"))
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        metric = conn.execute(
            "SELECT sum(purchase_count), sum(amount_spent), sum(review_count), count(DISTINCT (insert_date, insert_hour)) "
            "FROM user_behavior_metric").fetchone()
    assert metric[:3] == (payments[0], payments[1], reviews) and payments[0] > 100
    assert metric[3] <= 48


def test_the_lake_is_laid_out_by_date_and_hour(hourly_platform):
    home, _env, _out = hourly_platform
    for dataset in ("stage/user_purchase", "raw/movie_review", "stage/classified_movie_review"):
        hours = sorted(p.relative_to(home / "lake" / dataset).as_posix()
                       for p in (home / "lake" / dataset).glob("insert_date=*/insert_hour=*"))
        assert hours == [f"insert_date={d}/insert_hour={h:02d}" for d in DAYS for h in range(24)], dataset


def test_show_prints_the_days_totals(hourly_platform):
    home, env, _out = hourly_platform
    out = run_cli(["show", "--from", DAYS[0], "--to", DAYS[0], "--limit", "3"], env).stdout
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT count(*) FROM user_behavior_metric WHERE insert_date = ?::DATE", [DAYS[0]]).fetchone()
    assert f"({rows[0]} rows of user_behavior_metric from {DAYS[0]} to {DAYS[0]}, first 3 shown)" in out
    assert "insert_hour" in out


def test_run_reports_progress_per_hour_and_asset(hourly_platform):
    _home, _env, out = hourly_platform
    words = [line.split()[:2] for line in out.splitlines()]
    for key in ("2022-01-01-00:00", "2022-01-02-23:00"):
        for asset in ("user_purchase_staging", "movie_review_raw", "classified_movie_review", "user_behavior_metric"):
            assert [key, asset] in words, (key, asset)
