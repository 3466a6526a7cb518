"""The metric SQL in a real DuckDB file over real Parquet partitions, against plain Python."""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ubm_platform.resources.warehouse import DuckDBWarehouseResource

DAY = "2022-01-02"


def _write(root, dataset, day, table):
    folder = root / dataset / f"insert_date={day}"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-00000.parquet")


@pytest.fixture
def warehouse(tmp_path):
    rng = random.Random(3)
    lake = tmp_path / "lake"
    purchases = {"payment_id": [], "customer_id": [], "amount": []}
    reviews = {"cid": [], "review_id": [], "positive_review": []}
    for day in (DAY, "2022-01-03"):
        for i in range(300):
            purchases["payment_id"].append(len(purchases["payment_id"]))
            purchases["customer_id"].append(rng.randint(1, 60))
            purchases["amount"].append(Decimal(rng.randint(0, 1200)) / 100)
        for i in range(200):
            reviews["cid"].append(rng.randint(30, 90))  # overlaps the purchasers only partly
            reviews["review_id"].append(f"{day}-{i}")
            reviews["positive_review"].append(rng.random() < 0.4)
        _write(lake, "stage/user_purchase", day, pa.table({
            "payment_id": pa.array(purchases["payment_id"][-300:], pa.int64()),
            "customer_id": pa.array(purchases["customer_id"][-300:], pa.int64()),
            "amount": pa.array(purchases["amount"][-300:], pa.decimal128(18, 5)),
        }))
        _write(lake, "stage/classified_movie_review", day, pa.table({
            "cid": pa.array(reviews["cid"][-200:], pa.int64()),
            "review_id": reviews["review_id"][-200:],
            "positive_review": reviews["positive_review"][-200:],
        }))
    resource = DuckDBWarehouseResource(path=str(tmp_path / "wh.duckdb"), lake_root=str(lake))
    resource.register_partition("user_purchase_staging", "stage/user_purchase", DAY)
    resource.register_partition("classified_movie_review", "stage/classified_movie_review", DAY)
    day_purchases = list(zip(purchases["customer_id"][:300], purchases["amount"][:300]))
    day_reviews = list(zip(reviews["cid"][:200], reviews["positive_review"][:200]))
    return resource, day_purchases, day_reviews


def _independent(purchases, reviews):
    result = defaultdict(lambda: [Decimal(0), 0, 0, 0])
    for customer, amount in purchases:
        result[customer][0] += amount
        result[customer][1] += 1
    for cid, positive in reviews:
        result[cid][2] += positive
        result[cid][3] += 1
    return {c: tuple(v) for c, v in result.items()}


def _rows(resource, day):
    with duckdb.connect(resource.path, read_only=True) as conn:
        rows = conn.execute(
            "SELECT customerid, amount_spent, purchase_count, review_score, review_count "
            "FROM user_behavior_metric WHERE insert_date = ?::DATE", [day]).fetchall()
    return rows


def test_metric_aggregates_each_side_before_joining(warehouse):
    resource, purchases, reviews = warehouse
    replacement = resource.replace_metric_partition(DAY)
    assert replacement.committed and replacement.rows == len(_independent(purchases, reviews))
    rows = _rows(resource, DAY)
    assert {r[0]: tuple(r[1:]) for r in rows} == _independent(purchases, reviews)
    assert len({r[0] for r in rows}) == len(rows)


def test_replacing_a_partition_twice_neither_duplicates_nor_touches_other_days(warehouse):
    resource, purchases, reviews = warehouse
    resource.register_partition("user_purchase_staging", "stage/user_purchase", "2022-01-03")
    resource.replace_metric_partition("2022-01-03")
    other_day = _rows(resource, "2022-01-03")
    resource.replace_metric_partition(DAY)
    first = _rows(resource, DAY)
    resource.replace_metric_partition(DAY)
    assert sorted(_rows(resource, DAY)) == sorted(first)
    assert sorted(_rows(resource, "2022-01-03")) == sorted(other_day)


def test_partition_keys_are_validated_before_sql(warehouse):
    resource, _, _ = warehouse
    with pytest.raises(ValueError):
        resource.replace_metric_partition("2022-01-02' OR '1'='1")


def test_a_refused_replacement_rolls_back_to_the_previous_day(warehouse):
    resource, purchases, reviews = warehouse
    resource.replace_metric_partition(DAY)
    before = sorted(_rows(resource, DAY))
    seen = {}
    refused = resource.replace_metric_partition(DAY, accept=lambda stats, columns: seen.update(stats) or False)
    assert not refused.committed
    assert seen["metric_rows"] == len(before)  # the checks saw the new rows inside the transaction...
    assert sorted(_rows(resource, DAY)) == before  # ...and the table still holds the old ones


def test_check_numbers_reconcile_with_the_staged_data(warehouse):
    from ubm_platform.defs.warehouse.assets import metric_checks

    resource, purchases, reviews = warehouse
    replacement = resource.replace_metric_partition(DAY)
    assert replacement.stats["staged_amount"] == sum(a for _, a in purchases)
    assert replacement.stats["staged_purchases"] == len(purchases)
    assert replacement.stats["classified_reviews"] == len(reviews)
    assert all(check.passed for check in metric_checks(replacement.stats, replacement.columns))


def _independent_from_lake(resource, day):
    purchases = pq.read_table(f"{resource.lake_root}/stage/user_purchase/insert_date={day}")
    reviews = pq.read_table(f"{resource.lake_root}/stage/classified_movie_review/insert_date={day}")
    return _independent(zip(purchases["customer_id"].to_pylist(), purchases["amount"].to_pylist()),
                        zip(reviews["cid"].to_pylist(), reviews["positive_review"].to_pylist()))


def test_a_range_replaces_each_day_in_its_own_transaction(warehouse):
    resource, _, _ = warehouse
    days = [DAY, "2022-01-03"]
    seen = {}
    with resource.metric_range(days) as metric:
        first = metric.replace(DAY)
        refused = metric.replace(days[1], accept=lambda stats, columns: seen.update(stats) or False)
        _, rows = metric.query("warehouse/user_behavior_metric_partition_rows.sql", {"date_from": DAY, "date_to": days[1]})
        assert {r[-1].isoformat() for r in rows} == {DAY}  # the refused day rolled back, the first one committed
        with pytest.raises(ValueError, match="not in this metric range"):
            metric.replace("2022-01-04")
        second = metric.replace(days[1])
    assert first.committed and not refused.committed and second.committed
    assert seen["metric_rows"] == len(_independent_from_lake(resource, days[1]))
    for day, replacement in zip(days, (first, second)):
        expected = _independent_from_lake(resource, day)
        assert {r[0]: tuple(r[1:]) for r in _rows(resource, day)} == expected
        assert replacement.rows == len(expected)
        assert replacement.stats["classified_reviews"] == sum(v[3] for v in expected.values())
