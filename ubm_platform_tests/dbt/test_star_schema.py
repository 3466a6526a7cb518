"""The star schema of the dbt project (sql/dbt/models/star, snapshots/) built for real against DuckDB over a
lake the test writes, compared with what the test wrote; its keys failing a build, its references counting
orphans, and dim_customer's history (type 2) as customers change."""

from __future__ import annotations


import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ubm_platform_tests.dbt.project import Lake, run_dbt
from ubm_platform_tests.dbt.test_dbt_project import Warehouse


def _rows(warehouse: Warehouse, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse.path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize("granularity", ["daily", "hourly"])
def test_facts_and_dimensions_hold_what_the_lake_holds(tmp_path, granularity):
    warehouse = Warehouse(tmp_path, granularity)
    run = warehouse.build(0, 1)
    assert run.returncode == 0, run.output
    assert not {n for n, s in run.statuses.items() if s not in ("success", "pass")}
    built = [Lake.partition(w) for w in warehouse.windows[:2]]  # the third partition is outside the window
    lake = warehouse.lake
    day = {key: w.start.date() for key, w in zip(built, warehouse.windows)}

    assert sorted(_rows(warehouse, "SELECT payment_id, customer_id, amount, payment_date FROM fact_payment")) == sorted(
        (i, c, a, day[key]) for key in built for i, (c, a) in zip(lake.payment_ids[key], lake.purchases[key]))
    assert sorted(_rows(warehouse, "SELECT rental_id, customer_id, film_id, rental_date FROM fact_rental")) == sorted(
        (r, c, f, day[key]) for key in built for r, c, f in lake.rentals[key])
    reviews = _rows(warehouse, "SELECT review_id, customer_id, film_id, positive, review_date FROM fact_review")
    assert sorted(reviews) == sorted((f"{w.key}-{i}", c, 1, p, w.start.date())
                                     for key, w in zip(built, warehouse.windows) for i, (c, p) in enumerate(lake.reviews[key]))

    films = lake.snapshots["film"]
    assert sorted(_rows(warehouse, "SELECT film_id, title, rating FROM dim_film")) == sorted(
        zip(films["film_id"].to_pylist(), films["title"].to_pylist(), films["rating"].to_pylist()))
    categories = lake.snapshots["film_category"]
    assert sorted(_rows(warehouse, "SELECT film_id, category FROM bridge_film_category")) == sorted(
        zip(categories["film_id"].to_pylist(), categories["category"].to_pylist()))
    customers = lake.snapshots["customer"]
    assert sorted(_rows(warehouse, "SELECT customer_id, city, country FROM dim_customer WHERE is_current")) == sorted(
        zip(customers["customer_id"].to_pylist(), customers["city"].to_pylist(), customers["country"].to_pylist()))
    [(days, first, last, weekends)] = _rows(
        warehouse, "SELECT count(*), min(date), max(date), count(*) FILTER (WHERE is_weekend) FROM dim_date")
    assert (first.isoformat(), last.isoformat()) == ("2000-01-01", "2039-12-31")
    assert days == (last - first).days + 1 and weekends == pytest.approx(days * 2 / 7, abs=2)


def test_orphans_are_counted_and_a_duplicate_key_fails_the_build(tmp_path):
    warehouse = Warehouse(tmp_path, "daily")
    window = warehouse.windows[0]
    reviews = warehouse.lake.reviews[Lake.partition(window)]
    warehouse.lake.write(window, reviews=[*reviews, (999, True), (998, False)])  # customers the OLTP does not know
    run = warehouse.build(0)
    assert run.returncode == 0, run.output  # a reference not found is a warning: the data goes on
    assert run.statuses["fact_review_customer_id_found_in_dim_customer"] == "warn"
    assert run.failures["fact_review_customer_id_found_in_dim_customer"] == 2
    assert run.statuses["user_behavior_metric"] == "success"

    # The same payment id twice (one payment extracted twice) is a key failure: nothing downstream is built.
    purchases = warehouse.lake.purchases[Lake.partition(window)]
    warehouse.lake.write(window, purchases=purchases, reviews=reviews)
    warehouse.lake.next_id -= len(purchases)  # the next partition reuses this one's payment ids
    warehouse.lake.write(warehouse.windows[1], purchases=purchases[:3])
    run = warehouse.build(0, 1)
    assert run.returncode == 1
    assert run.statuses["fact_payment_payment_id_unique"] == "fail" and run.failures["fact_payment_payment_id_unique"] == 3
    assert run.statuses["user_behavior_metric_audit"] == "skipped" and run.statuses["user_behavior_metric"] == "skipped"


def _customers_changed(table: pa.Table, changes: dict[int, dict]) -> pa.Table:
    rows = table.to_pylist()
    for row in rows:
        row.update(changes.get(row["customer_id"], {}))
    return pa.Table.from_pylist(rows, schema=table.schema)


def test_a_customer_who_moves_gets_a_new_version_and_the_old_one_is_closed(tmp_path):
    warehouse = Warehouse(tmp_path, "daily")
    dimensions = ["build", "--select", "tag:dimension", "--indirect-selection", "cautious"]
    assert run_dbt(dimensions, warehouse.work, warehouse.env).returncode == 0
    lake = warehouse.lake
    customers = lake.snapshots["customer"]
    lake.write_snapshot("customer", _customers_changed(customers, {
        5: {"address_id": 500, "address": "1 New St", "city": "Elsewhere", "country": "Far"},  # moves
        6: {"store_id": 2 if customers["store_id"][5].as_py() == 1 else 1},  # changes store
        7: {"first_name": "Renamed"},  # not a tracked change: no new version
    }).filter(pc.not_equal(customers["customer_id"], 90)))  # customer 90 is deleted
    assert run_dbt(dimensions, warehouse.work, warehouse.env).returncode == 0
    assert run_dbt(dimensions, warehouse.work, warehouse.env).returncode == 0  # nothing changed: no new version

    versions = {}
    for customer_id, city, store_id, valid_from, valid_to, is_current in _rows(
            warehouse, "SELECT customer_id, city, store_id, valid_from, valid_to, is_current FROM dim_customer "
                       "ORDER BY customer_id, valid_from"):
        versions.setdefault(customer_id, []).append((city, store_id, valid_from, valid_to, is_current))
    assert len(versions) == 90 and sum(len(v) for v in versions.values()) == 92
    old, new = versions[5]
    assert old[0] == customers["city"][4].as_py() and new[0] == "Elsewhere"
    assert old[3] == new[2] and not old[4] and new[4]  # closed when the new one opens
    assert old[2].year == 1900 and new[3].year == 9999
    assert [v[1] for v in versions[6]] == [customers["store_id"][5].as_py(), 3 - customers["store_id"][5].as_py()]
    assert len(versions[7]) == 1 and versions[7][0][4]
    [(_, _, _, closed, current)] = versions[90]
    assert not current and closed.year < 9999  # deleted in the OLTP database: no current version
