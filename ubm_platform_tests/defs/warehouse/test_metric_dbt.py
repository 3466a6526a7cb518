"""user_behavior_metric through Dagster: the dbt project run by the @dbt_assets asset on a lake of Parquet
partitions, against an independent computation; its dbt tests as blocking checks; write-audit-publish."""

from __future__ import annotations

from decimal import Decimal

import pytest
from dagster import materialize

from ubm_platform.defs.warehouse.assets import user_behavior_metric
from ubm_platform.partitions import DAILY
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.warehouse import DuckDBWarehouseResource, dbt_cli
from ubm_platform_tests.dbt.project import Lake, published

KEYS = ["2022-01-02", "2022-01-03", "2022-01-04"]
CHECKS = {"user_behavior_metric_audit_keys_not_null", "user_behavior_metric_audit_unique_keys",
          "user_behavior_metric_audit_values_in_range", "user_behavior_metric_columns",
          "user_behavior_metric_reconciles"}


@pytest.fixture
def platform(tmp_path):
    lake = Lake(tmp_path / "lake")
    windows = [DAILY.window(k) for k in KEYS]
    for window in windows:
        lake.write(window)
    warehouse = DuckDBWarehouseResource(path=str(tmp_path / "warehouse.duckdb"))

    def run(first: str, last: str | None = None):
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first}
        return materialize([user_behavior_metric], resources={"warehouse": warehouse, "dbt": dbt_cli(),
                                                              "lake": LakeIOManager(root=str(lake.root))},
                           tags=tags, raise_on_error=False)

    return lake, windows, tmp_path / "warehouse.duckdb", run


def test_a_range_is_one_dbt_build_published_with_its_checks(platform):
    lake, windows, path, run = platform
    result = run(KEYS[0], KEYS[1])
    assert result.success
    assert published(path, hourly=False) == lake.expected(windows[:2])
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == CHECKS and all(c.passed for c in checks)
    materializations = result.asset_materializations_for_node("user_behavior_metric")
    assert {m.partition for m in materializations} == set(KEYS[:2])  # one per partition of the range
    rows = {key: len(day) for key, day in zip(KEYS, lake.expected(windows[:2]).values())}
    assert {m.partition: m.metadata["dagster/row_count"].value for m in materializations} == rows


def test_a_failing_check_leaves_the_published_table_as_it_was(platform):
    lake, windows, path, run = platform
    assert run(KEYS[0]).success
    before = published(path, hourly=False)
    purchases = lake.purchases[Lake.partition(windows[0])]
    lake.write(windows[0], purchases=[*purchases, (999, Decimal("-3.00"))])  # a refund, the customer's only purchase
    result = run(KEYS[0])
    assert not result.success
    failed = {c.check_name for c in result.get_asset_check_evaluations() if not c.passed}
    assert failed == {"user_behavior_metric_audit_values_in_range"}
    assert not result.asset_materializations_for_node("user_behavior_metric")
    assert published(path, hourly=False) == before
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "not published: blocking checks failed" in failure.step_failure_data.error.message
