"""`dg`, Dagster's project CLI, drives the platform: definitions found in ubm_platform/defs/, and a launch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from ubm_platform_tests.conftest import PROJECT_ROOT, ubm_env
from ubm_platform_tests.ops.conftest import DAY, REVIEWS, write_vendor_file
from ubm_platform_tests.test_definitions import ASSETS

DG = Path(sys.executable).parent / "dg"
JOBS = {"daily_pipeline_job", "sentiment_model_job"}
SCHEDULES = {"daily_pipeline_job_schedule"}
SENSORS = {"vendor_file_sensor", "alert_on_run_failure", "alert_on_failed_checks", "dead_run_sensor"}


def dg(args: list[str], env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(DG), *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"dg {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_dg_check_defs_passes(state_dirs):
    result = dg(["check", "defs"], ubm_env(state_dirs("dg-check")))
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_list_defs_shows_every_asset_check_job_schedule_and_sensor(state_dirs):
    from ubm_platform.defs.movie_review.assets import classified_movie_review, movie_review_raw
    from ubm_platform.defs.pagila.assets import pagila_snapshots, rental_staging
    from ubm_platform.defs.sentiment.assets import sentiment_model
    from ubm_platform.defs.user_purchase.assets import user_purchase_staging
    from ubm_platform.defs.warehouse.assets import star_schema_dimensions, warehouse_partitions

    listed = json.loads(dg(["list", "defs", "--json"], ubm_env(state_dirs("dg-list"))).stdout)
    assert {a["asset_key"] for a in listed["assets"]} == ASSETS
    declared_checks = {f"{key.asset_key.to_user_string()}:{key.name}"
                       for asset in (user_purchase_staging, movie_review_raw, sentiment_model, classified_movie_review,
                                     rental_staging, pagila_snapshots, star_schema_dimensions, warehouse_partitions)
                       for key in asset.check_keys}
    assert {c["key"] for c in listed["asset_checks"]} == declared_checks and len(declared_checks) >= 14
    assert {j["name"] for j in listed["jobs"]} == JOBS
    assert {s["name"] for s in listed["schedules"]} == SCHEDULES
    assert {s["name"] for s in listed["sensors"]} == SENSORS


def test_dg_launch_materializes_a_partition(state_dirs, oltp_dsn):
    home = state_dirs("dg-launch")
    write_vendor_file(home)
    env = ubm_env(home, UBM_OLTP_DSN=oltp_dsn)
    (home / "dagster").mkdir()
    dg(["launch", "--assets", "movie_review_raw", "--partition", DAY], env)
    landed = pq.read_table(home / "lake" / "raw" / "movie_review" / f"insert_date={DAY}")
    assert sorted(zip(landed.column("review_id").to_pylist(), landed.column("cid").to_pylist())) == sorted(
        (review_id, cid) for review_id, cid, _ in REVIEWS)
