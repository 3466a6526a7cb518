"""The DuckDB warehouse resource over real Parquet partitions: the lake's `spectrum` views, its queries and
the environment it gives the dbt project (the metric itself: ubm_platform_tests/dbt/)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ubm_platform.resources.warehouse import DuckDBWarehouseResource, open_duckdb
from ubm_platform.settings import SettingsError

DAYS = ("2022-01-02", "2022-01-03")


@pytest.fixture
def warehouse(tmp_path):
    rng = random.Random(3)
    lake = tmp_path / "lake"
    amounts = {}
    for day in DAYS:
        folder = lake / "stage/user_purchase" / f"insert_date={day}"
        folder.mkdir(parents=True)
        amounts[day] = [Decimal(rng.randint(0, 1200)) / 100 for _ in range(50)]
        pq.write_table(pa.table({"payment_id": pa.array(range(50), pa.int64()),
                                 "amount": pa.array(amounts[day], pa.decimal128(18, 5))}), folder / "part-00000.parquet")
    resource = DuckDBWarehouseResource(path=str(tmp_path / "wh.duckdb"))
    return resource, amounts, str(lake / "stage/user_purchase")


TOTALS_SQL = "SELECT insert_date::VARCHAR, sum(amount) FROM spectrum.user_purchase_staging GROUP BY 1"


def test_a_registered_dataset_is_a_spectrum_view_over_every_partition(warehouse):
    resource, amounts, location = warehouse
    resource.register_partition("user_purchase_staging", location, DAYS[0])
    with resource.connect(read_only=True) as conn:
        totals = dict(conn.execute(TOTALS_SQL).fetchall())
    assert totals == {day: sum(amounts[day]) for day in DAYS}


def test_the_warehouse_and_its_lake_moved_elsewhere_still_read_the_lake(warehouse, tmp_path):
    resource, amounts, location = warehouse
    resource.register_partition("user_purchase_staging", location, DAYS[0])
    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    tmp_path.rename(moved)
    with open_duckdb(moved / "wh.duckdb", moved, read_only=True) as conn:
        (view,) = conn.execute("SELECT sql FROM duckdb_views() WHERE schema_name = 'spectrum'").fetchone()
        totals = dict(conn.execute(TOTALS_SQL).fetchall())
    assert str(tmp_path) not in view and "'lake/stage/user_purchase/" in view
    assert totals == {day: sum(amounts[day]) for day in DAYS}


def test_a_published_copy_never_waits_for_the_build_and_a_reader_keeps_what_it_opened(tmp_path):
    build, published = tmp_path / "build" / "warehouse.duckdb", tmp_path / "warehouse.duckdb"
    resource = DuckDBWarehouseResource(path=str(build), published_path=str(published))
    with resource.connect() as conn:
        conn.execute("CREATE TABLE metric AS SELECT 1 AS day")
    resource.publish()
    reader = duckdb.connect(str(published), read_only=True)  # an analyst's session, left open
    with resource.connect() as conn:  # the next build writes while it is open
        conn.execute("INSERT INTO metric VALUES (2)")
        with duckdb.connect(str(published), read_only=True) as during:  # and another opens meanwhile
            assert during.execute("SELECT count(*) FROM metric").fetchone() == (1,)
    resource.publish()
    assert reader.execute("SELECT count(*) FROM metric").fetchone() == (1,)
    reader.close()
    with duckdb.connect(str(published), read_only=True) as after:
        assert after.execute("SELECT list(day ORDER BY day) FROM metric").fetchone() == ([1, 2],)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "warehouse.duckdb"]  # no copy left behind


def test_partition_keys_are_validated_before_sql(warehouse):
    resource, _, location = warehouse
    with pytest.raises(SettingsError):
        resource.register_partition("user_purchase_staging", location, "2022-01-02' OR '1'='1")


def test_ubm_dbt_answers_the_installed_dbt_version_itself_and_is_dbt_for_anything_else():
    launcher, dbt = (Path(sys.executable).with_name(name) for name in ("ubm-dbt", "dbt"))

    def installed(executable: Path) -> str:
        out = subprocess.run([str(executable), "--version"], capture_output=True, text=True, check=True).stdout
        return re.search(r"installed: (\d+\.\d+\.\d+)", out).group(1)

    assert installed(launcher) == installed(dbt)
    usage = subprocess.run([str(launcher), "run", "--help"], capture_output=True, text=True, check=True).stdout
    assert "Usage: dbt run" in usage
