"""The warehouse's dbt project (sql/dbt): built for real against a DuckDB file over Parquet partitions and
compared with an independent computation; compiled offline for Redshift and parsed as Redshift SQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from ubm_platform.partitions import DAILY, HOURLY
from ubm_platform_tests.dbt.project import Lake, column_types, published, run_dbt

# The published table's columns and types, as the hand-written DDL before dbt made them.
COLUMNS = [("customerid", "BIGINT"), ("amount_spent", "DECIMAL(18,5)"), ("purchase_count", "BIGINT"),
           ("review_score", "BIGINT"), ("review_count", "BIGINT"), ("insert_date", "DATE")]
# Three consecutive partitions of each granularity; an hourly range crosses midnight.
KEYS = {"daily": ["2022-01-02", "2022-01-03", "2022-01-04"],
        "hourly": ["2022-01-02-22:00", "2022-01-02-23:00", "2022-01-03-00:00"]}
GRANULARITY = {"daily": DAILY, "hourly": HOURLY}
STAR_TABLES = ["dim_date", "dim_customer", "dim_film", "bridge_film_category", "bridge_film_actor",
               "fact_rental", "fact_payment", "fact_review"]
BLOCKING_TESTS = ["user_behavior_metric_audit_keys_not_null", "user_behavior_metric_audit_unique_keys",
                  "user_behavior_metric_audit_values_in_range", "user_behavior_metric_columns",
                  "user_behavior_metric_reconciles"]


class Warehouse:
    """A lake of three partitions, a DuckDB file and `build(first, last)`: one dbt invocation per window."""

    def __init__(self, tmp: Path, granularity: str):
        self.hourly = granularity == "hourly"
        self.windows = [GRANULARITY[granularity].window(k) for k in KEYS[granularity]]
        self.lake = Lake(tmp / "lake")
        for window in self.windows:
            self.lake.write(window)
        self.path, self.work = tmp / "warehouse.duckdb", tmp
        self.env = {"UBM_WAREHOUSE_PATH": str(self.path), "UBM_LAKE_ROOT": str(self.lake.root),
                    "UBM_PARTITION": granularity}

    def build(self, first: int, last: int | None = None, command: str = "build"):
        return run_dbt([command], self.work, self.env, (self.windows[first], self.windows[last or first]))

    def expected(self, *indexes: int):
        return self.lake.expected(self.windows[i] for i in indexes)

    def published(self):
        return published(self.path, self.hourly)


@pytest.fixture(params=["daily", "hourly"])
def warehouse(request, tmp_path) -> Warehouse:
    return Warehouse(tmp_path, request.param)


def test_a_window_of_partitions_is_one_build_that_matches_an_independent_computation(warehouse):
    run = warehouse.build(0, 1)
    assert run.returncode == 0, run.output
    assert set(run.statuses.values()) <= {"success", "pass"} and set(BLOCKING_TESTS) < set(run.statuses)
    assert warehouse.published() == warehouse.expected(0, 1)  # the partition after the window is not built
    expected_types = COLUMNS + ([("insert_hour", "SMALLINT")] if warehouse.hourly else [])
    assert column_types(warehouse.path) == expected_types
    # Some customers only bought, some only reviewed: both sides of the full outer join are exercised.
    rows = [r for day in warehouse.published().values() for r in day.values()]
    assert any(r[1] == 0 for r in rows) and any(r[3] == 0 for r in rows)


def test_a_rerun_replaces_its_window_only(warehouse):
    assert warehouse.build(0, 2).returncode == 0
    before = warehouse.published()
    # The middle partition is delivered again, without customer 1 (who must then disappear from it) ...
    purchases = [(c, a) for c, a in warehouse.lake.purchases[Lake.partition(warehouse.windows[1])] if c != 1]
    warehouse.lake.write(warehouse.windows[1], purchases=purchases + [(1000, Decimal("5.5"))], reviews=[])
    assert 1 in before[Lake.partition(warehouse.windows[1])]
    run = warehouse.build(1)
    assert run.returncode == 0, run.output
    after = warehouse.published()
    assert after == {**before, **warehouse.expected(1)}  # ... and the other partitions are as they were
    assert 1 not in after[Lake.partition(warehouse.windows[1])]
    # A second run of the same window changes nothing (no duplicates: published() asserts one row per key).
    assert warehouse.build(1).returncode == 0 and warehouse.published() == after


@pytest.mark.parametrize("bad_row, failing_test", [
    ((999, Decimal("-3.00")), "user_behavior_metric_audit_values_in_range"),  # a refund, the only purchase,
    ((None, Decimal("3.00")), "user_behavior_metric_audit_keys_not_null"),
])
def test_a_failing_test_leaves_the_published_table_as_it_was(tmp_path, bad_row, failing_test):
    warehouse = Warehouse(tmp_path, "daily")
    assert warehouse.build(0).returncode == 0
    before = warehouse.published()
    purchases = warehouse.lake.purchases[Lake.partition(warehouse.windows[0])]
    warehouse.lake.write(warehouse.windows[0], purchases=[*purchases, bad_row])
    run = warehouse.build(0)
    assert run.returncode == 1
    assert run.statuses[failing_test] == "fail"
    assert run.statuses["user_behavior_metric"] == "skipped"
    assert warehouse.published() == before
    # The audit table holds the refused rows, where analysts do not read them.
    refused = published(warehouse.path, False, "ubm_audit.user_behavior_metric_audit")
    assert refused != before


def test_the_reconciliation_and_schema_tests_fail_on_a_wrong_metric(tmp_path):
    """The metric's SQL is right, so its reconciliation and column tests are made to see a wrong one."""
    warehouse = Warehouse(tmp_path, "daily")
    assert warehouse.build(0).returncode == 0
    with duckdb.connect(str(warehouse.path)) as conn:
        conn.execute("UPDATE ubm_audit.user_behavior_metric_audit SET amount_spent = amount_spent + 0.01 "
                     "WHERE customerid = (SELECT min(customerid) FROM ubm_audit.user_behavior_metric_audit)")
        conn.execute("ALTER TABLE ubm_audit.user_behavior_metric_audit ALTER purchase_count TYPE DOUBLE")
    run = run_dbt(["test", "--select", "user_behavior_metric_reconciles", "user_behavior_metric_columns"],
                  warehouse.work, warehouse.env, (warehouse.windows[0],))
    assert run.returncode == 1
    assert run.statuses == {"user_behavior_metric_reconciles": "fail", "user_behavior_metric_columns": "fail"}


