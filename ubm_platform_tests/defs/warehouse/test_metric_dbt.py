"""The warehouse through Dagster: the dbt project run by the @dbt_assets assets (the star schema's dimensions,
then the facts and user_behavior_metric of a window) on a lake of Parquet partitions, against an independent
computation; the dbt tests as checks, blocking for keys; the metric's write-audit-publish."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetKey, materialize

from ubm_platform.defs.warehouse.assets import star_schema_dimensions, warehouse_partitions
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

    def run(first: str, last: str | None = None, *more_assets, config: dict | None = None):
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first}
        return materialize([star_schema_dimensions, warehouse_partitions, *more_assets],
                           resources={"warehouse": warehouse, "dbt": dbt_cli(), "lake": LakeIOManager(root=str(lake.root))},
                           tags=tags, raise_on_error=False,
                           run_config={"ops": {"analyst_marts": {"config": config}}} if config else None)

    return lake, windows, tmp_path / "warehouse.duckdb", run


def test_a_range_is_one_dbt_build_published_with_its_checks(platform):
    lake, windows, path, run = platform
    result = run(KEYS[0], KEYS[1])
    assert result.success
    assert published(path, hourly=False) == lake.expected(windows[:2])
    checks = result.get_asset_check_evaluations()
    assert CHECKS == {c.check_name for c in checks if c.asset_key == METRIC} and all(c.passed for c in checks)
    assert {c.asset_key.to_user_string() for c in checks} >= {"dim_customer", "dim_film", "fact_payment", "fact_review"}
    materializations = _materializations(result, METRIC)
    assert {m.partition for m in materializations} == set(KEYS[:2])  # one per partition of the range
    rows = {key: len(day) for key, day in zip(KEYS, lake.expected(windows[:2]).values())}
    assert {m.partition: m.metadata["dagster/row_count"].value for m in materializations} == rows
    payments = {key: len(lake.purchases[Lake.partition(w)]) for key, w in zip(KEYS, windows[:2])}
    assert {m.partition: m.metadata["dagster/row_count"].value
            for m in _materializations(result, AssetKey("fact_payment"))} == payments
    assert [m.partition for m in _materializations(result, AssetKey("dim_customer"))] == [None]


METRIC = AssetKey("user_behavior_metric")


def _materializations(result, key: AssetKey):
    return [m for m in result.get_asset_materialization_events() if m.asset_key == key
            for m in [m.step_materialization_data.materialization]]


def test_a_failing_check_leaves_the_published_table_as_it_was(platform):
    lake, windows, path, run = platform
    assert run(KEYS[0]).success
    before = published(path, hourly=False)
    purchases = lake.purchases[Lake.partition(windows[0])]
    lake.write(windows[0], purchases=[*purchases, (999, Decimal("-3.00"))])  # a refund, the customer's only purchase
    result = run(KEYS[0])
    assert not result.success
    failed = {c.check_name: c.severity for c in result.get_asset_check_evaluations() if not c.passed}
    # the refund's customer is unknown to dim_customer: a warning (orphans counted), not a block
    assert failed == {"user_behavior_metric_audit_values_in_range": AssetCheckSeverity.ERROR,
                      "fact_payment_customer_id_found_in_dim_customer": AssetCheckSeverity.WARN,
                      "fact_rental_customer_id_found_in_dim_customer": AssetCheckSeverity.WARN}
    assert not _materializations(result, METRIC)
    assert published(path, hourly=False) == before
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "not published: blocking checks failed" in failure.step_failure_data.error.message


def test_the_questions_are_built_after_the_facts_over_the_window_of_their_run_config(platform):
    """analyst_marts through Dagster, in the run that builds the facts: its run config's window reaches
    dbt (counted here from the rentals the lake holds: a customer's rentals in order, each with the next)."""
    from ubm_platform.defs.warehouse.assets import analyst_marts

    lake, windows, path, run = platform
    result = run(KEYS[0], KEYS[-1], analyst_marts, config={"question_from": KEYS[1]})
    assert result.success
    rentals = Counter(customer for w in windows[1:] for _, customer, _ in lake.rentals[Lake.partition(w)])
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT consecutive_pairs FROM genre_affinity").fetchone()[0] == sum(
            n - 1 for n in rentals.values())


def test_the_metric_alone_is_built_from_the_lake_without_the_facts(platform):
    """Selected without fact_payment and fact_review (as a user may), the metric is built and published;
    its reconciliation with the facts, which are not there, is left out rather than failed."""
    lake, windows, path, _run = platform
    result = materialize([warehouse_partitions], selection=[METRIC], partition_key=KEYS[0],
                         resources={"warehouse": DuckDBWarehouseResource(path=str(path)), "dbt": dbt_cli(),
                                    "lake": LakeIOManager(root=str(lake.root))})
    assert result.success
    assert published(path, hourly=False) == lake.expected(windows[:1])
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert set(checks) == CHECKS - {"user_behavior_metric_reconciles"} and all(checks.values())
