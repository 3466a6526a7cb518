"""The whole pipeline on the embedded default, run as a user runs it (`ubm seed`, `ubm run`,
`dagster asset materialize`), compared with an independent computation."""

from __future__ import annotations

import subprocess
import sys

import pyarrow.dataset as ds
import pytest

from ubm_platform.resources.oltp import embedded_dsn
from ubm_platform_tests.conftest import PROJECT_ROOT, run_cli, ubm_env
from ubm_platform_tests.expected import expected_metric, warehouse_metric

DAYS = ["2022-01-02", "2022-01-03"]
DAILY_ASSETS = "user_purchase_staging,movie_review_raw,classified_movie_review,user_behavior_metric"


@pytest.fixture(scope="module")
def platform(state_dirs):
    home = state_dirs("ubm_home")
    env = ubm_env(home)
    run_cli(["seed", "--from", "2022-01-01", "--to", "2022-01-08", "--scale", "1"], env)
    # A week in one run: its scored reviews are what the first sentiment model learns from.
    result = run_cli(["run", "--from", "2022-01-01", "--to", "2022-01-05"], env)
    return home, env, result.stdout


def _expected(home, day):
    return expected_metric(
        embedded_dsn(home / "oltp-pgdata"),
        home / "landing" / "movie_review" / day / "movie_review.csv",
        home / "lake" / "stage" / "classified_movie_review" / f"insert_date={day}",
        day,
    )


@pytest.mark.parametrize("day", DAYS)
def test_metric_matches_independent_computation(platform, day):
    home, _env, _out = platform
    expected = _expected(home, day)
    actual = warehouse_metric(home / "warehouse.duckdb", day)
    assert len(expected) > 20, "the seeded day has activity"
    assert actual == expected


def test_run_reports_progress_per_day_and_asset(platform):
    _home, _env, out = platform
    for day in DAYS:
        for asset in DAILY_ASSETS.split(","):
            assert any(line.split()[:2] == [day, asset] for line in out.splitlines()), (day, asset, out)


def test_rerunning_a_partition_replaces_it(platform):
    home, env, _out = platform
    day = DAYS[-1]
    staged = home / "lake" / "stage" / "user_purchase" / f"insert_date={day}"
    before_rows = warehouse_metric(home / "warehouse.duckdb", day)
    before_stage = ds.dataset(str(staged)).to_table().sort_by("payment_id")
    run_cli(["run", "--from", day, "--to", day], env)
    assert warehouse_metric(home / "warehouse.duckdb", day) == before_rows
    assert ds.dataset(str(staged)).to_table().sort_by("payment_id").equals(before_stage)
    assert len(list(staged.glob("*.parquet"))) == 1


def test_plain_dagster_cli_backfills_a_partition_range_in_one_run(platform):
    home, env, _out = platform
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "ubm_platform.definitions",
         "--select", DAILY_ASSETS, "--partition-range", "2022-01-06...2022-01-07"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for day in ("2022-01-06", "2022-01-07"):
        assert warehouse_metric(home / "warehouse.duckdb", day) == _expected(home, day)
        assert (home / "lake" / "stage" / "user_purchase" / f"insert_date={day}" / "part-00000.parquet").exists()


def test_missing_vendor_file_fails_the_run_and_names_the_path(platform):
    home, env, _out = platform
    result = run_cli(["run", "--from", "2022-01-09", "--to", "2022-01-09"], env, check=False)
    assert result.returncode != 0
    expected_path = home / "landing" / "movie_review" / "2022-01-09" / "movie_review.csv"
    assert str(expected_path) in result.stdout