def test_a_run_needs_a_window_on_partition_boundaries(tmp_path):
    warehouse = Warehouse(tmp_path, "daily")
    no_window = run_dbt(["build"], warehouse.work, warehouse.env)
    assert no_window.returncode != 0 and "give the partition window" in no_window.output
    off_boundary = run_dbt(["build", "--vars", json.dumps({"window_start": "2022-01-02T05:00:00+00:00",
                                                           "window_end": "2022-01-03T00:00:00+00:00"})],
                           warehouse.work, warehouse.env)
    assert off_boundary.returncode != 0 and "not on a partition boundary" in off_boundary.output


@pytest.mark.parametrize("granularity", ["daily", "hourly"])
def test_every_node_compiles_offline_for_redshift_and_parses_as_redshift(tmp_path, granularity):
    secret = "not-a-real-password-5d1f"
    env = {"UBM_DBT_TARGET": "redshift", "UBM_PARTITION": granularity, "UBM_REDSHIFT_HOST": "redshift.invalid",
           "UBM_REDSHIFT_DATABASE": "ubm", "UBM_REDSHIFT_USER": "ubm", "UBM_REDSHIFT_PASSWORD": secret}
    windows = [GRANULARITY[granularity].window(k) for k in KEYS[granularity][:2]]
    # No cache population and no introspection: nothing connects (the host does not resolve).
    run = run_dbt(["compile", "--no-populate-cache", "--no-introspect"], tmp_path, env, tuple(windows))
    assert run.returncode == 0, run.output
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    nodes = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "test", "analysis")}
    assert set(BLOCKING_TESTS) | {"user_behavior_metric", "user_behavior_metric_audit",
                                  "user_behavior_metric_publish", *STAR_TABLES} <= set(nodes)
    parsed = {}
    for name, node in nodes.items():
        statements = [s for s in sqlglot.parse(node["compiled_code"], read="redshift") if s is not None]
        assert statements, name
        parsed[name] = statements
    hourly = granularity == "hourly"
    # The lake is read through the Spectrum external tables, only in the window's partitions.
    audit = parsed["user_behavior_metric_audit"][0]
    assert {(t.db, t.name) for t in audit.find_all(exp.Table) if t.db} == {
        ("spectrum", "user_purchase_staging"), ("spectrum", "classified_movie_review")}
    for name in ("user_behavior_metric_audit", "fact_rental", "fact_payment", "fact_review"):
        assert ("insert_hour >= 22" in nodes[name]["compiled_code"]) is hourly, name
    assert {(t.db, t.name) for t in parsed["dim_film"][0].find_all(exp.Table) if t.db} == {("spectrum", "film_staging")}
    # Publishing is a delete of the window and an insert of the audited rows.
    delete, insert = parsed["user_behavior_metric_publish"]
    assert isinstance(delete, exp.Delete) and isinstance(insert, exp.Insert)
    assert delete.this.name == "user_behavior_metric" and "ubm_audit" in insert.sql()
    assert ({c.name for c in delete.find_all(exp.Column)} == {"insert_date", "insert_hour"}) is hourly
    # The password never reaches dbt's artifacts.
    assert not [p for p in (tmp_path / "target").rglob("*") if p.is_file() and secret in p.read_text(errors="ignore")]

