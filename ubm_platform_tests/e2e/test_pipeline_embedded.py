"""The whole pipeline on the embedded default, run as a user runs it (`ubm seed`, `ubm run`,
`dagster asset materialize`), compared with an independent computation."""

from __future__ import annotations

import codecs
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
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
    run_cli(["seed", "--from", "2022-01-01", "--to", "2022-01-12", "--scale", "1"], env)
    # A week in one run: its scored reviews are what the first sentiment model learns from.
    result = run_cli(["run", "--from", "2022-01-01", "--to", "2022-01-05"], env)
    return home, env, result.stdout


def _vendor_file(home, day):
    return home / "landing" / "movie_review" / day / "movie_review.csv"


def _expected(home, day, review_file=None):
    return expected_metric(
        embedded_dsn(home / "oltp-pgdata"),
        review_file or _vendor_file(home, day),
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


def test_dg_launch_backfills_a_partition_range_in_one_run(platform):
    home, env, _out = platform
    days = ("2022-01-08", "2022-01-09")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "launch", "--assets", DAILY_ASSETS, "--partition-range", f"{days[0]}...{days[-1]}"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for day in days:
        assert warehouse_metric(home / "warehouse.duckdb", day) == _expected(home, day)


def test_missing_vendor_file_fails_the_run_and_names_the_path(platform):
    home, env, _out = platform
    expected_path = _vendor_file(home, "2022-01-09")
    expected_path.unlink()
    result = run_cli(["run", "--from", "2022-01-09", "--to", "2022-01-09"], env, check=False)
    assert result.returncode != 0
    assert str(expected_path) in result.stdout


HEADER = "review_id,cid,film_id,score,review_str\n"


def _quiet_days(home, tmp_path) -> dict:
    """2022-01-10: the header and no row; 2022-01-11: only rows the validator must quarantine; and for
    each, a file of the reviews that count (none), for the independent computation."""
    _vendor_file(home, "2022-01-10").write_text(HEADER, encoding="utf-8")
    bad_rows = ["r1,abc,1,5,a cid that is not a number", "r2,7,1,5,", "r3,7,1,9,score out of range"]
    _vendor_file(home, "2022-01-11").write_text(HEADER + "\n".join(bad_rows) + "\n", encoding="utf-8")
    no_reviews = tmp_path / "no_reviews.csv"
    no_reviews.write_text(HEADER, encoding="utf-8")
    return {"2022-01-10": (no_reviews, 0), "2022-01-11": (no_reviews, len(bad_rows))}


def _assert_quiet_day(home, day, review_file, quarantined):
    metric = warehouse_metric(home / "warehouse.duckdb", day)
    assert metric == _expected(home, day, review_file)
    assert metric and all(review_count == 0 for *_, review_count in metric.values()), "purchases alone"
    classified = home / "lake" / "stage" / "classified_movie_review" / f"insert_date={day}"
    assert ds.dataset(str(classified)).count_rows() == 0
    quarantine = home / "lake" / "quarantine" / "movie_review" / f"insert_date={day}"
    assert sum(pq.read_metadata(f).num_rows for f in quarantine.glob("*.parquet")) == quarantined


def test_a_run_of_days_without_a_valid_review_builds_the_metric_from_purchases(platform, tmp_path):
    home, env, _out = platform
    quiet = _quiet_days(home, tmp_path)
    run_cli(["run", "--from", "2022-01-10", "--to", "2022-01-11"], env)
    for day, (review_file, quarantined) in quiet.items():
        _assert_quiet_day(home, day, review_file, quarantined)


def test_a_range_mixing_quiet_days_and_a_utf16_day(platform, tmp_path):
    home, env, _out = platform
    quiet = _quiet_days(home, tmp_path)
    # The vendor sends 2022-01-12 in UTF-16 with a byte-order mark: the same reviews as the seeded file.
    seeded = tmp_path / "2022-01-12.csv"
    seeded.write_bytes(_vendor_file(home, "2022-01-12").read_bytes())
    _vendor_file(home, "2022-01-12").write_bytes(
        codecs.BOM_UTF16_LE + seeded.read_text(encoding="utf-8").encode("utf-16-le"))
    run_cli(["run", "--from", "2022-01-10", "--to", "2022-01-12"], env)
    for day, (review_file, quarantined) in quiet.items():
        _assert_quiet_day(home, day, review_file, quarantined)
    full_day = warehouse_metric(home / "warehouse.duckdb", "2022-01-12")
    assert full_day == _expected(home, "2022-01-12", seeded)
    assert sum(review_count for *_, review_count in full_day.values()) > 20
